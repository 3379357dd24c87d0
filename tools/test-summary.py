#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print meson's test results as one greppable line: N passed, N failed, N skipped.

Usage: test-summary.py testlog.json [testlog.json ...]   (several logs are added up)
"""
import collections
import json
import sys

counts = collections.Counter()
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                counts[json.loads(line)["result"]] += 1

failed = counts["FAIL"] + counts["TIMEOUT"] + counts["UNEXPECTEDPASS"] + counts["ERROR"]
print(f"{counts['OK'] + counts['EXPECTEDFAIL']} passed, {failed} failed, {counts['SKIP']} skipped")

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# test-pst-write-rss.py - the writer's memory stays bounded however large
# the file (suite slow).
#
#     test-pst-write-rss.py PST-WRITE-SAMPLE
#
# Writes a 10 GiB PST (1280 messages with 8 MiB attachments) and a PST of
# 150,000 small messages in 10 folders, measures each writer's peak RSS
# (getrusage of the child), requires it under 64 MiB, and checks both files
# with pst-write-check.py (CRCs, B-trees, every block referenced, allocation
# maps).  Exits 77 when the temporary directory has less than 14 GiB free.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIMIT_KIB = 64 * 1024


def run_measured(cmd):
    t = time.monotonic()
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(cmd, stdout=null)
        _, status, ru = os.wait4(p.pid, 0)
    return os.waitstatus_to_exitcode(status), ru.ru_maxrss, time.monotonic() - t


def main():
    sample = sys.argv[1]
    tmp_root = tempfile.gettempdir()
    if shutil.disk_usage(tmp_root).free < 14 << 30:
        print("1..0 # SKIP less than 14 GiB free in %s" % tmp_root)
        return 77
    cases = [("huge", "10240", 10 << 30, 1280), ("small", "150000", 0, 150000)]
    failed = 0
    print("1..%d" % len(cases))
    for i, (scenario, arg, min_size, min_messages) in enumerate(cases, 1):
        with tempfile.TemporaryDirectory(prefix="pstw-rss-") as tmp:
            pst = os.path.join(tmp, scenario + ".pst")
            rc, rss, secs = run_measured([sample, scenario, pst, arg])
            size = os.path.getsize(pst) if os.path.exists(pst) else 0
            msg = "%s %s: %d bytes in %.1f s, peak RSS %d KiB" % (scenario, arg, size, secs, rss)
            ok = rc == 0 and rss < LIMIT_KIB and size >= min_size
            if ok:
                r = subprocess.run([sys.executable, os.path.join(HERE, "pst-write-check.py"), pst],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    ok = False
                    msg += "; pst-write-check: " + r.stderr.decode()[-1000:]
                else:
                    stats = json.loads(r.stdout)
                    # Messages are NBT nodes; the store has ~30 more.
                    if stats["nbt_entries"] < min_messages:
                        ok = False
                        msg += "; %d NBT entries" % stats["nbt_entries"]
            print("%s %d - %s" % ("ok" if ok else "not ok", i, msg))
            failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

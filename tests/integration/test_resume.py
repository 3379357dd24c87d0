#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Block-level resume (issue 4, RELIABILITY.md §6 row U1, scaled down): an
ingest with --state is killed with SIGKILL in the middle of staging blocks
(uploads paced by the relay so the kill lands mid-file), then run again with
the same state.  The rerun must finish with every blob byte-identical and
nothing extra, and must not send again the blocks the service acknowledged
before the kill, but for at most the requests in flight (connections x
block size), measured on the wire by the relay."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

BLOCK = 4 * MiB
CONNECTIONS = 4


def put_blocks(log):
    """(blob path, block id) -> request body bytes of Put Blocks answered 201."""
    out = {}
    for r in log:
        if r["op"] == "put_block" and r["status"] == 201:
            bid = [kv for kv in r["query"].split("&") if kv.startswith("blockid=")]
            out[(r["path"], bid[0] if bid else "")] = r["req_bytes"]
    return out


def main():
    with harness.Test("resume") as t:
        src = t.path("share")
        for i in range(3):
            harness.make_fake_pst(os.path.join(src, f"m{i}.pst"), 24 * MiB + i, seed=90 + i)
        c = t.azurite()
        c.create_container("resume")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rate=10 * MiB,
                                   log_path=t.path("proxy.jsonl"))
        port = px.start()
        try:
            url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/resume"
            # One journal for both runs (the harness gives each label its own).
            common = ["--block-size", "4M", "--connections", str(CONNECTIONS),
                      "--state", t.path("journal")]
            run1, _ = t.ingest([src], url, *common, key=azure.AZURITE_KEY, label="killed",
                               state=False, check_rc=None, timeout=60, signal_after=(3.5, 9))
            t.check(run1.after_signal is not None, "the first run was still going when killed")
            time.sleep(0.5)
            first = put_blocks(px.log())
            px.clear_log()
            run2, report = t.ingest([src], url, *common, key=azure.AZURITE_KEY, label="rerun",
                                    state=False, timeout=120)
            second_log = px.log()
        finally:
            px.stop()
        t.check(run2.rc == 0, f"rerun after kill -9: exit 0: {run2.describe()}")
        expected = harness.tree_blobs(src)
        ok = t.verify_blobs(c, "resume", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical, nothing extra")
        t.verify_report(report, expected)

        second = put_blocks(second_log)
        total = sum(os.path.getsize(p) for p in expected.values())
        t.check(first, f"the first run staged blocks before the kill ({len(first)})")
        resent = sum(second[k] for k in second if k in first)
        bound = CONNECTIONS * BLOCK
        t.check(resent <= bound, f"bytes re-sent of blocks acknowledged before the kill: "
                                 f"{resent} <= {bound} (connections x block size)")
        sent2 = sum(r["req_bytes"] for r in second_log if r["op"] in ("put_block", "put_blob"))
        staged1 = sum(first.values())
        t.check(sent2 <= total - staged1 + bound,
                f"the rerun sent {sent2} bytes of {total}, {staged1} were staged before the kill")
        t.check("resuming" in run2.stderr, "the rerun says it resumes")
        print(f"resume: {len(first)} blocks ({staged1} bytes) staged before the kill; the rerun "
              f"sent {sent2} of {total} bytes; re-sent after acknowledgement: {resent} bytes")


main()

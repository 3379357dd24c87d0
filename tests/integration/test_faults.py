#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Network faults through faultproxy.py (RELIABILITY.md §6 row U3, scaled down):
a storm of 503 ServerBusy with Retry-After: 1 (4 on Put Blob, 4 on Put Block),
connections reset in the middle of request bodies, 500 OperationTimedOut, 429,
a truncated answer to a Put Block and to a Put Block List, and a stalled
request.  Every blob must still be byte-identical, every injected fault must
have been retried, and each retry after a 503 must come >= 1 s (Retry-After)
after the 503."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

UPLOADS = ["put_block", "put_blob"]
RULES = [
    {"op": "put_blob", "skip": 4, "count": 4, "action": "status", "status": 503,
     "code": "ServerBusy", "retry_after": 1},
    {"op": "put_block", "skip": 2, "count": 4, "action": "status", "status": 503,
     "code": "ServerBusy", "retry_after": 1},
    {"op": "put_block", "skip": 1, "count": 3, "action": "reset", "after_bytes": MiB},
    {"op": "put_blob", "skip": 2, "count": 2, "action": "reset", "after_bytes": 30000},
    {"op": UPLOADS, "skip": 6, "count": 2, "action": "status", "status": 500,
     "code": "OperationTimedOut"},
    {"op": UPLOADS, "skip": 8, "count": 2, "action": "status", "status": 429,
     "code": "TooManyRequests"},
    {"op": "put_block", "skip": 10, "count": 1, "action": "truncate", "keep": 12},
    {"op": "put_block_list", "skip": 1, "count": 1, "action": "truncate", "keep": 12},
    {"op": "put_blob", "skip": 12, "count": 1, "action": "stall", "seconds": 3},
]


def main():
    with harness.Test("faults") as t:
        cdir, rows = harness.corpus()
        gen = t.path("gen")
        for i in range(3):
            harness.make_fake_pst(os.path.join(gen, f"multi{i}.pst"), 24 * MiB + i, seed=20 + i)
        c = t.azurite()
        c.create_container("faults")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rules=RULES,
                                   log_path=t.path("proxy.jsonl"))
        port = px.start()
        try:
            url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/faults"
            run, report = t.ingest([cdir, gen], url, "--block-size", "4M",
                                   "--connections", "8", key=azure.AZURITE_KEY,
                                   label="ingest", timeout=240)
            fired = [(r.spec["action"], r.spec.get("status"), r.spec["op"], r.fired, r.count)
                     for r in px.rules]
        finally:
            px.stop()
        t.check(run.rc == 0, f"ingest through faults: exit 0: {run.describe()}")
        expected = {r["name"]: os.path.join(cdir, r["name"]) for r in rows}
        expected.update(harness.tree_blobs(gen))
        ok = t.verify_blobs(c, "faults", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical")
        t.verify_report(report, expected)

        for action, status, op, n, count in fired:
            t.check(n == count, f"fault {action} {status or ''} on {op}: fired {n}/{count}")
        log = px.log()
        faulted = [r for r in log if r["fault"] in ("status", "reset", "truncate", "stall")]
        for r in faulted:
            key = (r["method"], r["path"], r["query"])
            later = [x["status"] for x in log if (x["method"], x["path"], x["query"]) == key
                     and x["t0"] > r["t0"] and x["fault"] is None]
            # a commit whose answer was lost may be refused as a duplicate (409 with
            # If-None-Match: *); the blob's bytes are what counts, checked above
            done = (200, 201, 409) if r["op"] == "put_block_list" else (200, 201)
            t.check(any(s in done for s in later),
                    f"{r['fault']} {r['status'] or ''} on {r['op']} {r['path']}: retried "
                    f"until accepted (later answers {later})")
        gaps = faultproxy.retry_gaps(log, (503,))
        t.check(len(gaps) == 8, f"8 answers 503 in the log, got {len(gaps)}")
        short = [(r["path"], None if g is None else round(g, 3)) for r, g in gaps
                 if g is None or g < 0.95]
        t.check(not short, f"each retry after 503 + Retry-After: 1 waited >= 1 s: {short}")
        bad = [(r["op"], r["path"], r["status"]) for r in log
               if r["fault"] is None and r["status"] is not None and r["status"] >= 400
               and not (r["op"] == "put_block_list" and r["status"] == 409)]
        t.check(not bad, f"no error answered by Azurite itself: {bad[:3]}")


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIGTERM ends an ingest promptly (RELIABILITY.md §6 row O3: exit <= 30 s):
while the destination refuses connections, while it accepts requests but
never answers, and in the middle of a healthy upload (requests slowed by the
fault proxy).  The interrupted run exits non-zero, and whatever it committed
is byte-identical to its source: a signal never leaves a torn blob."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

LIMIT = 30
UPLOADS = ["put_block", "put_blob", "put_block_list"]


def interrupted(t, label, srcs, url, *extra, key):
    """Ingest, SIGTERM after 2 s; returns the Run, or None if it outlived LIMIT."""
    try:
        run, _ = t.ingest(srcs, url, *extra, label=label, key=key, check_rc=None,
                          timeout=LIMIT, signal_after=(2, signal.SIGTERM))
    except harness.Failure as e:
        t.check(False, f"{label}: exit within {LIMIT} s of SIGTERM: {e}")
        return None
    t.check(run.after_signal is not None, f"{label}: still running after 2 s (rc {run.rc})")
    if run.after_signal is not None:
        t.check(run.after_signal <= LIMIT, f"{label}: exit {run.after_signal:.1f} s after SIGTERM")
    t.check(run.rc != 0, f"{label}: an interrupted run does not exit 0: {run.describe()}")
    return run


def main():
    with harness.Test("signals") as t:
        cdir, rows = harness.corpus()
        src = t.path("share")
        for i in range(3):
            harness.make_fake_pst(os.path.join(src, f"multi{i}.pst"), 12 * MiB + i, seed=40 + i)
        key = azure.AZURITE_KEY

        nothing = harness.free_port()
        interrupted(t, "refused", [src], f"http://127.0.0.1:{nothing}/devstoreaccount1/c-refused",
                    key=key)

        c = t.azurite()
        c.create_container("stalled")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, log_path=t.path("stalled.jsonl"),
                                   rules=[{"op": UPLOADS, "count": 10**6, "action": "stall",
                                           "seconds": 600}])
        port = px.start()
        try:
            interrupted(t, "stalled", [src],
                        f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/stalled", key=key)
        finally:
            px.stop()

        c.create_container("midway")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, log_path=t.path("midway.jsonl"),
                                   rules=[{"op": UPLOADS, "count": 10**6, "action": "delay",
                                           "seconds": 0.4}])
        port = px.start()
        try:
            interrupted(t, "midway", [cdir, src],
                        f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/midway",
                        "--connections", "2", key=key)
        finally:
            px.stop()
        sources = {r["name"]: os.path.join(cdir, r["name"]) for r in rows}
        sources.update(harness.tree_blobs(src))
        listing = c.list_blobs("midway")
        t.check(0 < len(listing) < len(sources),
                f"midway: interrupted part-way ({len(listing)} of {len(sources)} blobs)")
        t.check(set(listing) <= set(sources), f"midway: only known blobs: {sorted(listing)[:5]}")
        t.verify_blobs(c, "midway", {b: sources[b] for b in listing if b in sources},
                       exact=False)


main()

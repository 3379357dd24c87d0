#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A source file appended to or truncated while it is ingested (issue 4 item
4f, RELIABILITY.md §6 row F1): the run must not commit either file (a torn
copy is never committed) and must say why; the rerun with the same journal
uploads the new content, every blob byte-identical to the file as it is at
the end, nothing extra, and the file that did not change is not sent again.
Each file changes as its first block reaches the relay, so the reader is
inside it; the relay log proves neither blob was committed by the first run."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402


def main():
    with harness.Test("source-change") as t:
        src = t.path("share")
        grow, shrink, same = (os.path.join(src, n) for n in ("grow.pst", "shrink.pst", "same.pst"))
        harness.make_fake_pst(grow, 40 * MiB, seed=150)
        harness.make_fake_pst(shrink, 40 * MiB + 5, seed=151)
        harness.make_fake_pst(same, 5 * MiB, seed=152)
        c = t.azurite()
        c.create_container("change")
        px = faultproxy.FaultProxy("127.0.0.1", c.port)
        port = px.start()
        url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/change"
        common = ["--block-size", "4M", "--memory", "16M", "--connections", "2",
                  "--state", t.path("journal")]

        def mutate():
            # Each file changes when its first block reaches the relay: the
            # reader is then at most --memory (16 MiB) into its 40 MiB.
            todo = {"grow.pst", "shrink.pst"}
            end = time.monotonic() + 60
            while todo and time.monotonic() < end:
                seen = {r["path"].rsplit("/", 1)[-1] for r in px.log() if r["op"] == "put_block"}
                if "grow.pst" in todo & seen:
                    with open(grow, "ab") as f:
                        f.write(os.urandom(MiB + 7))
                    todo.discard("grow.pst")
                if "shrink.pst" in todo & seen:
                    os.truncate(shrink, 13 * MiB + 3)
                    todo.discard("shrink.pst")
                time.sleep(0.02)

        try:
            m = threading.Thread(target=mutate)
            m.start()
            run1, report1 = t.ingest([src], url, *common, "--cap", "8MB/s", key=azure.AZURITE_KEY,
                                     label="changed", state=False, check_rc=None, timeout=120)
            m.join()
            first = px.log()
            px.clear_log()
            run2, report2 = t.ingest([src], url, *common, key=azure.AZURITE_KEY, label="rerun",
                                     state=False, timeout=120)
            second = px.log()
        finally:
            px.stop()

        t.check(run1.rc == 1, f"the run with changed sources exits 1: {run1.describe()}")
        t.check("source changed while it was read" in run1.stdout + run1.stderr,
                "the appended file is reported as changed")
        t.check("source shrank while being read" in run1.stdout + run1.stderr,
                "the truncated file is reported as shrunk")
        committed1 = {r["path"].rsplit("/", 1)[-1] for r in first
                      if r["op"] in ("put_block_list", "put_blob") and r["status"] == 201}
        t.check(committed1 == {"same.pst"},
                f"the first run committed only the unchanged file: {sorted(committed1)}")
        t.check(run2.rc == 0, f"the rerun exits 0: {run2.describe()}")
        sent2 = {r["path"].rsplit("/", 1)[-1] for r in second
                 if r["op"] in ("put_block", "put_blob", "put_block_list")}
        t.check(sent2 == {"grow.pst", "shrink.pst"},
                f"the rerun sent the two changed files only: {sorted(sent2)}")
        t.check(os.path.getsize(grow) == 41 * MiB + 7 and os.path.getsize(shrink) == 13 * MiB + 3,
                "the files changed as planned")
        expected = harness.tree_blobs(src)
        ok = t.verify_blobs(c, "change", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical to the final files, "
                                     f"nothing extra")
        t.verify_report(report2, expected, statuses={"grow.pst": "uploaded",
                                                      "shrink.pst": "uploaded",
                                                      "same.pst": "unchanged"})


main()

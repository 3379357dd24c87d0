#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""413 fallback: the fault proxy answers 413 RequestBodyTooLarge to every Put
Block and Put Blob whose body exceeds 4 MiB (as a service running at an old
SAS version would).  pstream must re-read such files with 4 MiB blocks and
finish: every blob byte-identical, every accepted upload request <= 4 MiB,
the 413s never retried as they were, and the files planned after the first
413 planned with 4 MiB blocks from the start."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

LIMIT = 4 * MiB
RULES = [{"op": ["put_block", "put_blob"], "min_bytes": LIMIT + 1, "count": 10000,
          "action": "status", "status": 413, "code": "RequestBodyTooLarge"}]


def main():
    with harness.Test("413") as t:
        gen = t.path("gen")
        sizes = {"a-big.pst": 20 * MiB + 5, "b-putblob.pst": 6 * MiB, "c-small.pst": 300000,
                 "d-later.pst": 17 * MiB}
        for i, (name, size) in enumerate(sorted(sizes.items())):
            harness.make_fake_pst(os.path.join(gen, name), size, seed=40 + i)
        c = t.azurite()
        c.create_container("toolarge")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rules=RULES,
                                   log_path=t.path("proxy.jsonl"))
        port = px.start()
        try:
            url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/toolarge"
            # 8 MiB blocks and Put Blobs up to 8 MiB: the service refuses them.
            run, report = t.ingest([gen], url, "--block-size", "8M", "--connections", "4",
                                   key=azure.AZURITE_KEY, label="ingest", timeout=240)
        finally:
            px.stop()
        t.check(run.rc == 0, f"ingest after 413s: exit 0: {run.describe()}")
        expected = harness.tree_blobs(gen)
        ok = t.verify_blobs(c, "toolarge", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical")
        t.verify_report(report, expected)

        log = px.log()
        refused = [r for r in log if r["status"] == 413]
        t.check(refused, "the proxy refused at least one request with 413")
        accepted = [r for r in log if r["op"] in ("put_block", "put_blob")
                    and r["status"] == 201]
        big = [(r["path"], r["req_bytes"]) for r in accepted if r["req_bytes"] > LIMIT]
        t.check(not big, f"every accepted upload is <= 4 MiB: {big[:3]}")
        t.check("413" in run.stderr and "4096 KiB blocks" in run.stderr,
                "the fallback is reported on stderr")
        # A file planned after the fallback sends no refused request: at most
        # the files in flight at the first 413 see one.
        refused_paths = {r["path"] for r in refused}
        t.check(len(refused_paths) <= 3,
                f"after the first 413, later files use 4 MiB from the start: {sorted(refused_paths)}")


main()

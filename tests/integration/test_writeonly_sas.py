#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A write-only service SAS (sp=cw), like the PST Import Service's: reading is
forbidden (the oracle checks that GET/HEAD answer 403), yet pstream uploads
everything, and the proxy's request log shows it never tried a GET or HEAD
(no length check, no Get Block List) and never got a 4xx."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402


def main():
    with harness.Test("writeonly_sas") as t:
        cdir, rows = harness.corpus()
        extractor = harness.extractor_files()
        gen = t.path("gen")
        harness.make_fake_pst(os.path.join(gen, "a/multi.pst"), 13 * MiB + 3, seed=11)
        c = t.azurite()
        c.create_container("ingestiondata")
        sas = c.service_sas("ingestiondata", "cw")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, log_path=t.path("proxy.jsonl"))
        port = px.start()
        try:
            probe = azure.Client("127.0.0.1", port)
            conn = probe.connect()
            conn.request("HEAD", f"/{azure.AZURITE_ACCOUNT}/ingestiondata/x?{sas}")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            t.check(resp.status in (403, 404), f"the cw SAS cannot read (HEAD {resp.status})")
            px.clear_log()
            url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/ingestiondata/batch1?{sas}"
            run, report = t.ingest([cdir, gen, *extractor], url, "--block-size", "4M",
                                   label="ingest")
        finally:
            px.stop()
        t.check(run.rc == 0, f"write-only ingest: exit 0: {run.describe()}")
        expected = {harness.join_blob("batch1", r["name"]): os.path.join(cdir, r["name"])
                    for r in rows}
        expected.update({harness.join_blob("batch1", os.path.basename(p)): p for p in extractor})
        expected.update(harness.tree_blobs(gen, "batch1"))
        ok = t.verify_blobs(c, "ingestiondata", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical")
        t.verify_report(report, expected)
        log = px.log()
        t.check(len(log) >= len(expected), f"the proxy saw pstream's {len(log)} requests")
        reads = [(r["method"], r["path"]) for r in log if r["method"] in ("GET", "HEAD")]
        t.check(not reads, f"no GET/HEAD from pstream: {reads[:5]}")
        denied = [(r["method"], r["path"], r["status"]) for r in log
                  if r["status"] is None or r["status"] >= 400]
        t.check(not denied, f"no request failed: {denied[:5]}")


main()

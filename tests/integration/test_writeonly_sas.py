#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write-only SAS tokens: sp=cw, and one shaped like the PST Import Service's
(sv=2015-04-05, sr=c, no sp: the permissions, create and write, sit in a stored
access policy named by si=).  Reading is forbidden (a HEAD probe gets 403), yet
pstream uploads everything, and the proxy's request log shows it never tried a
GET or HEAD (no length check, no Get Block List) and never got a 4xx."""

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
        c.create_container("import-style")
        c.set_access_policy("import-style", "IngestionSasForAzCopy201601", "cw")
        variants = [
            ("sp=cw", "ingestiondata", c.service_sas("ingestiondata", "cw")),
            ("Import Service style: sv=2015-04-05, si= policy with cw", "import-style",
             c.service_sas("import-style", None, identifier="IngestionSasForAzCopy201601",
                           version="2015-04-05")),
        ]
        px = faultproxy.FaultProxy("127.0.0.1", c.port, log_path=t.path("proxy.jsonl"))
        port = px.start()
        try:
            for what, container, sas in variants:
                base = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/{container}"
                # The probe goes to Azurite itself: through the relay, its log
                # record could land after clear_log() and look like pstream's.
                direct = f"http://127.0.0.1:{c.port}/{azure.AZURITE_ACCOUNT}/{container}"
                probe = azure.sas_request("HEAD", f"{direct}/{rows[0]['name']}?{sas}")
                t.check(probe in (403, 404), f"{what}: the SAS cannot read (HEAD {probe})")
                px.clear_log()
                run, report = t.ingest([cdir, gen, *extractor], f"{base}/batch1?{sas}",
                                       "--block-size", "4M", label=container)
                log = px.log()
                check_run(t, what, c, container, run, report, log, cdir, rows, extractor, gen)
        finally:
            px.stop()


def check_run(t, what, c, container, run, report, log, cdir, rows, extractor, gen):
    t.check(run.rc == 0, f"{what}: exit 0: {run.describe()}")
    expected = {harness.join_blob("batch1", r["name"]): os.path.join(cdir, r["name"])
                for r in rows}
    expected.update({harness.join_blob("batch1", os.path.basename(p)): p for p in extractor})
    expected.update(harness.tree_blobs(gen, "batch1"))
    ok = t.verify_blobs(c, container, expected)
    t.check(ok == len(expected), f"{what}: {ok}/{len(expected)} blobs identical")
    t.verify_report(report, expected)
    t.check(len(log) >= len(expected), f"{what}: the proxy saw pstream's {len(log)} requests")
    reads = [(r["method"], r["path"]) for r in log if r["method"] in ("GET", "HEAD")]
    t.check(not reads, f"{what}: no GET/HEAD from pstream: {reads[:5]}")
    denied = [(r["method"], r["path"], r["status"]) for r in log
              if r["status"] is None or r["status"] >= 400]
    t.check(not denied, f"{what}: no request failed: {denied[:5]}")


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""HTTPS with SAS: Azurite behind a throwaway CA (pstream gets it with
--ca-file); a service SAS (sr=c, sp=racwl, spr=https) and an account SAS each
upload the corpus plus a multi-block file byte for byte.  Without --ca-file the
certificate is unknown, and with a certificate of the trusted CA for another
host name the host check fails: both runs fail and no blob appears."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402


def main():
    with harness.Test("https_sas") as t:
        cdir, rows = harness.corpus()
        gen = t.path("gen")
        harness.make_fake_pst(os.path.join(gen, "multi/block.pst"), 9 * MiB + 7, seed=7)
        harness.make_fake_pst(os.path.join(gen, "small.ost"), 70000, seed=8)
        c = t.azurite(tls=True)
        expected = {r["name"]: os.path.join(cdir, r["name"]) for r in rows}
        expected.update(harness.tree_blobs(gen))

        for container, sas in (("service-sas", None), ("account-sas", None)):
            c.create_container(container)
            if container == "service-sas":
                sas = c.service_sas(container, "racwl", protocol="https")
            else:
                sas = c.account_sas("racwl", protocol="https")
            run, report = t.ingest([cdir, gen], c.container_url(container, sas),
                                   "--block-size", "4M", "--ca-file", c.ca_file, label=container)
            t.check(run.rc == 0, f"{container}: exit 0: {run.describe()}")
            ok = t.verify_blobs(c, container, expected)
            t.check(ok == len(expected), f"{container}: {ok}/{len(expected)} blobs identical")
            t.verify_report(report, expected)

        c.create_container("unknown-ca")
        sas = c.service_sas("unknown-ca", "racwl", protocol="https")
        run, _ = t.ingest([gen], c.container_url("unknown-ca", sas), label="unknown-ca",
                          check_rc=None, timeout=120)
        t.check(run.rc in (1, 3), f"unknown CA: the run fails (1 or 3), rc {run.rc}")
        t.check(c.list_blobs("unknown-ca") == {}, "unknown CA: no blob was written")

        # a certificate from the CA pstream trusts, but for another host name (the
        # oracle's own client skips the host name check to look inside)
        w = t.azurite(tls=True, san="DNS:blob.example.invalid")
        w.create_container("wrong-host")
        sas = w.service_sas("wrong-host", "racwl", protocol="https")
        run, _ = t.ingest([gen], w.container_url("wrong-host", sas), "--ca-file", w.ca_file,
                          label="wrong-host", check_rc=None, timeout=120)
        t.check(run.rc in (1, 3), f"wrong host name: the run fails (1 or 3), rc {run.rc}")
        t.check(w.list_blobs("wrong-host") == {}, "wrong host name: no blob was written")


main()

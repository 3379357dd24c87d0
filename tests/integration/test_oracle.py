#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The oracle itself: azure.py's signing and SAS rules, and every fault of
faultproxy.py, checked against a real Azurite (no pstream involved)."""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402


def sas_url(c, container, blob, sas):
    return f"{c.container_url(container)}/{azure.quote_blob(blob)}?{sas}"


def sas_status(c, method, container, blob, sas):
    """Status of an unsigned GET/HEAD through a SAS URL."""
    return azure.sas_request(method, sas_url(c, container, blob, sas), ca_file=c.ca_file)


def check_auth(t, c):
    c.create_container("oracle")
    payload = os.urandom(70000)
    c.put_blob("oracle", "dir/name with space@x.pst", payload)
    t.check(c.list_blobs("oracle") == {"dir/name with space@x.pst": 70000},
            "Shared Key: list shows the blob put with an escaped name")
    t.check(c.get_blob("oracle", "dir/name with space@x.pst") == payload,
            "Shared Key: download equals upload")
    bad = azure.Client(c.host, c.port, tls=c.tls, ca_file=c.ca_file,
                       key=base64.b64encode(b"x" * 64).decode())
    t.check(bad.request("GET", "oracle", query={"restype": "container", "comp": "list"},
                        expect=None)[0] == 403, "Shared Key with a wrong key: 403")

    rw = c.service_sas("oracle", "racwl")
    wo = c.service_sas("oracle", "cw")
    acct = c.account_sas("racwl")
    for label, sas in (("service racwl", rw), ("service cw", wo), ("account", acct)):
        t.check(azure.sas_put(sas_url(c, "oracle", f"{label}.pst", sas), b"abc",
                              ca_file=c.ca_file) == 201, f"SAS {label}: Put Blob 201")
    t.check(sas_status(c, "GET", "oracle", "service racwl.pst", rw) == 200,
            "SAS racwl: GET 200")
    t.check(sas_status(c, "GET", "oracle", "service cw.pst", wo) == 403,
            "SAS cw (write-only): GET 403")
    t.check(sas_status(c, "HEAD", "oracle", "service cw.pst", wo) == 403,
            "SAS cw (write-only): HEAD 403")
    forged = rw.replace("sig=", "sig=AAAA")
    t.check(azure.sas_put(sas_url(c, "oracle", "forged.pst", forged), b"abc",
                          ca_file=c.ca_file) == 403, "SAS with a forged sig: 403")
    other = c.service_sas("elsewhere", "racwl")
    t.check(azure.sas_put(sas_url(c, "oracle", "other.pst", other), b"abc",
                          ca_file=c.ca_file) == 403, "SAS for another container: 403")
    t.check(azure.sas_signature(rw) and azure.sas_signature(rw) not in
            faultproxy.redact_query(rw), "redact_query drops sig")

    # the PST Import Service's shape: sv=2015-04-05, sr=c, permissions only in a
    # stored access policy (si=) that can create and write, not read
    c.set_access_policy("oracle", "IngestionSasForAzCopy201601", "cw")
    for version in ("2015-04-05", azure.SAS_VERSION):
        sas = c.service_sas("oracle", None, identifier="IngestionSasForAzCopy201601",
                            version=version)
        t.check("sp=" not in sas and "si=" in sas, f"policy SAS {version} has si, no sp")
        t.check(azure.sas_put(sas_url(c, "oracle", f"policy-{version}.pst", sas), b"abc",
                              ca_file=c.ca_file) == 201, f"policy SAS {version}: Put Blob 201")
        t.check(sas_status(c, "GET", "oracle", f"policy-{version}.pst", sas) == 403,
                f"policy SAS {version}: GET 403")


def check_proxy(t, c):
    c.create_container("proxied")
    px = faultproxy.FaultProxy("127.0.0.1", c.port, log_path=t.path("proxy.jsonl"))
    port = px.start()
    try:
        pc = azure.Client("127.0.0.1", port)
        data = os.urandom(300000)
        pc.put_blob("proxied", "pass.pst", data)
        t.check(c.get_blob("proxied", "pass.pst") == data, "pass-through: bytes equal")

        px.set_rules([{"op": "put_blob", "count": 2, "action": "status", "status": 503,
                       "retry_after": 1},
                      {"op": "put_blob", "action": "status", "status": 500},
                      {"op": "put_blob", "action": "status", "status": 429}])
        got = [pc.request("PUT", "proxied", "s.pst", headers={"x-ms-blob-type": "BlockBlob"},
                          body=b"s", expect=None)[:2] for _ in range(5)]
        t.check([g[0] for g in got] == [503, 503, 500, 429, 201],
                f"scripted statuses 503,503,500,429 then pass: {[g[0] for g in got]}")
        t.check(got[0][1].get("retry-after") == "1" and
                got[0][1].get("x-ms-error-code") == "ServerBusy",
                "503 carries Retry-After: 1 and ServerBusy")
        t.check(got[2][1].get("x-ms-error-code") == "OperationTimedOut",
                "500 carries OperationTimedOut")

        for action, extra in (("reset", {"after_bytes": 10000}), ("truncate", {"keep": 20}),
                              ("stall", {"seconds": 0.5})):
            px.set_rules([{"op": "put_blob", "action": action, **extra}])
            try:
                st = pc.request("PUT", "proxied", f"{action}.pst",
                                headers={"x-ms-blob-type": "BlockBlob"}, body=data,
                                expect=None)[0]
            except OSError:
                st = None
            t.check(st is None, f"{action}: the client sees a broken connection (got {st})")
        listing = c.list_blobs("proxied")
        t.check("reset.pst" not in listing and "stall.pst" not in listing,
                "reset/stall requests never reached Azurite")
        t.check(listing.get("truncate.pst") == len(data),
                "truncate: Azurite did the work, the answer was cut")

        log = px.log()
        statuses = [(r["op"], r["status"], r["fault"]) for r in log]
        t.check(statuses[0] == ("put_blob", 201, None), f"log: first request {statuses[0]}")
        t.check([r["req_bytes"] for r in log if r["fault"] == "reset"] == [10000],
                "log: reset after 10000 body bytes")
        gaps = faultproxy.retry_gaps(log)
        t.check(len(gaps) == 2 and all(g is not None and g < 1 for _, g in gaps),
                f"retry_gaps pairs each 503 with the next attempt: {gaps}")
        with open(t.path("proxy.jsonl")) as f:
            t.check(sum(1 for _ in f) == len(log), "JSON-lines log has every request")

        # keep-alive both ways: many requests over one client connection
        conn = pc.connect()
        for i in range(5):
            st = pc.request("GET", "proxied", query={"restype": "container", "comp": "list"},
                            expect=None, conn=conn)[0]
            t.check(st == 200, f"keep-alive request {i}: 200")
        conn.close()
        ka = [r["conn"] for r in px.log() if r["op"] == "list"][-5:]
        t.check(len(set(ka)) == 1, f"five requests on one proxied connection: {ka}")
    finally:
        px.stop()


def check_helpers(t):
    empty = t.path("empty")
    open(empty, "wb").close()
    t.check(harness.xxh3_128_file(empty) == "99aa06d3014798d86001c324468d497f",
            "XXH3-128 of the empty input is the reference value")
    data = harness.make_file(t.path("data"), 100000, seed=5)
    with open(data, "rb") as f:
        content = bytearray(f.read())
    t.check(harness.files_equal(data, bytes(content)), "files_equal: same bytes")
    content[77777] ^= 1
    t.check(not harness.files_equal(data, bytes(content)), "files_equal: one bit flipped")
    t.check(not harness.files_equal(data, bytes(content[:-1])), "files_equal: one byte short")
    t.check(harness.make_file(t.path("again"), 100000, seed=5) and
            harness.xxh3_128_file(t.path("again")) == harness.xxh3_128_file(data),
            "make_file is deterministic for a seed")


def main():
    with harness.Test("oracle") as t:
        check_helpers(t)
        for tls in (False, True):
            c = t.azurite(tls=tls)
            check_auth(t, c)
            if not tls:
                check_proxy(t, c)


main()

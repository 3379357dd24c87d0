#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Prometheus metrics endpoint (issue 4 item 3): `pstream daemon` with
metrics_listen on a loopback port, scraped while a pass uploads (through the
fault relay, which paces the uploads and answers one Put Block with 503) and
after it.  The scrapes follow the text exposition format 0.0.4, counters
never go down, and the final values equal what the relay saw on the wire:
request body bytes, requests, Put Blocks acknowledged, the 503 retried, and
the files in the container.  An address other than loopback is refused
unless metrics_allow_remote = yes; paths other than /metrics get 404."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+]+)$')


def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def parse(text):
    """{name or name{labels}: value}; raises on a line the format does not allow."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge"), line
            typed.add(name)
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        assert m.group(1) in typed, f"sample before its TYPE: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def write_config(t, url, sas_file, src, port, extra=""):
    path = t.path("metrics.conf")
    with open(path, "w") as f:
        f.write(f"""[source]
path = {src}
[destination]
url = {url}
sas_file = {sas_file}
[transfer]
block_size = 4M
memory = 16M
connections = 4
[daemon]
state_dir = {t.path('state')}
rescan_interval = 1h
log_level = debug
metrics_listen = 127.0.0.1:{port}
{extra}
""")
    return path


def main():
    with harness.Test("metrics") as t:
        src = t.path("share")
        sizes = [20 * MiB + 1, 12 * MiB, 3 * MiB]
        for i, size in enumerate(sizes):
            harness.make_fake_pst(os.path.join(src, f"u{i}", "mail.pst"), size, seed=110 + i)
        c = t.azurite()
        c.create_container("metrics")
        rules = [{"op": "put_block", "skip": 2, "count": 1, "action": "status", "status": 503}]
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rate=6 * MiB, rules=rules)
        pport = px.start()
        sas_file = t.path("azure-sas")
        with open(os.open(sas_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(c.service_sas("metrics", "racwl") + "\n")
        url = f"http://127.0.0.1:{pport}/{azure.AZURITE_ACCOUNT}/metrics"
        mport = harness.free_port()

        # Refused: a non-loopback address without metrics_allow_remote.
        cfg = write_config(t, url, sas_file, src, mport)
        run = t.pstream(["daemon", "-c", cfg, "--once", "--metrics-listen", f"0.0.0.0:{mport}"],
                        label="remote", check_rc=None)
        t.check(run.rc == 2 and "loopback" in run.stderr,
                f"0.0.0.0 refused without metrics_allow_remote: {run.describe()}")

        err_path = t.path("logs", "daemon.stderr")
        scrapes = []
        try:
            with open(err_path, "wb") as fe:
                proc = harness.spawn([harness.pstream_bin(), "daemon", "-c", cfg],
                                     stdout=subprocess.DEVNULL, stderr=fe)
                t.procs.append(proc)
                t.require(harness.wait_metrics(proc, err_path, mport),
                          f"the daemon serves metrics on port {mport} (see {err_path})")
                end = time.monotonic() + 120
                done = False
                while time.monotonic() < end and not done:
                    time.sleep(0.5)
                    try:
                        status, ctype, body = scrape(mport)
                    except (urllib.error.URLError, ConnectionError):
                        continue
                    t.require(status == 200 and "version=0.0.4" in ctype,
                              f"GET /metrics: 200 text/plain version=0.0.4 ({status} {ctype})")
                    m = parse(body)
                    scrapes.append(m)
                    done = m["pstream_pass_running"] == 0 and m["pstream_passes_total"] >= 1
                t.require(done, "the first pass ended within 120 s")
                try:
                    scrape(mport, "/")
                    notfound = False
                except urllib.error.HTTPError as e:
                    notfound = e.code == 404
                t.check(notfound, "GET / answers 404")
                ctl = t.pstream(["status", "--state", t.path("state")], label="status-idle")
                t.check(ctl.rc == 0 and "idle" in ctl.stdout,
                        f"pstream status between passes: {ctl.describe()}")
                proc.send_signal(signal.SIGTERM)
                t.check(proc.wait(30) == 0, "SIGTERM: status 0")
                t.procs.remove(proc)
        finally:
            px.stop()

        log = px.log()
        expected = harness.tree_blobs(src)
        t.check(t.verify_blobs(c, "metrics", expected) == len(expected), "blobs identical")
        final = scrapes[-1]
        during = [m for m in scrapes if m["pstream_pass_running"] == 1]
        t.check(len(during) >= 3, f"{len(during)} scrapes while the pass ran")
        names = [k for k in final if k.endswith("_total") or "_total{" in k]
        for a, b in zip(scrapes, scrapes[1:]):
            for k in names:
                t.require(b.get(k, 0) >= a.get(k, 0), f"counter {k} never goes down")
        t.check(any(0 < m["pstream_bytes_sent_total"] < final["pstream_bytes_sent_total"]
                    for m in during), "bytes_sent_total grew during the pass")
        t.check(any(m["pstream_requests_active"] > 0 for m in during),
                "requests_active > 0 during the pass")

        body_ops = ("put_block", "put_blob", "put_block_list")
        wire = sum(r["req_bytes"] for r in log if r["op"] in body_ops)
        t.check(final["pstream_bytes_sent_total"] == wire,
                f"bytes_sent_total {final['pstream_bytes_sent_total']:.0f} == {wire} request body "
                f"bytes the relay received")
        ours = [r for r in log if r["op"] in body_ops + ("get_block_list",)]
        t.check(final["pstream_requests_total"] == len(ours),
                f"requests_total {final['pstream_requests_total']:.0f} == {len(ours)} requests at "
                f"the relay")
        staged = sum(1 for r in log if r["op"] == "put_block" and r["status"] == 201)
        t.check(final["pstream_blocks_staged_total"] == staged,
                f"blocks_staged_total {final['pstream_blocks_staged_total']:.0f} == {staged}")
        busy = sum(1 for r in log if r["status"] == 503)
        t.check(busy == 1 and final['pstream_retries_total{class="busy"}'] == 1,
                f"one 503 at the relay ({busy}), retries_total{{class=\"busy\"}} == 1")
        t.check(final["pstream_files_committed_total"] == len(expected),
                f"files_committed_total == {len(expected)}")
        t.check(final["pstream_bytes_committed_total"] == sum(sizes),
                f"bytes_committed_total == {sum(sizes)}")
        t.check(final["pstream_files_failed_total"] == 0, "files_failed_total == 0")
        t.check(final["pstream_resident_memory_bytes"] > 1 * MiB, "resident memory reported")

        # metrics_allow_remote = yes lets it bind beyond loopback.
        mport2 = harness.free_port()
        cfg2 = write_config(t, url, sas_file, src, mport2, "metrics_allow_remote = yes")
        with open(cfg2) as f:
            text = f.read().replace(f"127.0.0.1:{mport2}", f"0.0.0.0:{mport2}")
        with open(cfg2, "w") as f:
            f.write(text)
        remote_err = t.path("logs", "remote.stderr")
        with open(remote_err, "wb") as fe:
            proc = harness.spawn([harness.pstream_bin(), "daemon", "-c", cfg2],
                                 stdout=subprocess.DEVNULL, stderr=fe)
            t.procs.append(proc)
            t.require(harness.wait_metrics(proc, remote_err, mport2),
                      f"the daemon serves metrics on 0.0.0.0:{mport2}")
            try:
                ok = scrape(mport2)[0] == 200
            except (urllib.error.URLError, ConnectionError):
                ok = False
            t.check(ok, "0.0.0.0 accepted with metrics_allow_remote = yes")
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            t.procs.remove(proc)
        print(f"metrics: {len(scrapes)} scrapes; final bytes_sent_total "
              f"{final['pstream_bytes_sent_total']:.0f} = relay {wire}")


main()

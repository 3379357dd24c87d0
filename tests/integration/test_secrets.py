#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Secret hygiene (RELIABILITY.md §5.1, row X1): ingests at -v with Shared Key
(key file and environment), service, account and write-only SAS, over HTTP
through injected faults (503, reset, 500, a non-retryable 403) and over HTTPS,
plus the failure paths that like to print URLs (unknown CA, missing container,
usage error), and `pstream daemon` with a SAS file: `pstream status`,
`status --json` and the metrics endpoint are captured during a pass through
the same faults (a file failed by a 400 shows its error there) and after it.
Every stdout/stderr, report, state directory, mapping CSV and capture is
searched for the account key and each SAS signature, raw and URL-encoded, in
16-character windows: zero hits.  A control file holding the secrets proves
the search finds them."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

FAULTS = [
    {"op": ["put_block", "put_blob"], "skip": 1, "count": 2, "action": "status",
     "status": 503, "retry_after": 1},
    {"op": "put_block", "count": 1, "action": "reset", "after_bytes": 100000},
    {"op": "put_blob", "skip": 3, "count": 1, "action": "status", "status": 500},
    {"op": "put_blob", "skip": 5, "count": 1, "action": "status", "status": 403,
     "code": "AuthorizationFailure"},
]


def variants(secret):
    """The forms a secret can take in a log: raw, URL-encoded (either hex case)."""
    out = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret, safe="/")}
    out |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), v) for v in set(out)}
    return out


def needles(secret):
    """16-character windows (start, middle, end) of every variant: a truncated
    or wrapped secret is found too."""
    found = set()
    for v in variants(secret):
        for i in (0, len(v) // 2 - 8, len(v) - 16):
            found.add(v[i:i + 16].encode())
    return found


def files_under(paths):
    for p in paths:
        if os.path.isdir(p):
            for d, _, files in os.walk(p):
                yield from (os.path.join(d, f) for f in files)
        elif os.path.exists(p):
            yield p


def hits(paths, secrets):
    """[(file, secret label)] for every secret window found in any file."""
    out = []
    for path in files_under(paths):
        with open(path, "rb") as f:
            data = f.read()
        for label, secret in secrets.items():
            if any(n in data for n in needles(secret)):
                out.append((path, label))
    return out


def daemon_captures(t, c, src, secrets):
    """Run the daemon with a SAS file through the faults; capture status, status
    --json and /metrics during the pass and after it.  Returns the paths to search."""
    c.create_container("daemon")
    sas = c.service_sas("daemon", "racwl")
    secrets["daemon SAS sig"] = azure.sas_signature(sas)
    sas_file = t.path("daemon-sas")
    with open(os.open(sas_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(sas + "\n")
    # As FAULTS, but the refused request is a 400 (a 403 would stop the pass).
    faults = FAULTS[:3] + [{"op": "put_blob", "skip": 2, "count": 1, "action": "status",
                            "status": 400, "code": "InvalidHeaderValue"}]
    px = faultproxy.FaultProxy("127.0.0.1", c.port, rules=faults, rate=2 * MiB)
    port = px.start()
    mport = harness.free_port()
    state = t.path("daemon-state")
    cfg = t.path("daemon.conf")
    with open(cfg, "w") as f:
        f.write(f"[source]\npath = {src}\n[destination]\n"
                f"url = http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/daemon\n"
                f"sas_file = {sas_file}\n[transfer]\nblock_size = 4M\n"
                f"[daemon]\nstate_dir = {state}\nlog_level = debug\n"
                f"metrics_listen = 127.0.0.1:{mport}\n")
    captures = []

    def capture(tag):
        for args in (["status"], ["status", "--json"]):
            run = t.pstream(args + ["--state", state], label=f"{tag}-{'-'.join(args)}")
            captures.append(run.stdout)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5) as r:
                body = r.read().decode()
        except OSError:
            body = ""
        path = t.path(f"{tag}-metrics.txt")
        with open(path, "w") as f:
            f.write(body)
        captures.append(body)
        return body

    err_path = t.path("logs", "daemon.stderr")
    try:
        with open(err_path, "wb") as fe:
            proc = harness.spawn([harness.pstream_bin(), "daemon", "-c", cfg],
                                 stdout=subprocess.DEVNULL, stderr=fe)
            t.procs.append(proc)
            t.require(harness.wait_metrics(proc, err_path, mport),
                      f"the daemon serves metrics on port {mport}")
            during = 0
            end = time.monotonic() + 90
            while time.monotonic() < end:
                time.sleep(0.5)
                body = capture(f"daemon-{during}")
                running = re.search(r"^pstream_pass_running (\d)$", body, re.M)
                if running and running.group(1) == "1":
                    during += 1
                elif running:
                    break
            capture("daemon-idle")
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            t.procs.remove(proc)
    finally:
        px.stop()
    t.check(during >= 2, f"status and metrics captured {during} times during the pass")
    t.check(any("failed" in c and "400" in c for c in captures),
            "a file failed by the 400 shows its error in the captured status")
    return [err_path, state] + [t.path(f) for f in os.listdir(t.path()) if f.endswith("-metrics.txt")]


def main():
    with harness.Test("secrets") as t:
        cdir, rows = harness.corpus()
        src = t.path("share")
        names = sorted(r["name"] for r in rows)[:6]
        os.makedirs(os.path.join(src, "u"))
        for n in names:
            shutil.copyfile(os.path.join(cdir, n), os.path.join(src, "u", n))
        harness.make_fake_pst(os.path.join(src, "u/big.pst"), 9 * MiB, seed=31)
        rules = t.path("rules.txt")
        with open(rules, "w") as f:
            f.write("u/*.pst user@contoso.com\n")
        plain = t.azurite()
        tls = t.azurite(tls=True)
        secrets = {"account key": azure.AZURITE_KEY}
        outputs = []

        def ingest(label, url, *extra, env=None, key=None):
            run, report = t.ingest([src], url, "--block-size", "4M", "--mapping-csv",
                                   t.path(f"{label}.csv"), "--mailbox-rules", rules, *extra,
                                   label=label, env=env, key=key, check_rc=None, timeout=120)
            outputs.extend([report, t.path(f"{label}.state"), t.path(f"{label}.csv")])
            return run

        def proxied(container, sas=None):
            px = faultproxy.FaultProxy("127.0.0.1", plain.port, rules=FAULTS)
            port = px.start()
            url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/{container}"
            return px, url + (f"?{sas}" if sas else "")

        for name in ("sk-file", "sk-env", "svc-sas", "acct-sas", "wo-sas", "no-ca", "usage"):
            plain.create_container(name)
            tls.create_container(name)

        px, url = proxied("sk-file")
        try:
            runs = [ingest("sk-file", url, key=azure.AZURITE_KEY)]
        finally:
            px.stop()
        runs.append(ingest("sk-env", tls.container_url("sk-env"), "--ca-file", tls.ca_file,
                           env={"PSTREAM_ACCOUNT_KEY": azure.AZURITE_KEY}))
        sas = tls.service_sas("svc-sas", "racwl", protocol="https")
        secrets["service SAS sig"] = azure.sas_signature(sas)
        runs.append(ingest("svc-sas", tls.container_url("svc-sas", sas), "--ca-file", tls.ca_file))
        sas = plain.account_sas("racwl")
        secrets["account SAS sig"] = azure.sas_signature(sas)
        px, url = proxied("acct-sas", sas)
        try:
            runs.append(ingest("acct-sas", url))
        finally:
            px.stop()
        sas = plain.service_sas("wo-sas", "cw")
        secrets["write-only SAS sig"] = azure.sas_signature(sas)
        px, url = proxied("wo-sas", sas)
        try:
            runs.append(ingest("wo-sas", url))
        finally:
            px.stop()
        sas = tls.service_sas("no-ca", "racwl")
        secrets["unknown-CA SAS sig"] = azure.sas_signature(sas)
        runs.append(ingest("no-ca", tls.container_url("no-ca", sas)))
        sas = plain.service_sas("gone", "racwl")
        secrets["missing-container SAS sig"] = azure.sas_signature(sas)
        runs.append(ingest("gone", plain.container_url("gone", sas)))
        sas = plain.service_sas("usage", "racwl")
        secrets["usage-error SAS sig"] = azure.sas_signature(sas)
        runs.append(ingest("usage", plain.container_url("usage", sas), "--block-size", "7Q"))

        outputs.extend(daemon_captures(t, plain, src, secrets))

        rcs = [r.rc for r in runs]
        t.check(rcs[1] == 0 and rcs[2] == 0, f"Shared Key from env and service SAS: exit 0: {rcs}")
        t.check(all(rc in (1, 3) for rc in (rcs[0], rcs[3], rcs[4])),
                f"the runs that met an injected 403 fail (1 or 3): {rcs}")
        t.check(rcs[5] in (1, 3) and rcs[6] in (1, 3) and rcs[7] == 2,
                f"unknown CA and missing container fail, bad --block-size is a usage error: "
                f"{rcs[5:]}")
        t.check(all(len(r.stderr) > 200 for r in runs[:5]),
                "-v produced output to search (> 200 bytes of stderr per upload run)")
        searched = list(files_under(t.outputs + outputs))
        t.check(len(searched) >= 2 * len(runs) + 5,
                f"searched {len(searched)} files (stdout/stderr, reports, state, CSVs)")
        leaks = hits(t.outputs + outputs, secrets)
        t.check(not leaks, f"no secret in pstream's output: {leaks}")

        control = t.path("control.txt")
        with open(control, "w") as f:
            f.write(f"{url}\nkey={urllib.parse.quote(azure.AZURITE_KEY, safe='')}\n")
        found = {label for _, label in hits([control], secrets)}
        t.check(found == {"account key", "write-only SAS sig"},
                f"control: the search finds a URL-encoded key and a sig: {sorted(found)}")


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`pstream daemon -c FILE`: the shipped kind of configuration file (SAS in a
credential file, never in the config) drives passes over the sources into
Azurite; --dump-config reads back; a pass uploads only what the journal has
not seen committed; SIGHUP starts a pass at once and picks up a new file;
SIGTERM ends the daemon with status 0 within 30 s; kill -9 in the middle of
a pass and a restart finish with every blob byte-identical and nothing extra."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402


def write_config(t, url, sas_file, src, name):
    path = t.path(f"{name}.conf")
    with open(path, "w") as f:
        f.write(f"""# test configuration
[source]
path = {src}

[destination]
url = {url}
sas_file = {sas_file}

[transfer]
block_size = 4M
memory = 16M
connections = 4

[daemon]
state_dir = {t.path(name + '-state')}
report = {t.path(name + '-report.json')}
rescan_interval = 1h
log_level = debug
""")
    return path


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def main():
    with harness.Test("daemon") as t:
        src = t.path("share")
        for i in range(2):
            harness.make_fake_pst(os.path.join(src, f"u{i}", "mail.pst"), 9 * MiB + i, seed=60 + i)
        c = t.azurite()
        c.create_container("svc")
        sas = c.service_sas("svc", "racwl")
        sas_file = t.path("azure-sas")
        with open(os.open(sas_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(sas + "\n")
        cfg = write_config(t, c.container_url("svc"), sas_file, src, "a")

        # The configuration reads back through --dump-config.
        run = t.pstream(["daemon", "-c", cfg, "--dump-config"], label="dump")
        t.check(run.rc == 0 and f"path = {src}" in run.stdout, f"dump-config: {run.describe()}")
        dumped = t.path("dumped.conf")
        with open(dumped, "w") as f:
            f.write(run.stdout)
        run = t.pstream(["daemon", "-c", dumped, "--dump-config"], label="dump2")
        t.check(run.rc == 0, f"the dump parses as a configuration: {run.describe()}")

        # A SAS inside the URL of a config file is refused.
        bad = t.path("bad.conf")
        with open(bad, "w") as f:
            f.write(f"[source]\npath = {src}\n[destination]\nurl = "
                    f"{c.container_url('svc', sas)}\n")
        run = t.pstream(["daemon", "-c", bad], label="bad", check_rc=None)
        t.check(run.rc == 2 and "sas_file" in run.stderr, f"SAS in the config: exit 2: {run.describe()}")

        # One pass.
        run = t.pstream(["daemon", "-c", cfg, "--once"], label="once")
        t.check(run.rc == 0, f"--once pass: exit 0: {run.describe()}")
        expected = harness.tree_blobs(src)
        t.check(t.verify_blobs(c, "svc", expected) == len(expected), "first pass: blobs identical")

        # Running daemon: SIGHUP passes now and takes a new file; SIGTERM stops.
        err_path = t.path("logs", "daemon.stderr")
        with open(err_path, "wb") as fe:
            proc = harness.spawn([harness.pstream_bin(), "daemon", "-c", cfg],
                                 stdout=subprocess.DEVNULL, stderr=fe)
            t.procs.append(proc)
            first_pass = wait_for(lambda: "unchanged since it was committed" in
                                  open(err_path, errors="replace").read(), 30)
            t.check(first_pass, "daemon: its first pass found the committed files unchanged")
            harness.make_fake_pst(os.path.join(src, "u2", "new.pst"), 5 * MiB, seed=70)
            proc.send_signal(signal.SIGHUP)
            picked = wait_for(lambda: "u2/new.pst" in c.list_blobs("svc"), 30)
            t.check(picked, "daemon: SIGHUP passed over the sources and uploaded the new file")
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(30)
            except subprocess.TimeoutExpired:
                rc = None
                harness.stop_process(proc)
            t.check(rc == 0, f"daemon: SIGTERM ends it with status 0 (rc {rc}, "
                             f"{time.monotonic() - t0:.1f} s)")
        expected = harness.tree_blobs(src)
        t.check(t.verify_blobs(c, "svc", expected) == len(expected), "after SIGHUP: blobs identical")

        # kill -9 in the middle of a pass (uploads slowed by the proxy), then a
        # restart: everything arrives, nothing extra.
        big = t.path("share2")
        for i in range(3):
            harness.make_fake_pst(os.path.join(big, f"b{i}.pst"), 12 * MiB + i, seed=80 + i)
        c.create_container("svc2")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rate=8 * MiB)
        port = px.start()
        try:
            url2 = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/svc2"
            cfg2 = write_config(t, url2, sas_file, big, "b")
            with open(sas_file, "w") as f:
                f.write(c.service_sas("svc2", "racwl") + "\n")
            with open(t.path("logs", "killed.stderr"), "wb") as fe:
                proc = harness.spawn([harness.pstream_bin(), "daemon", "-c", cfg2, "--once"],
                                     stdout=subprocess.DEVNULL, stderr=fe)
                t.procs.append(proc)
                time.sleep(2.5)
                proc.kill()
                proc.wait(10)
            run = t.pstream(["daemon", "-c", cfg2, "--once"], label="restart", timeout=120)
            t.check(run.rc == 0, f"restart after kill -9: exit 0: {run.describe()}")
        finally:
            px.stop()
        expected = harness.tree_blobs(big)
        ok = t.verify_blobs(c, "svc2", expected)
        t.check(ok == len(expected), f"after kill -9 + restart: {ok}/{len(expected)} identical")


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIGHUP reloads the daemon's configuration (issue 4 item 1 and 3): during a
pass capped at 2 MB/s, a new file raises the cap to 8 MB/s, turns on debug
logging, adds a source root and changes state_dir.  The cap in force (status
and metrics) and the rate measured at the metrics endpoint follow within
seconds with no transfer broken (no retry, no failed file); the new root is
uploaded by the pass that follows at once; the log says state_dir needs a
restart and the daemon keeps its journal.  An invalid file is then refused
with a clear error and changes nothing.  Every blob ends byte-identical."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def write_config(path, t, url, sas_file, roots, port, cap, level, state):
    with open(path, "w") as f:
        f.write("[source]\n" + "".join(f"path = {r}\n" for r in roots) + f"""
[destination]
url = {url}
sas_file = {sas_file}
[transfer]
block_size = 4M
memory = 16M
connections = 2
cap = {cap}
[daemon]
state_dir = {state}
rescan_interval = 1h
log_level = {level}
metrics_listen = 127.0.0.1:{port}
""")


def rate(port, seconds):
    a = metrics(port)
    time.sleep(seconds)
    b = metrics(port)
    return (b["pstream_bytes_sent_total"] - a["pstream_bytes_sent_total"]) / seconds, b


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def main():
    with harness.Test("reload") as t:
        src, src2 = t.path("share"), t.path("share2")
        for i in range(2):
            harness.make_fake_pst(os.path.join(src, f"a{i}.pst"), 24 * MiB + i, seed=130 + i)
        harness.make_fake_pst(os.path.join(src2, "late.pst"), 6 * MiB, seed=140)
        c = t.azurite()
        c.create_container("reload")
        sas_file = t.path("azure-sas")
        with open(os.open(sas_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(c.service_sas("reload", "racwl") + "\n")
        url = c.container_url("reload")
        port = harness.free_port()
        cfg, state = t.path("pstream.conf"), t.path("state")
        write_config(cfg, t, url, sas_file, [src], port, "2MB/s", "info", state)

        err_path = t.path("logs", "daemon.stderr")

        def log():
            with open(err_path, errors="replace") as f:
                return f.read()

        with open(err_path, "wb") as fe:
            proc = harness.spawn([harness.pstream_bin(), "daemon", "-c", cfg],
                                 stdout=subprocess.DEVNULL, stderr=fe)
            t.procs.append(proc)
            t.require(harness.wait_metrics(proc, err_path, port),
                      f"the daemon serves metrics on port {port} (see {err_path})")

            def sent():
                try:
                    return metrics(port)["pstream_bytes_sent_total"] > 2 * MiB
                except OSError:
                    return False
            t.require(wait_for(sent, 30), "the first pass is uploading")
            slow, m = rate(port, 3)
            t.check(m["pstream_cap_bytes_per_second"] == 2e6, "cap gauge 2 MB/s before the reload")
            t.check(slow < 2.6e6, f"rate under the 2 MB/s cap: {slow / 1e6:.2f} MB/s")

            write_config(cfg, t, url, sas_file, [src, src2], port, "8MB/s", "debug",
                         t.path("other-state"))
            proc.send_signal(signal.SIGHUP)
            t.check(wait_for(lambda: "reload:" in log(), 5), "the reload is logged")
            # The same file again while that pass still runs: still a restart
            # matter, still not applied.
            proc.send_signal(signal.SIGHUP)
            t.check(wait_for(lambda: log().count("takes a restart") == 2, 5),
                    "a second reload reports state_dir again")

            def capped8():
                return metrics(port)["pstream_cap_bytes_per_second"] == 8e6
            t.check(wait_for(capped8, 2), "cap gauge 8 MB/s within 2 s of SIGHUP")
            st = t.pstream(["status", "--state", state], label="status-reloaded")
            t.check("cap: 8 MB/s" in st.stdout, f"status shows the new cap: {st.stdout[:300]}")
            fast, m = rate(port, 3)
            t.check(fast > 4e6, f"rate after the reload: {fast / 1e6:.2f} MB/s (> 4)")
            text = log()
            t.check("daemon.state_dir changed" in text and "restart" in text,
                    "state_dir change reported as needing a restart")
            t.check("now: transfer.cap, daemon.log_level" in text,
                    "cap and log_level reported as applied now")
            t.check("from the next pass: source.path" in text, "source.path from the next pass")

            def second_pass_done():
                m = metrics(port)
                return m["pstream_passes_total"] >= 2 and m["pstream_pass_running"] == 0
            t.check(wait_for(second_pass_done, 60), "the next pass ran at once and ended")
            m = metrics(port)
            t.check(m["pstream_files_failed_total"] == 0, "no file failed across the reload")
            t.check(sum(v for k, v in m.items() if k.startswith("pstream_retries_total")) == 0,
                    "no request retried: transfers in flight went on")
            t.check("<7>" in log(), "debug logging on after the reload")
            t.check(not os.path.exists(t.path("other-state")), "the journal stayed where it was")

            # An invalid file: refused, nothing changes.
            with open(cfg, "a") as f:
                f.write("[transfer]\ncap = fast\n")
            before = log()
            proc.send_signal(signal.SIGHUP)
            t.check(wait_for(lambda: "keeping the running configuration" in log()[len(before):],
                             5), "an invalid file is refused and named")
            bad = log()[len(before):]
            t.check("cap" in bad and "fast" in bad, f"the error names the option: {bad[-300:]}")
            time.sleep(0.5)
            t.check(proc.poll() is None, "the daemon still runs")
            t.check(metrics(port)["pstream_cap_bytes_per_second"] == 8e6, "the cap is unchanged")
            proc.send_signal(signal.SIGTERM)
            t.check(proc.wait(30) == 0, "SIGTERM: status 0")
            t.procs.remove(proc)

        expected = harness.tree_blobs(src)
        expected.update(harness.tree_blobs(src2))
        ok = t.verify_blobs(c, "reload", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical, nothing extra")
        print(f"reload: {slow / 1e6:.2f} MB/s at cap 2 MB/s, {fast / 1e6:.2f} MB/s after SIGHUP "
              f"to 8 MB/s")


main()

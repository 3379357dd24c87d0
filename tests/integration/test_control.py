#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The control socket of a running ingest (`--state DIR`): `pstream status`
and `status --json` describe the run; `pause` stops new requests (none start
while paused, measured at the relay) and `resume` goes on; `cap RATE` is
taken live and shown by status; the run still ends with every blob
identical.  With nothing listening, the commands exit 3."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402


def ctl(t, *args, label):
    return t.pstream(list(args), label=label, check_rc=None, timeout=30)


def main():
    with harness.Test("control") as t:
        state = t.path("state")
        run = ctl(t, "status", "--state", state, label="nothing")
        t.check(run.rc == 3, f"status with nothing running: exit 3: {run.describe()}")

        src = t.path("share")
        for i in range(4):
            harness.make_fake_pst(os.path.join(src, f"p{i}.pst"), 10 * MiB + i, seed=110 + i)
        c = t.azurite()
        c.create_container("ctl")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rate=6 * MiB,
                                   log_path=t.path("proxy.jsonl"))
        port = px.start()
        try:
            url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/ctl"
            err = open(t.path("logs", "ingest.stderr"), "wb")
            key = t.key_file()
            proc = harness.spawn([harness.pstream_bin(), "ingest", src, "--to", url,
                                  "--key-file", key, "--state", state, "--no-progress",
                                  "--block-size", "4M", "--connections", "2",
                                  "--report", t.path("report.json")],
                                 stdout=subprocess.DEVNULL, stderr=err)
            t.procs.append(proc)
            time.sleep(1.5)

            run = ctl(t, "status", "--state", state, label="status")
            t.check(run.rc == 0 and "state: running" in run.stdout and "files:" in run.stdout,
                    f"status while running: {run.describe()}")
            run = ctl(t, "status", "--json", "--state", state, label="status-json")
            try:
                st = json.loads(run.stdout)
                t.check(st["state"] == "running" and st["files_total"] == 4 and
                        st["bytes_total"] == sum(10 * MiB + i for i in range(4)),
                        f"status --json: {st}")
            except (ValueError, KeyError) as e:
                t.check(False, f"status --json parses: {e}: {run.stdout[:200]}")

            run = ctl(t, "pause", "--state", state, label="pause")
            t.check(run.rc == 0 and "paused" in run.stdout, f"pause: {run.describe()}")
            # Requests in flight at the pause finish (<= 2 x 4 MiB at 6 MiB/s):
            # wait until the relay's log stands still, however loaded the
            # machine, then watch it for 2 s more.
            n1, still_since, deadline = len(px.log()), time.monotonic(), time.monotonic() + 20
            while time.monotonic() - still_since < 1.5 and time.monotonic() < deadline:
                time.sleep(0.25)
                n = len(px.log())
                if n != n1:
                    n1, still_since = n, time.monotonic()
            time.sleep(2.0)
            n2 = len(px.log())
            t.check(n1 == n2, f"no request while paused ({n2 - n1} arrived)")
            run = ctl(t, "status", "--state", state, label="status-paused")
            t.check("state: paused" in run.stdout, f"status shows paused: {run.stdout[:80]}")

            run = ctl(t, "cap", "50MB/s", "--state", state, label="cap")
            t.check(run.rc == 0 and "cap 50 MB/s" in run.stdout, f"cap: {run.describe()}")
            run = ctl(t, "status", "--state", state, label="status-cap")
            t.check("cap: 50 MB/s (set by pstream cap)" in run.stdout,
                    f"status shows the cap: {run.stdout[:300]}")
            run = ctl(t, "resume", "--state", state, label="resume")
            t.check(run.rc == 0 and "resumed" in run.stdout, f"resume: {run.describe()}")
            try:
                rc = proc.wait(120)
            except subprocess.TimeoutExpired:
                rc = None
                harness.stop_process(proc)
            err.close()
            t.check(rc == 0, f"the run finishes after resume: rc {rc}")
        finally:
            px.stop()
        expected = harness.tree_blobs(src)
        ok = t.verify_blobs(c, "ctl", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical")
        t.check(not os.path.exists(os.path.join(state, "control.sock")),
                "the control socket is removed at exit")


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A full disk under the state directory (issue 4 item 4e, RELIABILITY.md §6
row S1): the journal lives on a 1 MiB tmpfs that the test fills while an
ingest stages blocks.  Journal writes then fail with SQLITE_FULL: uploads
must pause within 5 s (no new request reaches the relay; the metrics say
disk_full), and resume on their own when the filler is deleted.  The run
ends with every blob byte-identical and nothing extra, the journal passes
PRAGMA integrity_check and records every file, and a rerun sends nothing.
Needs root for the mount (CI runs as root): exit 77 otherwise."""

import errno
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            out = {}
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    k, v = line.rsplit(" ", 1)
                    out[k] = float(v)
            return out
    except OSError:
        return {}


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def fill(path):
    """Write zeros to path until the file system is full; returns the bytes written."""
    n = 0
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                return n


def main():
    with harness.Test("disk-full") as t:
        state = t.path("state")
        os.makedirs(state, exist_ok=True)
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M,mode=0700", "tmpfs", state],
                               capture_output=True, text=True)
        if mount.returncode != 0:
            print(f"SKIP: cannot mount a tmpfs (needs root): {mount.stderr.strip()}")
            sys.exit(77)
        try:
            run(t, state)
        finally:
            subprocess.run(["umount", "-l", state], check=False)


def run(t, state):
    src = t.path("share")
    for i in range(3):
        harness.make_fake_pst(os.path.join(src, f"d{i}.pst"), 24 * MiB + i, seed=170 + i)
    c = t.azurite()
    c.create_container("full")
    px = faultproxy.FaultProxy("127.0.0.1", c.port)
    pport = px.start()
    url = f"http://127.0.0.1:{pport}/{azure.AZURITE_ACCOUNT}/full"
    mport = harness.free_port()
    filler = os.path.join(state, "filler")
    args = [harness.pstream_bin(), "ingest", src, "--to", url, "--key-file", t.key_file(),
            "--state", state, "--block-size", "4M", "--memory", "16M", "--connections", "2",
            "--cap", "6MB/s", "--no-progress", "-v", "--metrics-listen", f"127.0.0.1:{mport}"]
    err_path = t.path("logs", "ingest.stderr")
    try:
        with open(err_path, "wb") as fe:
            proc = harness.spawn(args, stdout=subprocess.DEVNULL, stderr=fe)
            t.procs.append(proc)
            t.require(harness.wait_metrics(proc, err_path, mport),
                      f"the ingest serves metrics on port {mport} (see {err_path})")
            t.require(wait_for(lambda: metrics(mport).get("pstream_blocks_staged_total", 0) >= 2,
                               30), "the ingest stages blocks")
            filled = fill(filler)
            t0 = time.monotonic()
            full = wait_for(lambda: metrics(mport).get("pstream_disk_full") == 1, 5)
            paused_after = time.monotonic() - t0
            t.check(full, f"uploads paused within 5 s of the disk filling "
                          f"({paused_after:.1f} s; filler {filled} bytes)")
            # Requests in flight finish (at 6 MB/s a 4 MiB block takes < 1 s).
            t.require(wait_for(lambda: metrics(mport).get("pstream_requests_active") == 0, 10),
                      "requests in flight finished")
            quiet_from = time.time()
            time.sleep(3)
            started = [r for r in px.log() if r["t0"] > quiet_from]
            t.check(not started, f"no request started while the disk was full ({len(started)})")
            t.check(proc.poll() is None, "the ingest waits, it does not exit")
            m = metrics(mport)
            t.check(m.get("pstream_journal_errors_total", 0) >= 1, "journal errors counted")
            st = t.pstream(["status", "--state", state], label="status-full")
            t.check("waiting for disk space" in st.stdout, f"status says why: {st.stdout[:200]}")

            os.unlink(filler)
            t1 = time.monotonic()
            resumed = wait_for(lambda: metrics(mport).get("pstream_disk_full") == 0, 60)
            resumed_after = time.monotonic() - t1
            t.check(resumed, f"uploads resumed {resumed_after:.1f} s after space returned")
            rc = proc.wait(120)
            t.procs.remove(proc)
        t.check(rc == 0, f"the ingest finished with exit 0 (rc {rc})")
        with open(err_path, errors="replace") as f:
            log = f.read()
        t.check("uploads paused" in log and "uploads resume" in log,
                "the log says paused and resumed")
        expected = harness.tree_blobs(src)
        ok = t.verify_blobs(c, "full", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs identical, nothing extra")

        db = sqlite3.connect(os.path.join(state, "journal.db"))
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT path, size FROM committed").fetchall()
        db.close()
        t.check(check == "ok", f"journal integrity_check: {check}")
        want = sorted((p, os.path.getsize(p)) for p in expected.values())
        t.check(sorted(rows) == want, f"the journal records every file: {len(rows)}/{len(want)}")

        px.clear_log()
        rerun, _ = t.ingest([src], url, "--state", state, key=azure.AZURITE_KEY, label="rerun",
                            state=False, timeout=60)
        sent = [r for r in px.log() if r["op"] in ("put_block", "put_blob", "put_block_list")]
        t.check(rerun.rc == 0 and not sent, f"the rerun sends nothing ({len(sent)} requests)")
        print(f"disk-full: paused {paused_after:.1f} s after the disk filled ("
              f"{m.get('pstream_journal_errors_total', 0):.0f} journal writes refused), resumed "
              f"{resumed_after:.1f} s after space returned")
    finally:
        px.stop()


main()

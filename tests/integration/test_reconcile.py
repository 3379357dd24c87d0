#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Resume reconciles the journal with Get Block List when the credential can
read (issue 4 item 2, RELIABILITY.md §3.4 and §6 rows U1 and U8).

A. Blocks the service holds but the journal does not know: the relay
   forwards four Put Blocks to Azurite and never answers them (the service
   has them, pstream never hears so), then the ingest is killed.  The rerun
   sends none of the blocks the service acknowledged, only the others.
B. Blocks the journal knows but the service lost: the relay answers the
   first three Put Blocks with 201 itself and drops them, then the ingest is
   killed.  The rerun sends those three again (and nothing the service has)
   and commits; trusting the journal alone, its Put Block List would be
   refused.
Both blobs end byte-identical to their sources, nothing extra."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

NBLOCKS = 10


def block_key(r):
    bid = [kv for kv in r["query"].split("&") if kv.startswith("blockid=")]
    return (r["path"], bid[0] if bid else "")


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def killed_run(t, argv, label, px, until):
    with open(t.path("logs", f"{label}.stderr"), "wb") as fe:
        proc = harness.spawn(argv, stdout=subprocess.DEVNULL, stderr=fe)
        t.procs.append(proc)
        ok = wait_for(lambda: until(px.log()), 60)
        proc.kill()
        proc.wait(10)
        t.procs.remove(proc)
    # What the dead client had already written to its sockets still reaches
    # the service through the paced relay: wait until the relay is quiet.
    n, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 30
    while time.monotonic() - quiet_since < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        if len(px.log()) != n:
            n, quiet_since = len(px.log()), time.monotonic()
    return ok


def main():
    with harness.Test("reconcile") as t:
        c = t.azurite()
        key = t.key_file()

        def same(state):
            return ["--state", state, "--block-size", "4M", "--connections", "4"]

        def argv(src, port, container, state):
            return [harness.pstream_bin(), "ingest", src, "--to",
                    f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/{container}",
                    "--key-file", key, "--state", state, "--block-size", "4M",
                    "--connections", "4", "--no-progress", "-v"]

        # A: the service has blocks pstream never heard about.
        src_a = t.path("a")
        harness.make_fake_pst(os.path.join(src_a, "found.pst"), NBLOCKS * 4 * MiB - 5, seed=180)
        c.create_container("found")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rules=[
            {"op": "put_block", "skip": 2, "count": 4, "action": "blackhole"}])
        port = px.start()
        try:
            holes = lambda log: sum(1 for r in log if r.get("fault") == "blackhole"  # noqa: E731
                                    and r["status"] == 201) == 4
            t.require(killed_run(t, argv(src_a, port, "found", t.path("a.state")), "a-killed", px,
                                 holes), "four Put Blocks reached the service unanswered")
            px.set_rules([])
            t_rerun = time.time()
            run, _ = t.ingest([src_a], f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/found",
                              *same(t.path("a.state")), key=azure.AZURITE_KEY, label="a-rerun",
                              state=False, timeout=120)
            # Requests the kill cut may be logged late: the rerun's are newer.
            first = [r for r in px.log() if r["t0"] < t_rerun]
            second = [r for r in px.log() if r["t0"] >= t_rerun]
        finally:
            px.stop()
        held = {block_key(r) for r in first if r["op"] == "put_block" and r["status"] == 201}
        acked = {block_key(r) for r in first if r["op"] == "put_block" and r["status"] == 201
                 and r.get("fault") != "blackhole"}
        sent = [block_key(r) for r in second if r["op"] == "put_block"]
        t.check(run.rc == 0, f"A: the rerun exits 0: {run.describe()}")
        t.check(len(held) >= 6 and not held & set(sent),
                f"A: none of the {len(held)} blocks the service held was sent again "
                f"({len(held & set(sent))} were; {len(acked)} of them acknowledged)")
        t.check(len(sent) == NBLOCKS - len(held),
                f"A: the rerun sent the other {NBLOCKS - len(held)} blocks ({len(sent)})")
        t.check(any(r["op"] == "get_block_list" for r in second), "A: the rerun asked the service")
        t.check("found 4" in run.stderr, "A: the log counts the 4 blocks found on the service")

        # B: the service lost blocks the journal knows.
        src_b = t.path("b")
        harness.make_fake_pst(os.path.join(src_b, "lost.pst"), NBLOCKS * 4 * MiB - 7, seed=181)
        c.create_container("lost")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rate=6 * MiB, rules=[
            {"op": "put_block", "count": 3, "action": "status", "status": 201}])
        port = px.start()
        try:
            real = lambda log: sum(1 for r in log if r["op"] == "put_block"  # noqa: E731
                                   and r["status"] == 201 and not r["fault"]) >= 2
            t.require(killed_run(t, argv(src_b, port, "lost", t.path("b.state")), "b-killed", px,
                                 real), "three Put Blocks dropped, two stored, before the kill")
            px.set_rules([])
            t_rerun = time.time()
            run, _ = t.ingest([src_b], f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/lost",
                              *same(t.path("b.state")), key=azure.AZURITE_KEY, label="b-rerun",
                              state=False, timeout=120)
            # Requests the kill cut may be logged late: the rerun's are newer.
            first = [r for r in px.log() if r["t0"] < t_rerun]
            second = [r for r in px.log() if r["t0"] >= t_rerun]
        finally:
            px.stop()
        dropped = {block_key(r) for r in first if r["fault"] == "status"}
        stored = {block_key(r) for r in first if r["op"] == "put_block" and r["status"] == 201
                  and not r["fault"]}
        sent = [block_key(r) for r in second if r["op"] == "put_block"]
        t.check(run.rc == 0, f"B: the rerun exits 0: {run.describe()}")
        t.check(len(dropped) == 3 and dropped <= set(sent),
                f"B: the 3 blocks the service never got were sent again")
        t.check(not stored & set(sent), f"B: none of the {len(stored)} blocks it has was sent again")
        t.check(len(sent) == NBLOCKS - len(stored),
                f"B: the rerun sent {len(sent)} blocks, {NBLOCKS - len(stored)} expected")
        t.check("resuming" in run.stderr and "lost 3" in run.stderr,
                "B: the journal had the blocks, the log says the service lost 3")

        print(f"reconcile: A: {len(held)} blocks on the service before the kill, none sent "
              f"again; B: {len(dropped)} lost blocks sent again, {len(stored)} held not")
        for container, src in (("found", src_a), ("lost", src_b)):
            expected = harness.tree_blobs(src)
            ok = t.verify_blobs(c, container, expected)
            t.check(ok == len(expected), f"{container}: blob identical, nothing extra")


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""20 kill -9 at random points of a verbatim ingest of more than 1 GiB to
Azurite, each followed by a restart with the same journal (issue 4 item 4a,
RELIABILITY.md §6 row U1).  Passes when the final blobs are byte-identical
to the sources, the container holds nothing else, and the bytes sent again
after each kill, measured on the wire by the relay (request bodies of Put
Block / Put Blob whose block the relay had already seen before that kill),
stay within connections x block size.

Uploads go through the relay paced at 32 MiB/s so that 20 kills at random
times between 0.5 and 1.2 s after each start land mid-upload (in blocks, in
Put Blobs and between files), and the last run finishes the rest.  The seed
is printed; PSTREAM_KILL_SEED replays a run."""

import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

BLOCK = 4 * MiB
CONNECTIONS = 4
KILLS = 20


def payload_keys(log):
    """{(blob path, block id): request body bytes} of Put Block / Put Blob requests."""
    out = []
    for r in log:
        if r["op"] not in ("put_block", "put_blob"):
            continue
        bid = [kv for kv in r["query"].split("&") if kv.startswith("blockid=")]
        out.append(((r["path"], bid[0] if bid else ""), r["req_bytes"]))
    return out


def main():
    seed = int(os.environ.get("PSTREAM_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"kill20: seed {seed}")
    with harness.Test("kill20") as t:
        src = t.path("share")
        sizes = [336 * MiB + 3, 336 * MiB + 1, 336 * MiB]
        for i, size in enumerate(sizes):
            harness.make_fake_pst(os.path.join(src, "big", f"b{i}.pst"), size, seed=200 + i)
        for i in range(16):
            size = (5 * MiB + i) if i % 2 else (1 * MiB + 17 * i)  # blocks, and Put Blobs
            sizes.append(size)
            harness.make_fake_pst(os.path.join(src, "small", f"s{i:02}.pst"), size, seed=300 + i)
        total = sum(sizes)
        t.require(total >= 1 << 30, f"the estate is {total} bytes, at least 1 GiB")
        c = t.azurite()
        c.create_container("kills")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, rate=32 * MiB)
        port = px.start()
        url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/kills"
        argv = [harness.pstream_bin(), "ingest", src, "--to", url, "--key-file", t.key_file(),
                "--state", t.path("journal"), "--block-size", "4M", "--connections",
                str(CONNECTIONS), "--no-progress", "--report", t.path("report.json")]
        seen = set()
        resent = []      # bytes re-sent after kill k
        killed_at = []
        try:
            kills = 0
            while kills < KILLS:
                delay = rng.uniform(0.5, 1.2)
                with open(t.path("logs", f"run{kills + 1}.stderr"), "wb") as fe:
                    proc = harness.spawn(argv, stdout=subprocess.DEVNULL, stderr=fe)
                    try:
                        proc.wait(delay)
                        finished = True
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(10)
                        finished = False
                time.sleep(0.5)  # the relay logs the requests the kill cut
                log = px.log()
                px.clear_log()
                keys = payload_keys(log)
                if kills > 0:
                    resent.append(sum(n for k, n in keys if k in seen))
                seen.update(k for k, _ in keys)
                if finished:
                    break
                kills += 1
                killed_at.append(round(delay, 2))
            t.check(kills == KILLS, f"{kills} of {KILLS} kills landed before the ingest finished")
            run, _ = t.ingest([src], url, "--state", t.path("journal"), "--block-size", "4M",
                              "--connections", str(CONNECTIONS), key=azure.AZURITE_KEY,
                              label="final", state=False, verbose=False, timeout=300)
            time.sleep(0.3)
            keys = payload_keys(px.log())
            resent.append(sum(n for k, n in keys if k in seen))
        finally:
            px.stop()
        t.check(run.rc == 0, f"the run after the last kill exits 0: {run.describe()}")
        expected = harness.tree_blobs(src)
        ok = t.verify_blobs(c, "kills", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs byte-identical, nothing extra")
        bound = CONNECTIONS * BLOCK
        worst = max(resent) if resent else 0
        t.check(len(resent) == KILLS, f"re-sent bytes measured after each of the {KILLS} kills")
        t.check(worst <= bound, f"bytes re-sent per kill: max {worst} <= {bound} "
                                f"(connections x block size); per kill {resent}")
        print(f"kill20: {total} bytes in {len(expected)} files, {kills} kills at {killed_at} s; "
              f"re-sent per kill: max {worst / MiB:.1f} MiB, median "
              f"{statistics.median(resent) / MiB:.1f} MiB, total {sum(resent) / MiB:.1f} MiB "
              f"(bound {bound / MiB:.0f} MiB per kill)")


main()

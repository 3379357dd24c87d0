#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Round trip over HTTP with Shared Key: pstream ingest of the real corpus, the
pst-extractor files and generated files at the block boundaries (4 bytes,
exactly one block, one block + 1, > 100 MiB with 4 MiB blocks); every blob is
downloaded and compared byte for byte, the report's statuses, sizes and
XXH3-128 are checked, and the request shapes are read from a pass-through
proxy (Put Blob up to the block size, Put Block + Put Block List above).
Files named *.pst without a PST header are skipped (exit 1); --all-files
uploads them, 0 and 1 bytes included.  The key also comes from the
environment; a missing container fails the run."""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azure  # noqa: E402
import faultproxy  # noqa: E402
import harness  # noqa: E402
from harness import MiB  # noqa: E402

BLOCK = 4 * MiB


def make_sources(t):
    """Generated tree: PST-magic files at the size boundaries and with names that
    need escaping, plus files that are not PSTs and not named like one (ignored).
    A second tree: files named *.pst/*.ost without a PST header (0 bytes, 1 byte,
    random), which ingest must skip, list and count as skipped."""
    gen = t.path("gen")
    sizes = {"tiny.pst": 4, "header-only.pst": 512, "one-block.pst": BLOCK,
             "deep/dir/block-plus-one.ost": BLOCK + 1, "big/large.pst": 100 * MiB + 1,
             "no extension": 3 * MiB,
             # names that need care in URLs and signatures (no backslash: Azurite
             # turns it into '/')
             "odd names/a b+c#d%e&f=g;h'~.pst": 5000, "ünïcödé/日本語.pst": 6000,
             "x/?q=1&sig=.pst": 7000, "tab\tname.pst": 8000}
    for i, (name, size) in enumerate(sorted(sizes.items())):
        harness.make_fake_pst(os.path.join(gen, name), size, seed=100 + i)
    with open(os.path.join(gen, "random.bin"), "wb") as f:
        f.write(b"RND!" + os.urandom(9000))
    with open(os.path.join(gen, "notes.txt"), "w") as f:
        f.write("not a PST\n")
    named = t.path("named")
    harness.make_file(os.path.join(named, "empty.pst"), 0, seed=1)
    harness.make_file(os.path.join(named, "one-byte.ost"), 1, seed=2)
    harness.make_file(os.path.join(named, "sub/random.pst"), 9000, seed=3)
    harness.make_fake_pst(os.path.join(named, "real.pst"), 70000, seed=4)
    return gen, sizes, named


def ops_for(log, container, blob):
    path = f"/{azure.AZURITE_ACCOUNT}/{container}/{blob}"
    return [r for r in log if urllib.parse.unquote(r["path"]) == path]


def main():
    with harness.Test("roundtrip") as t:
        cdir, rows = harness.corpus()
        extractor = harness.extractor_files()
        gen, sizes, named = make_sources(t)
        c = t.azurite()
        c.create_container("roundtrip")
        px = faultproxy.FaultProxy("127.0.0.1", c.port, log_path=t.path("proxy.jsonl"))
        port = px.start()
        try:
            url = f"http://127.0.0.1:{port}/{azure.AZURITE_ACCOUNT}/roundtrip/url-prefix"
            run, report = t.ingest([cdir, gen, *extractor], url, "--prefix", "run1",
                                   "--block-size", "4M", key=azure.AZURITE_KEY,
                                   label="ingest", timeout=240)
        finally:
            px.stop()
        t.check(run.rc == 0, f"ingest exit 0: {run.describe()}")

        pfx = "url-prefix/run1"
        expected = {harness.join_blob(pfx, r["name"]): os.path.join(cdir, r["name"])
                    for r in rows}
        expected.update({harness.join_blob(pfx, os.path.basename(p)): p for p in extractor})
        generated = harness.tree_blobs(gen, pfx)
        expected.update({b: p for b, p in generated.items()
                         if p in harness.pst_files(generated.values())})
        t.check(len(expected) == len(rows) + len(extractor) + len(sizes),
                f"{len(expected)} PST/OST sources expected")
        ok = t.verify_blobs(c, "roundtrip", expected)
        t.check(ok == len(expected), f"{ok}/{len(expected)} blobs byte-identical")
        rep = t.verify_report(report, expected)
        total = sum(os.path.getsize(p) for p in expected.values())
        t.check(rep.get("bytes") == total, f"report bytes {rep.get('bytes')} == {total}")

        log = px.log()
        t.check(all(r["op"] not in ("get_blob", "head", "get_block_list") or r["status"] == 200
                    for r in log), "no failed reads in the request log")
        t.check(not [r for r in log if r["status"] is None or r["status"] >= 400],
                f"no failed requests: {[r for r in log if not r['status'] or r['status'] >= 400][:3]}")
        for name, nblocks in (("tiny.pst", 0), ("header-only.pst", 0), ("one-block.pst", 0),
                              ("deep/dir/block-plus-one.ost", 2), ("big/large.pst", 26)):
            blob = harness.join_blob(pfx, name)
            kinds = [r["op"] for r in ops_for(log, "roundtrip", blob)]
            if nblocks == 0:
                t.check(kinds.count("put_blob") == 1 and "put_block" not in kinds,
                        f"{name} ({sizes[name]} bytes <= block): one Put Blob, got {kinds}")
            else:
                t.check(kinds.count("put_block") == nblocks and
                        kinds.count("put_block_list") == 1 and "put_blob" not in kinds,
                        f"{name}: {nblocks} Put Block + 1 Put Block List, got "
                        f"{kinds.count('put_block')} / {kinds.count('put_block_list')}")
                bl = c.get_block_list("roundtrip", blob, "committed")["committed"]
                want = [BLOCK] * (nblocks - 1) + [sizes[name] - BLOCK * (nblocks - 1)]
                t.check([s for _, s in bl] == want,
                        f"{name}: committed block sizes {[s for _, s in bl][-3:]} end with "
                        f"{want[-3:]} ({len(bl)} blocks)")
                t.check(len({len(i) for i, _ in bl}) == 1, f"{name}: block IDs of one length")

        # files named like PSTs without a PST header: skipped, listed, exit 1; with
        # --all-files every regular file goes up, the empty and 1-byte ones too
        c.create_container("named")
        run, report = t.ingest([named], c.container_url("named"), key=azure.AZURITE_KEY,
                               label="named", check_rc=None)
        t.check(run.rc == 1, f"*.pst/*.ost without a header: exit 1: {run.describe()}")
        t.verify_blobs(c, "named", {"real.pst": os.path.join(named, "real.pst")})
        with open(report) as f:
            skipped = {os.path.relpath(s.get("path", ""), named)
                       for s in json.load(f).get("skipped", [])}
        want = {"empty.pst", "one-byte.ost", "sub/random.pst"}
        t.check(skipped == want, f"report lists the skipped ones: {sorted(skipped)}")
        t.check(all(n in run.stderr for n in want), "stderr names the skipped ones")
        c.create_container("all-files")
        run, report = t.ingest([named], c.container_url("all-files"), "--all-files",
                               key=azure.AZURITE_KEY, label="all-files")
        t.check(run.rc == 0, f"--all-files: exit 0: {run.describe()}")
        everything = harness.tree_blobs(named)
        t.verify_blobs(c, "all-files", everything)
        t.verify_report(report, everything)

        # the key from the environment instead of --key-file
        c.create_container("from-env")
        one = os.path.join(gen, "deep/dir/block-plus-one.ost")
        run, report = t.ingest([one], c.container_url("from-env"), "--block-size", "4M",
                               env={"PSTREAM_ACCOUNT_KEY": azure.AZURITE_KEY}, label="env-key")
        t.check(run.rc == 0, f"ingest with PSTREAM_ACCOUNT_KEY: exit 0: {run.describe()}")
        t.verify_blobs(c, "from-env", {"block-plus-one.ost": one})

        # the container must exist: pstream does not create it
        run, _ = t.ingest([one], c.container_url("missing"), key=azure.AZURITE_KEY,
                          label="no-container", check_rc=None)
        t.check(run.rc in (1, 3), f"ingest into a missing container fails (1 or 3): rc {run.rc}")
        st = c.request("GET", "missing", query={"restype": "container"}, expect=None)[0]
        t.check(st == 404, f"the missing container was not created (GET {st})")


main()

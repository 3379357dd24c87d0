#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/gen-estate against its own manifest, pstream's reader and two
independent readers.

Fast (suite integration): a small estate (several mailboxes, duplicates,
whole-file copies, passwords, permute encoding, damaged files) generated
twice with different thread counts must be byte-identical; the manifest must
describe the tree (sizes, copies, total within 5 % of --size); `pstream
inspect --json` must find every file's messages, attachments, folders,
encoding and password flag, and report each damaged file's damage;
pffexport and readpst must export the messages and attachments the
manifest lists from uncorrupted files.

Slow (`slow` argument, suite slow): the same checks on a 4 GiB estate (the
writer's own slow test covers a single PST above 2 GiB), pffexport and
readpst on its two biggest undamaged files; the times are printed.

Usage: test_gen_estate.py GEN_ESTATE PSTREAM [slow]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB


def gen(t, exe, out, args, label, timeout):
    argv = [exe, "--out", out] + args
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    print(f"# {label}: {' '.join(argv)}: rc {p.returncode}, {wall:.1f} s; {p.stderr.strip()}")
    t.require(p.returncode == 0, f"{label}: gen-estate exits 0: {p.stderr[-1500:]}")
    with open(os.path.join(out, "manifest.json")) as f:
        return json.load(f), wall


def inspect(exe, path, timeout=600):
    p = subprocess.run([exe, "inspect", "--json", path], capture_output=True, text=True,
                       timeout=timeout)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
    return p.returncode, doc, p.stderr


def folder_counts(doc):
    """{path below the IPM subtree: messages} of inspect's folder list."""
    folders = doc.get("folders", [])
    top = [f for f in folders if f.get("ipm_subtree")]
    if not top:
        return None
    paths, out = {top[0]["nid"]: ""}, {}
    for f in folders:  # depth-first order: parents come first
        if f["parent"] in paths and f["nid"] not in paths:
            p = paths[f["parent"]] + ("/" if paths[f["parent"]] else "") + f["name"]
            paths[f["nid"]] = p
            out[p] = f["messages"]
    return out


def tree_files(root):
    out = {}
    for d, _, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = p
    return out


def pffexport_counts(src, target, timeout):
    """(messages, attachments) pffexport exports: Message%05d directories
    outside attachments, and the entries of their Attachments directories."""
    p = subprocess.run(["pffexport", "-q", "-t", target, src], capture_output=True, text=True,
                       timeout=timeout)
    msgs = atts = 0
    for d, dirs, files in os.walk(target + ".export"):
        parts = os.path.relpath(d, target + ".export").split(os.sep)
        if "Attachments" in parts:
            continue
        for n in dirs:
            if re.fullmatch(r"Message\d{5}", n):
                msgs += 1
                a = os.path.join(d, n, "Attachments")
                if os.path.isdir(a):
                    atts += len(os.listdir(a))
    return p.returncode, msgs, atts


def readpst_counts(src, target, timeout):
    """(messages, attachments, embedded) readpst -S writes: a file per message
    named by its number, its attachments as NUMBER-NAME, and embedded
    messages inline in their parent as message/rfc822 parts."""
    os.makedirs(target)
    p = subprocess.run(["readpst", "-S", "-D", "-q", "-j", "0", "-o", target, src],
                       capture_output=True, text=True, timeout=timeout)
    msgs = atts = emb = 0
    for d, _, files in os.walk(target):
        for n in files:
            if re.fullmatch(r"\d+", n):
                msgs += 1
                with open(os.path.join(d, n), "rb") as f:
                    emb += len(re.findall(rb"(?im)^Content-Type: message/rfc822", f.read()))
            elif re.fullmatch(r"\d+-.*", n):
                atts += 1
    return p.returncode, msgs, atts, emb


def check_manifest(t, out, m, size):
    files = m["files"]
    on_disk = tree_files(out)
    listed = {f["path"] for f in files}
    t.check(set(on_disk) - {"manifest.json"} == listed,
            f"the tree holds exactly the listed files: extra {sorted(set(on_disk) - listed)[:5]}, "
            f"missing {sorted(listed - set(on_disk))[:5]}")
    total = 0
    for f in files:
        p = os.path.join(out, f["path"])
        if not t.check(os.path.isfile(p), f"{f['path']} exists"):
            continue
        total += os.path.getsize(p)
        t.check(os.path.getsize(p) == f["size"],
                f"{f['path']}: size {os.path.getsize(p)} == manifest {f['size']}")
        t.check(re.fullmatch(r"shares/[^/]+/users/[^/]+/[^/]+\.pst", f["path"]) is not None,
                f"{f['path']}: shares/<share>/users/<user>/<name>.pst")
        if f["copy_of"]:
            t.check(harness.xxh3_128_file(p) == harness.xxh3_128_file(os.path.join(out, f["copy_of"])),
                    f"{f['path']}: byte-identical to {f['copy_of']}")
    t.check(total == m["total_size"], f"total_size {m['total_size']} is the sum {total}")
    t.check(abs(total - size) <= size * 0.05,
            f"total {total} within 5 % of --size {size} ({100 * total / size:.1f} %)")
    by_mb = {}
    for f in files:
        by_mb.setdefault(f["mailbox"], []).append(f)
    for mb in m["mailboxes"]:
        own = by_mb.get(mb["name"], [])
        written = sum(f["messages"] for f in own if not f["copy_of"])
        t.check(mb["messages"] == written and len(own) == mb["files"],
                f"mailbox {mb['name']}: {mb['files']} files, {mb['messages']} messages "
                f"== its files' ({len(own)}, {written})")
        t.check(len(mb["items"]) == mb["unique_items"] == len(set(mb["items"])) <= written,
                f"mailbox {mb['name']}: {mb['unique_items']} unique item hashes, distinct, "
                f"at most the {written} messages")
    return by_mb


def check_inspect(t, pstream, out, m):
    for f in m["files"]:
        p = os.path.join(out, f["path"])
        rc, doc, err = inspect(pstream, p)
        c = f["corrupt"]
        if c is None:
            if not t.check(rc == 0 and doc, f"{f['path']}: inspect exits 0 with JSON: rc {rc} {err[-500:]}"):
                continue
            tot = doc["totals"]
            t.check((tot["messages"], tot["attachments"], tot["embedded"]) ==
                    (f["messages"], f["attachments"], f["embedded"]),
                    f"{f['path']}: inspect messages/attachments/embedded "
                    f"{tot['messages']}/{tot['attachments']}/{tot['embedded']} == manifest "
                    f"{f['messages']}/{f['attachments']}/{f['embedded']}")
            t.check(doc["problems_total"] == 0, f"{f['path']}: no problem: {doc['problems'][:3]}")
            t.check(doc["encryption"] == f["crypt"],
                    f"{f['path']}: encryption {doc['encryption']} == {f['crypt']}")
            t.check(doc.get("password") == f["password"],
                    f"{f['path']}: password flag {doc.get('password')} == {f['password']}")
            # The manifest's folders with their counts; any other folder (the
            # writer's own Deleted Items) empty.
            got = folder_counts(doc) or {}
            want = {x["path"]: x["messages"] for x in f["folders"]}
            t.check({k: got.get(k) for k in want} == want and
                    all(v == 0 for k, v in got.items() if k not in want),
                    f"{f['path']}: messages per folder {got} == manifest {want}")
            continue
        # A damaged file: the damage must be reported, naming where it is.
        problems = doc["problems"] if doc else []
        text = err + " ".join(pr["message"] for pr in problems)
        if c["kind"] == "block-crc":
            hit = [pr for pr in problems if pr["nid"] == c["nid"]]
            t.check(rc in (0, 1) and doc and hit and "CRC" in " ".join(pr["message"] for pr in hit).upper(),
                    f"{f['path']}: a CRC problem at message node 0x{c['nid']:x} "
                    f"(block at {c['offset']}): rc {rc}, {problems[:3]} {err[-300:]}")
            if doc:
                t.check(doc["totals"]["messages"] == f["messages"] - 1,
                        f"{f['path']}: only the damaged message is lost: "
                        f"{doc['totals']['messages']} == {f['messages']} - 1")
        elif c["kind"] == "truncated":
            t.check((rc != 0 or problems) and re.search(r"(?i)beyond|past|eof|truncat|short", text),
                    f"{f['path']}: truncation at {c['offset']} reported: rc {rc}, {text[-400:]}")
        elif c["kind"] == "btree-cycle":
            t.check((rc != 0 or problems) and re.search(r"(?i)cycle|loop|depth|twice", text),
                    f"{f['path']}: B-tree cycle at page {c['offset']} reported: rc {rc}, {text[-400:]}")
        else:
            t.check(False, f"{f['path']}: unknown corruption kind {c['kind']}")


def check_item_hashes(t, exe, out, m):
    """Every message of every readable file decoded by pstream's reader
    (pst_msg_read) hashes to one of its mailbox's items; a mailbox's
    undamaged files hold all its items when none of its files is damaged."""
    items = {mb["name"]: set(mb["items"]) for mb in m["mailboxes"]}
    seen = {name: set() for name in items}
    damaged = {f["mailbox"] for f in m["files"] if f["corrupt"]}
    for f in m["files"]:
        c = f["corrupt"]
        if c and c["kind"] != "block-crc":
            continue
        p = subprocess.run([exe, "--item-hashes", os.path.join(out, f["path"])],
                           capture_output=True, text=True, timeout=600)
        got = [line.split("\t")[0] for line in p.stdout.splitlines()]
        want_n = f["messages"] - (1 if c else 0)
        t.check(p.returncode == (1 if c else 0) and len(got) == want_n,
                f"{f['path']}: the reader decodes {len(got)} messages == {want_n} "
                f"(rc {p.returncode}): {p.stderr[-300:]}")
        if c:
            t.check(f"node 0x{c['nid']:x}: " in p.stderr and "CRC" in p.stderr.upper(),
                    f"{f['path']}: the undecodable message is 0x{c['nid']:x}, a CRC error: "
                    f"{p.stderr[-300:]}")
        stray = [h for h in got if h not in items[f["mailbox"]]]
        t.check(not stray, f"{f['path']}: every decoded item's content hash is among its "
                           f"mailbox's items ({len(stray)} are not)")
        seen[f["mailbox"]].update(got)
    for name, want in items.items():
        if name not in damaged:
            t.check(seen[name] == want, f"mailbox {name}: its files hold its {len(want)} items: "
                                        f"{len(seen[name])} found")


def check_export(t, pstream, out, m):
    """pstream export: one .eml per message and the attachments of the
    manifest; a damaged block costs its message only, reported with the
    block's offset."""
    for f in m["files"]:
        c = f["corrupt"]
        if c and c["kind"] != "block-crc":
            continue
        dest = os.path.join(t.tmp, "export")
        p = subprocess.run([pstream, "export", os.path.join(out, f["path"]), "--to", dest,
                            "--quiet"], capture_output=True, text=True, timeout=600)
        base = os.path.join(dest, os.path.basename(f["path"]))
        try:
            with open(os.path.join(base, "report.json")) as fh:
                rep = json.load(fh)
        except (OSError, ValueError) as e:
            t.check(False, f"{f['path']}: export report.json: {e} rc {p.returncode} {p.stderr[-300:]}")
            continue
        emls = sum(1 for n in tree_files(base) if n.endswith(".eml"))
        atts = sum(len(x.get("attachments", [])) for x in rep["messages"])
        lost = 1 if c else 0
        t.check(p.returncode == (1 if c else 0) and len(rep["messages"]) == emls ==
                f["messages"] - lost,
                f"{f['path']}: export rc {p.returncode}, {len(rep['messages'])} messages, "
                f"{emls} .eml == {f['messages']} - {lost}")
        if not c:
            t.check(atts == f["attachments"],
                    f"{f['path']}: export lists {atts} attachments == {f['attachments']}")
        else:
            hit = [x for x in rep["skipped"] if x["nid"] == c["nid"]]
            t.check(len(hit) == 1 and hit[0]["offset"] == c["offset"] and
                    "CRC" in hit[0]["reason"].upper(),
                    f"{f['path']}: message 0x{c['nid']:x} skipped for the CRC of the block at "
                    f"{c['offset']}: {rep['skipped']}")
        shutil.rmtree(dest, ignore_errors=True)


def check_other_readers(t, out, m, picks, timeout):
    for f in picks:
        p = os.path.join(out, f["path"])
        tag = os.path.basename(f["path"]).replace(" ", "_")
        t0 = time.monotonic()
        rc, msgs, atts = pffexport_counts(p, os.path.join(t.tmp, f"pff-{tag}"), timeout)
        t1 = time.monotonic()
        t.check(rc == 0 and (msgs, atts) == (f["messages"], f["attachments"]),
                f"{f['path']} ({f['crypt']}, password {f['password']}): pffexport rc {rc}, "
                f"{msgs} messages, {atts} attachments == manifest {f['messages']}, {f['attachments']}")
        rc2, msgs2, atts2, emb2 = readpst_counts(p, os.path.join(t.tmp, f"rp-{tag}"), timeout)
        t2 = time.monotonic()
        want = (f["messages"], f["attachments"] - f["embedded"], f["embedded"])
        t.check(rc2 == 0 and (msgs2, atts2, emb2) == want,
                f"{f['path']}: readpst rc {rc2}, {msgs2} messages, {atts2} attachment files, "
                f"{emb2} embedded messages == manifest {want}")
        print(f"# {f['path']} ({f['size']} bytes, {f['crypt']}, password {f['password']}): "
              f"pffexport {t1 - t0:.1f} s, readpst {t2 - t1:.1f} s")
        shutil.rmtree(os.path.join(t.tmp, f"pff-{tag}.export"), ignore_errors=True)
        shutil.rmtree(os.path.join(t.tmp, f"rp-{tag}"), ignore_errors=True)


def corpus_args():
    args = []
    d = os.environ.get("PSTREAM_CORPUS")
    if d and os.path.isdir(d):
        args += ["--corpus", d]
    e = os.path.join(harness.node_modules(), "pst-extractor", "example", "testdata", "enron.pst")
    if os.path.isfile(e):
        args += ["--corpus", e]
    return args


def fast(t, exe, pstream):
    size = 20 * MiB
    base = ["--size", str(size), "--mailboxes", "6", "--files-per-mailbox", "3", "--seed", "6",
            "--dup-rate", "0.3", "--copy-rate", "0.25", "--corrupt-rate", "0.3",
            "--password-rate", "0.3", "--permute-rate", "0.4", "--cyclic-rate", "0.2",
            "--embedded-rate", "0.05"]
    base += corpus_args()
    a, b = t.path("a"), t.path("b")
    m, _ = gen(t, exe, a, base + ["--jobs", "2"], "estate (2 jobs)", 300)
    m2, _ = gen(t, exe, b, base + ["--jobs", "1"], "estate again (1 job)", 300)
    t.check(m == m2, "the same seed gives the same manifest whatever --jobs")
    fa, fb = tree_files(a), tree_files(b)
    t.check(sorted(fa) == sorted(fb) and all(
        harness.xxh3_128_file(fa[k]) == harness.xxh3_128_file(fb[k]) for k in fa if k in fb),
        "the same seed gives byte-identical files")
    shutil.rmtree(b)

    files = m["files"]
    t.check(len(files) == 18, f"6 mailboxes x 3 files listed: {len(files)}")
    kinds = {f["corrupt"]["kind"] for f in files if f["corrupt"]}
    t.check(any(f["copy_of"] for f in files), "some file is a whole-file copy")
    t.check(any(f["password"] for f in files), "some file has a password")
    t.check({f["crypt"] for f in files} == {"none", "permute", "cyclic"},
            "the three encodings are present")
    t.check(kinds == {"block-crc", "truncated", "btree-cycle"},
            f"every kind of damage is present: {kinds}")
    t.check(any(mb["unique_items"] < mb["messages"] for mb in m["mailboxes"]),
            "some mailbox repeats items across its files")
    t.check(sum(f["attachments"] for f in files) > 0 and sum(f["embedded"] for f in files) > 0,
            "attachments and embedded messages are present")
    check_manifest(t, a, m, size)
    check_inspect(t, pstream, a, m)
    check_item_hashes(t, exe, a, m)
    check_export(t, pstream, a, m)

    clean = [f for f in files if not f["corrupt"] and not f["copy_of"]]
    picks = []
    for want in (lambda f: f["crypt"] == "permute", lambda f: f["crypt"] == "cyclic",
                 lambda f: f["password"], lambda f: f["crypt"] == "none"):
        for f in clean:
            if want(f) and f not in picks:
                picks.append(f)
                break
    if not shutil.which("pffexport") or not shutil.which("readpst"):
        raise harness.Skip("pffexport or readpst missing (apt pff-tools pst-utils)")
    check_other_readers(t, a, m, picks[:2], 300)


def slow(t, exe, pstream):
    size = 4 * GiB
    out = t.path("big")
    m, wall = gen(t, exe, out, ["--size", str(size), "--mailboxes", "4", "--files-per-mailbox", "3",
                                "--seed", "3", "--dup-rate", "0.3", "--corrupt-rate", "0.2",
                                "--password-rate", "0.3", "--permute-rate", "0.4"] + corpus_args(),
                  "4 GiB estate", 1800)
    files = m["files"]
    print(f"# generated {m['total_size']} bytes in {len(files)} files, "
          f"{sum(f['messages'] for f in files)} messages in {wall:.1f} s")
    t.check(any(f["corrupt"] for f in files) and any(f["copy_of"] for f in files) and
            any(mb["unique_items"] < mb["messages"] for mb in m["mailboxes"]),
            "damaged files, whole-file copies and repeated items are present")
    check_manifest(t, out, m, size)
    t0 = time.monotonic()
    check_inspect(t, pstream, out, m)
    t1 = time.monotonic()
    check_item_hashes(t, exe, out, m)
    print(f"# pstream inspect: {t1 - t0:.1f} s; every message decoded and hashed: "
          f"{time.monotonic() - t1:.1f} s")
    if not shutil.which("pffexport") or not shutil.which("readpst"):
        raise harness.Skip("pffexport or readpst missing (apt pff-tools pst-utils)")
    clean = sorted((f for f in files if not f["corrupt"] and not f["copy_of"]),
                   key=lambda f: -f["size"])
    check_other_readers(t, out, m, clean[:2], 1800)


def main():
    with harness.Test("gen-estate") as t:
        if len(sys.argv) < 3 or not os.access(sys.argv[1], os.X_OK):
            raise harness.Skip("usage: test_gen_estate.py GEN_ESTATE PSTREAM [slow]")
        exe, pstream = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
        if len(sys.argv) > 3 and sys.argv[3] == "slow":
            slow(t, exe, pstream)
        else:
            fast(t, exe, pstream)


main()

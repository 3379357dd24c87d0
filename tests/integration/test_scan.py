#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pstream scan: the 42 corpus files with kind, format, wVer, encryption,
password flag, password CRC and store name equal to MANIFEST.tsv and a good
header CRC; the pst-extractor files; and a share-like tree with a non-PST
named x.pst, a text file, symlink loops, a PST without extension (found by its
header) and a PST unreadable to an unprivileged user (scanned as nobody)."""

import csv
import io
import json
import os
import shutil
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FORMATS = {"ANSI": "ansi", "UNICODE": "unicode", "UNICODE_4K": "unicode4k"}
KINDS = {"SM": "pst", "SO": "ost", "AB": "pab"}
CRYPT = {"0": "none", "1": "permute", "2": "cyclic"}


def yes(v):
    """The password flag as a bool, whether written true/false or yes/no."""
    return {True: True, False: False, "yes": True, "no": False}.get(v, v)


def crc_value(v):
    return int(v, 16) if isinstance(v, str) else v


def scan_json(t, roots, label, **kw):
    run = t.pstream(["scan", *roots, "--json"], label=label, **kw)
    try:
        doc = json.loads(run.stdout)
    except ValueError as e:
        t.check(False, f"{label}: stdout is JSON ({e}): {run.stdout[:300]!r}")
        doc = {"files": [], "skipped": []}
    return run, doc


def check_corpus(t, cdir, rows):
    run, doc = scan_json(t, [cdir], "corpus")
    t.check(run.rc == 0, f"scan of the corpus: exit 0: {run.describe()}")
    files = {os.path.basename(f["path"]): f for f in doc["files"]}
    t.check(len(doc["files"]) == len(rows) == 42,
            f"42 files listed, got {len(doc['files'])} (manifest {len(rows)})")
    for r in rows:
        f = files.get(r["name"])
        if not t.check(f is not None, f"{r['name']} listed"):
            continue
        pw = int(r["pw"], 16)
        want = {"size": int(r["size"]), "kind": KINDS[r["client"]],
                "format": FORMATS[r["kind"]], "wver": int(r["wVer"]),
                "encryption": CRYPT[r["crypt"]], "password": pw not in (0, 0xFFFFFFFF),
                "password_crc": pw, "header_crc_ok": True, "store_name": r["store"]}
        got = {k: f.get(k) for k in want}
        got["password"] = yes(got["password"])
        got["password_crc"] = crc_value(got["password_crc"])
        diff = {k: (got[k], v) for k, v in want.items() if got[k] != v}
        t.check(not diff, f"{r['name']}: (got, manifest) differ in {diff}")
    skipped = {os.path.basename(s["path"]) for s in doc["skipped"]}
    t.check({"README.md", "MANIFEST.tsv"} <= skipped,
            f"README.md and MANIFEST.tsv listed as skipped: {sorted(skipped)}")

    run = t.pstream(["scan", cdir, "--csv"], label="corpus-csv")
    t.check(run.rc == 0, f"scan --csv: exit 0: {run.describe()}")
    table = list(csv.reader(io.StringIO(run.stdout)))
    body = [row for row in table[1:] if row]
    t.check(len(body) == 42, f"--csv: header + 42 rows, got {len(body)} rows")
    names = {r["name"] for r in rows}
    t.check(all(any(os.path.basename(c) in names for c in row) for row in body),
            "--csv: every row names a corpus file")


def check_extractor(t):
    paths = harness.extractor_files()
    run, doc = scan_json(t, paths, "extractor")
    t.check(run.rc == 0, f"scan of the pst-extractor files: exit 0: {run.describe()}")
    files = {os.path.basename(f["path"]): f for f in doc["files"]}
    e = files.get("enron.pst", {})
    t.check((e.get("kind"), e.get("format"), e.get("encryption"), e.get("size")) ==
            ("pst", "unicode", "permute", 13984768),
            f"enron.pst: Unicode PST, permute, 13984768 bytes: {e}")
    for name in ("pstextractortest@outlook.com.ost", "pstextractortestpdf@outlook.com.ost"):
        o = files.get(name, {})
        t.check((o.get("kind"), o.get("format"), o.get("header_crc_ok")) ==
                ("ost", "unicode4k", True), f"{name}: OST, Unicode 4K, header CRC ok: {o}")


def make_share(t, cdir):
    """A tree like a user share.  Returns (root, {name: what it is})."""
    root = t.path("share")
    os.makedirs(os.path.join(root, "dept/sub"))
    with open(os.path.join(root, "x.pst"), "wb") as f:
        f.write(b"This is not a PST, whatever its name says.\n" * 100)
    with open(os.path.join(root, "dept/readme.txt"), "w") as f:
        f.write("notes\n")
    shutil.copyfile(os.path.join(cdir, "emk_pstsdk__sample2.pst"),
                    os.path.join(root, "dept/sub/mailbox-backup"))
    shutil.copyfile(os.path.join(cdir, "emk_pstsdk__test_unicode.pst"),
                    os.path.join(root, "dept/locked.pst"))
    for d, dirs, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    os.chmod(os.path.join(root, "dept/locked.pst"), 0)
    # let nobody reach the tree (mkdtemp made the test dir 0700)
    os.chmod(t.tmp, 0o755)
    return root


def add_loops(root):
    os.symlink("loop-b", os.path.join(root, "loop-a"))
    os.symlink("loop-a", os.path.join(root, "loop-b"))
    os.symlink("..", os.path.join(root, "dept/sub/up"))


def by_rel(entries, root):
    return {os.path.relpath(e["path"], root): e for e in entries}


def check_share(t, cdir):
    root = make_share(t, cdir)
    run, doc = scan_json(t, [root], "share-root")
    t.check(run.rc == 0, f"share as root: only 'not a PST' skips: exit 0: {run.describe()}")
    files, skipped = by_rel(doc["files"], root), by_rel(doc["skipped"], root)
    t.check(sorted(files) == ["dept/locked.pst", "dept/sub/mailbox-backup"],
            f"share as root: the two PSTs found by header: {sorted(files)}")
    f = files.get("dept/sub/mailbox-backup", {})
    t.check((f.get("format"), f.get("store_name")) == ("ansi", "sample2"),
            f"file without extension read as the ANSI PST it is: {f}")
    t.check({"x.pst", "dept/readme.txt"} <= set(skipped),
            f"x.pst and readme.txt listed as skipped: {sorted(skipped)}")

    run = t.pstream(["scan", root], label="share-text")
    t.check(run.rc == 0, f"plain output: exit 0: {run.describe()}")
    t.check("x.pst" in run.stderr and "mailbox-backup" in run.stdout,
            "plain output: PST on stdout, the skipped x.pst on stderr")

    add_loops(root)
    run, doc = scan_json(t, [root], "share-loops", timeout=60)
    files, skipped = by_rel(doc["files"], root), by_rel(doc["skipped"], root)
    t.check(run.rc in (0, 1), f"symlink loops: the scan finishes with 0 or 1: {run.describe()}")
    t.check(sorted(files) == ["dept/locked.pst", "dept/sub/mailbox-backup"],
            f"symlink loops: still exactly the two PSTs: {sorted(files)}")
    t.check({"loop-a", "loop-b", "dept/sub/up"} <= set(skipped),
            f"symlinks listed as skipped: {sorted(skipped)}")

    exe = harness.pstream_bin()
    if not os.stat(exe).st_mode & stat.S_IXOTH:
        raise harness.Failure(f"{exe} is not executable by others; cannot run it as nobody")
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        print("not root (or no setpriv): the unreadable-file case is skipped")
        return
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe]
    run = t.pstream([], label="share-nobody", timeout=60, argv=nobody + ["scan", root, "--json"])
    try:
        doc = json.loads(run.stdout)
    except ValueError:
        doc = {"files": [], "skipped": []}
    files, skipped = by_rel(doc["files"], root), by_rel(doc["skipped"], root)
    t.check(run.rc == 1, f"as nobody: an unreadable file makes exit 1: {run.describe()}")
    t.check(sorted(files) == ["dept/sub/mailbox-backup"],
            f"as nobody: only the readable PST listed: {sorted(files)}")
    s = skipped.get("dept/locked.pst", {})
    t.check(bool(s.get("reason")), f"as nobody: locked.pst skipped with a reason: {s}")


def main():
    with harness.Test("scan") as t:
        cdir, rows = harness.corpus()
        check_corpus(t, cdir, rows)
        check_extractor(t)
        check_share(t, cdir)


main()

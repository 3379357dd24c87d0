#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-export.sh - `pstream export`: usage and exit codes (0 all exported,
# 1 skipped items or problems, 2 usage, 3 FILE unreadable or not a PST);
# on real files (the corpus and pst-extractor's, skipped when absent) the
# layout of the export contract (<folder path>/<NID>.eml, sanitised
# unique folder names), report.json against the files on disk (every .eml
# listed exists and parses as MIME with CRLF line ends, with the listed
# attachments; nothing unlisted), the message and folder counts against
# `pstream inspect`, the same bytes with one job or several, "NAME (2)" for
# a second input of the same name, and --orphans on a copy of a real file
# whose node B-tree entry of one message was renumbered (so its folder
# lists a message the B-tree lacks, and the B-tree holds one no folder
# lists).
set -uo pipefail
exe=$1
src=${PSTREAM_SOURCE_ROOT:?}
corpus=${PSTREAM_CORPUS:-/nonexistent}
nm=${PSTREAM_NODE_MODULES:-/nonexistent}
tmp=$(mktemp -d /tmp/pstream-export-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

help=$("$exe" export --help) # captured: grep -q may close a pipe early (SIGPIPE)
grep -q '^Usage: pstream export FILE... --to DIR' <<<"$help" || { echo "no --help"; fail=1; }
"$exe" export >/dev/null 2>&1; [ $? -eq 2 ] || { echo "nothing: exit should be 2"; fail=1; }
"$exe" export "$src/meson.build" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "no --to: exit should be 2"; fail=1; }
"$exe" export --to "$tmp/u" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "no FILE: exit should be 2"; fail=1; }
"$exe" export --jobs 0 x --to "$tmp/u" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "--jobs 0: exit should be 2"; fail=1; }
"$exe" export --bogus x --to "$tmp/u" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown option: exit should be 2"; fail=1; }
"$exe" export -q /nonexistent --to "$tmp/u" >/dev/null 2>&1; [ $? -eq 3 ] || { echo "missing file: exit should be 3"; fail=1; }
"$exe" export -q "$src/meson.build" --to "$tmp/u" >/dev/null 2>&1; [ $? -eq 3 ] || { echo "not a PST: exit should be 3"; fail=1; }

files=()
for f in "$corpus"/*.pst "$nm"/pst-extractor/example/testdata/*.pst "$nm"/pst-extractor/example/testdata/*.ost; do
        [ -r "$f" ] && files+=("$f")
done
if [ ${#files[@]} -eq 0 ]; then
        echo "# no corpus and no pst-extractor files: real-file export not checked"
        exit $fail
fi

# check.py OUTDIR FILE INSPECT_JSON: the layout and report.json of one exported file.
cat >"$tmp/check.py" <<'EOF'
import email, email.policy, json, os, re, sys
out, path, inspect = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
rep = json.load(open(os.path.join(out, "report.json")))
errs = []
def err(m):
    errs.append(m)
if rep["file"] != path: err("file %r" % rep["file"])
if rep["format"] != inspect["format"] or rep["crypt"] != inspect["encryption"]:
    err("format/crypt %s/%s vs inspect %s/%s" % (rep["format"], rep["crypt"], inspect["format"], inspect["encryption"]))
folders = {f["nid"]: f for f in rep["folders"]}
if len(rep["folders"]) != inspect["totals"]["folders"]: err("%d folders, inspect %d" % (len(rep["folders"]), inspect["totals"]["folders"]))
# Folder paths: unique, sanitised components, each under its parent's.
paths = [f["path"] for f in rep["folders"]]
if len(set(paths)) != len(paths): err("folder paths not unique")
for f in rep["folders"]:
    for c in f["path"].split("/") if f["path"] else []:
        if c in (".", "..") or re.search(r"[\x00-\x1f\\\\]", c) or len(c.encode()) > 200 + 8: err("component %r" % c)
    if f["path"] and not os.path.isdir(os.path.join(out, f["path"])): err("no directory %r" % f["path"])
listed = set()
msgs = [m for m in rep["messages"] if not m["orphan"]]
if len(msgs) != inspect["totals"]["messages"]: err("%d messages, inspect %d" % (len(msgs), inspect["totals"]["messages"]))
for f in rep["folders"]:
    n = sum(1 for m in msgs if m["folder_nid"] == f["nid"])
    if n != f["exported"]: err("folder %r: exported %d, listed %d" % (f["path"], f["exported"], n))
for m in rep["messages"]:
    d = "_orphans" if m["orphan"] else folders[m["folder_nid"]]["path"]
    want = (d + "/" if d else "") + "%08x.eml" % m["nid"]
    if m["eml"] != want: err("eml %r, layout says %r" % (m["eml"], want))
    listed.add(m["eml"])
    raw = open(os.path.join(out, m["eml"]), "rb").read()
    if re.search(rb"(?<!\r)\n", raw): err("%s: a bare LF" % m["eml"])
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.defects: err("%s: MIME defects %s" % (m["eml"], msg.defects))
    # Attachment parts: those with a Content-Disposition, through the
    # multiparts but not into embedded messages (bodies have none).
    parts, todo = [], [msg]
    while todo:
        p = todo.pop(0)
        if p.is_multipart() and p.get_content_maintype() == "multipart":
            todo[0:0] = p.get_payload()
        elif p is not msg and p.get("Content-Disposition"):
            parts.append(p)
    if len(parts) != len(m["attachments"]):
        err("%s: %d attachment parts, report %d" % (m["eml"], len(parts), len(m["attachments"])))
    n_emb = sum(1 for p in parts if p.get_content_type() == "message/rfc822")
    if n_emb != sum(1 for a in m["attachments"] if a["method"] == 5): err("%s: %d message/rfc822 parts" % (m["eml"], n_emb))
    sizes = sorted(len(p.get_payload(decode=True) or b"") for p in parts if p.get_content_type() != "message/rfc822")
    want = sorted(a["size"] for a in m["attachments"] if a["method"] in (0, 1))
    if [s for s in sizes if s in want] != want and want:
        err("%s: attachment sizes %s, report %s" % (m["eml"], sizes[:5], want[:5]))
    if m["embedded"] < sum(1 for a in m["attachments"] if a["method"] == 5): err("%s: embedded count" % m["eml"])
on_disk = set()
for root, dirs, names in os.walk(out):
    for n in names:
        if n.endswith(".eml"): on_disk.add(os.path.relpath(os.path.join(root, n), out))
if on_disk != listed: err("files not listed: %s; listed, not on disk: %s" % (sorted(on_disk - listed)[:3], sorted(listed - on_disk)[:3]))
if rep["skipped"] or rep["problems"]: err("skipped %s problems %s" % (rep["skipped"][:2], rep["problems"][:2]))
for e in errs[:20]: print("# %s: %s" % (os.path.basename(path), e))
sys.exit(1 if errs else 0)
EOF

n_files=0
for f in "${files[@]}"; do
        b=$(basename "$f")
        "$exe" export -q "$f" --to "$tmp/out" >/dev/null 2>"$tmp/err"; rc=$?
        [ $rc -eq 0 ] || { echo "$b: exit $rc, should be 0: $(head -3 "$tmp/err")"; fail=1; continue; }
        ins=$("$exe" inspect --json "$f")
        python3 "$tmp/check.py" "$tmp/out/$b" "$f" "$ins" || { echo "$b: report or layout wrong"; fail=1; }
        n_files=$((n_files + 1))
done
echo "# $n_files files exported and checked"

# Deterministic and independent of the thread count.
f=${files[0]}
for f in "${files[@]}"; do case $f in *enron.pst|*quickbrownfox*) break ;; esac; done
b=$(basename "$f")
"$exe" export -q -j1 "$f" --to "$tmp/j1" && "$exe" export -q -j3 "$f" --to "$tmp/j3" ||
        { echo "$b: -j1/-j3 export failed"; fail=1; }
diff -r "$tmp/j1" "$tmp/j3" >/dev/null || { echo "$b: -j1 and -j3 differ"; fail=1; }

# A second input of the same base name.
mkdir -p "$tmp/a" "$tmp/b"
cp "$f" "$tmp/a/same.pst" && cp "$f" "$tmp/b/same.pst"
"$exe" export -q "$tmp/a/same.pst" "$tmp/b/same.pst" --to "$tmp/two"; rc=$?
[ $rc -eq 0 ] && [ -f "$tmp/two/same.pst/report.json" ] && [ -f "$tmp/two/same.pst (2)/report.json" ] ||
        { echo "same base name: exit $rc, $(ls "$tmp/two" | tr '\n' ' ')"; fail=1; }
d=$(diff -r "$tmp/two/same.pst" "$tmp/two/same.pst (2)")
grep -v '"file"' <<<"$d" | grep '^[<>]' >/dev/null && { echo "same file exported twice differs beyond its name"; fail=1; }

# --orphans: renumber one message's NBT entry in a copy (NBT pages are
# never encoded, so only the page CRC needs fixing).
orphan_src=""
for f in "${files[@]}"; do case $f in *quickquick.pst|*enron.pst) orphan_src=$f; break ;; esac; done
if [ -n "$orphan_src" ]; then
        cp "$orphan_src" "$tmp/orph.pst"
        moved=$(python3 - "$tmp/orph.pst" <<'EOF'
import struct, sys, zlib
p = sys.argv[1]; d = bytearray(open(p, "rb").read())
assert struct.unpack_from("<H", d, 10)[0] >= 23, "Unicode files only"
def crc(b): return zlib.crc32(b, 0xFFFFFFFF) ^ 0xFFFFFFFF  # PST CRC: init 0, no final xor
def leaves(ib):
    cent, cbent, level = d[ib + 488], d[ib + 490], d[ib + 491]
    for i in range(cent):
        e = ib + i * cbent
        if level: yield from leaves(struct.unpack_from("<Q", d, e + 16)[0])
        else: yield ib, i, cent, cbent
root = struct.unpack_from("<Q", d, 216 + 8)[0]
ents = [(ib + i * cbent, struct.unpack_from("<Q", d, ib + i * cbent)[0], ib) for ib, i, cent, cbent in leaves(root)]
for k, (e, nid, ib) in enumerate(ents):
    # The next message NID (index + 1) must still sort before the next key.
    if nid & 0x1F == 0x04 and (k + 1 == len(ents) or ents[k + 1][1] > nid + 0x20):
        struct.pack_into("<Q", d, e, nid + 0x20)
        struct.pack_into("<I", d, ib + 496 + 4, crc(bytes(d[ib:ib + 496])))
        open(p, "wb").write(d); print(nid, nid + 0x20); break
EOF
)
        if [ -z "$moved" ]; then
                echo "no message to renumber in $(basename "$orphan_src")"; fail=1
        else
                read -r old new <<<"$moved"
                "$exe" export -q "$tmp/orph.pst" --to "$tmp/o1"; rc=$?
                [ $rc -eq 1 ] || { echo "renumbered message: exit $rc, should be 1 (skipped)"; fail=1; }
                [ -e "$tmp/o1/orph.pst/_orphans" ] && { echo "_orphans/ without --orphans"; fail=1; }
                "$exe" export -q --orphans "$tmp/orph.pst" --to "$tmp/o2"; rc=$?
                [ $rc -eq 1 ] || { echo "--orphans: exit $rc, should be 1"; fail=1; }
                "$exe" export -q "$orphan_src" --to "$tmp/o0"
                python3 - "$tmp/o2/orph.pst" "$tmp/o0/$(basename "$orphan_src")" "$old" "$new" <<'EOF' || { echo "--orphans report wrong"; fail=1; }
import email, json, os, sys
out, ref, old, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rep, r0 = json.load(open(out + "/report.json")), json.load(open(ref + "/report.json"))
orph = [m for m in rep["messages"] if m["orphan"]]
assert [m["nid"] for m in orph] == [new], orph
assert orph[0]["eml"] == "_orphans/%08x.eml" % new and os.path.isfile(out + "/" + orph[0]["eml"])
# The folder still lists the old NID: skipped, saying why.
assert any(p["nid"] == old and "not in the NBT" in p["reason"] for p in rep["skipped"]), rep["skipped"]
was = [m for m in r0["messages"] if m["nid"] == old][0]
assert (orph[0]["subject"], orph[0]["class"], orph[0]["attachments"]) == (was["subject"], was["class"], was["attachments"])
# The .eml depends on the message only, not on its NID or folder.
assert open(out + "/" + orph[0]["eml"], "rb").read() == open(ref + "/" + was["eml"], "rb").read()
assert len(rep["messages"]) == len(r0["messages"])
EOF
        fi
else
        echo "# no Unicode corpus file to make an orphan from: --orphans not checked"
fi
exit $fail

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-inspect.sh - `pstream inspect`: exit codes (0 clean, 1 problems, 2
# usage, 3 undecodable), the text and JSON reports on a synthetic store
# without folders, and on enron.pst (pst-extractor, when installed) the
# folder tree and totals checked against pst-extractor's own counts.
set -uo pipefail
exe=$1
src=${PSTREAM_SOURCE_ROOT:?}
fail=0

help=$("$exe" inspect --help) # captured: grep -q may close a pipe early (SIGPIPE)
grep -q '^Usage: pstream inspect FILE' <<<"$help" || { echo "no --help"; fail=1; }
"$exe" inspect >/dev/null 2>&1; [ $? -eq 2 ] || { echo "no FILE: exit should be 2"; fail=1; }
"$exe" inspect a b >/dev/null 2>&1; [ $? -eq 2 ] || { echo "two FILEs: exit should be 2"; fail=1; }
"$exe" inspect /nonexistent >/dev/null 2>&1; [ $? -eq 3 ] || { echo "missing file: exit should be 3"; fail=1; }
"$exe" inspect "$src/meson.build" >/dev/null 2>&1; [ $? -eq 3 ] || { echo "not a PST: exit should be 3"; fail=1; }

# The generator's files hold a message store and nothing else.
out=$("$exe" inspect "$src/tests/data/pst/unicode-permute.pst"); rc=$?
echo "$out"
[ $rc -eq 1 ] || { echo "store without folders: exit $rc, should be 1"; fail=1; }
grep -q '^store name:  Personal Folders$' <<<"$out" || { echo "store name missing"; fail=1; }
grep -q '^password:    yes$' <<<"$out" || { echo "password flag missing"; fail=1; }
grep -q 'node 0x122: root folder 0x122 is not in the NBT' <<<"$out" || { echo "root problem missing"; fail=1; }
json=$("$exe" inspect --json "$src/tests/data/pst/ansi-permute.pst")
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["format"]=="ansi" and d["problems_total"]==1 and d["problems"][0]["nid"]==0x122, d' <<<"$json" ||
        { echo "JSON report wrong"; fail=1; }

enron=${PSTREAM_NODE_MODULES:-/nonexistent}/pst-extractor/example/testdata/enron.pst
if [ -r "$enron" ]; then
        out=$("$exe" inspect "$enron"); rc=$?
        echo "$out"
        [ $rc -eq 0 ] || { echo "enron.pst: exit $rc, should be 0"; fail=1; }
        grep -q '^          Personal \[0x8122\] messages 47, FAI 0$' <<<"$out" || { echo "enron.pst: Personal folder wrong"; fail=1; }
        "$exe" inspect --json "$enron" |
                python3 -c 'import json,sys; d=json.load(sys.stdin); t=d["totals"]; assert (t["folders"],t["messages"],t["fai"],t["attachments"],t["embedded"])==(11,71,0,70,0) and d["problems"]==[], t' ||
                { echo "enron.pst: JSON totals wrong"; fail=1; }
else
        echo "# enron.pst not installed: real-file report not checked"
fi
exit $fail

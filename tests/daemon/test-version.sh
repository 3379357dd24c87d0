#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-version.sh - `pstream --version` names the allocator actually linked
# (jemalloc must survive meson's --as-needed in a normal build), the
# liburing and curl versions and the TLS backend; usage errors exit 2.
set -uo pipefail
exe=$1
allocator=$2  # what meson configured: jemalloc or libc

out=$("$exe" --version) || { echo "--version failed"; exit 1; }
echo "$out"
fail=0
grep -q '^pstream [0-9]' <<<"$out" || { echo "no version line"; fail=1; }
grep -q '^liburing: 2\.' <<<"$out" || { echo "no liburing version"; fail=1; }
grep -q '^curl: [0-9]' <<<"$out" || { echo "no curl version"; fail=1; }
grep -qi '^tls: .*openssl' <<<"$out" || { echo "TLS backend is not OpenSSL"; fail=1; }
if [ "$allocator" = jemalloc ]; then
        grep -q '^allocator: jemalloc [0-9]' <<<"$out" || { echo "jemalloc not answering"; fail=1; }
        libs=$(ldd "$exe")
        grep -q 'libjemalloc' <<<"$libs" || { echo "jemalloc not linked"; fail=1; }
else
        grep -q '^allocator: libc' <<<"$out" || { echo "allocator should be libc"; fail=1; }
fi

"$exe" >/dev/null 2>&1; [ $? -eq 2 ] || { echo "no command: exit should be 2"; fail=1; }
"$exe" bogus >/dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown command: exit should be 2"; fail=1; }
"$exe" ingest /nonexistent >/dev/null 2>&1; [ $? -eq 2 ] || { echo "ingest without --to: exit should be 2"; fail=1; }
"$exe" ingest /tmp --to http://127.0.0.1:1/devstoreaccount1/c --key secret >/dev/null 2>&1
[ $? -eq 2 ] || { echo "--key on argv must be refused with 2"; fail=1; }
"$exe" ingest /tmp --to http://127.0.0.1:1/devstoreaccount1/c --block-size 1k >/dev/null 2>&1
[ $? -eq 2 ] || { echo "bad --block-size: exit should be 2"; fail=1; }
# Captured first: grep -q closing the pipe early would SIGPIPE a long help.
help=$("$exe" scan --help); grep -q 'Usage: pstream scan' <<<"$help" || { echo "scan --help"; fail=1; }
help=$("$exe" ingest --help); grep -q 'Usage: pstream ingest' <<<"$help" || { echo "ingest --help"; fail=1; }
help=$("$exe" daemon --help); grep -q 'Usage: pstream daemon' <<<"$help" || { echo "daemon --help"; fail=1; }
help=$("$exe" status --help); grep -q 'Usage: pstream status' <<<"$help" || { echo "status --help"; fail=1; }
exit $fail

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fuzz.sh - build every fuzz target with clang + libFuzzer + ASan/UBSan and
# run each for a bounded time, starting from its committed seed corpus.
# Crashes are written to build-fuzz/artifacts/<target>/; minimise them with
# the target's -minimize_crash=1 and commit them to tests/data/fuzz/<name>/.
#
#   tools/fuzz.sh [--seconds N] [--results FILE.json] [TARGET...]
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
seconds=60
results=build-fuzz/fuzz-results.json
targets=()
while [ $# -gt 0 ]; do
        case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        *) targets+=("$1"); shift ;;
        esac
done

tools/bootstrap.sh
if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz -Dfuzz=libfuzzer -Db_sanitize=address,undefined \
                -Db_lundef=false -Dallocator=libc >/dev/null || exit 1
fi
ninja -C build-fuzz >/dev/null || exit 1

if [ ${#targets[@]} -eq 0 ]; then
        for t in build-fuzz/tests/fuzz/fuzz-*; do
                [ -f "$t" ] && [ -x "$t" ] && targets+=("$(basename "$t")")
        done
fi

mkdir -p "$(dirname "$results")"
: >"$results"
rc=0
for t in "${targets[@]}"; do
        name=${t#fuzz-}
        work=build-fuzz/corpus/$name
        art=build-fuzz/artifacts/$name/
        mkdir -p "$work" "$art"
        [ -d "tests/data/fuzz/$name" ] && cp -n tests/data/fuzz/"$name"/* "$work"/ 2>/dev/null
        log=build-fuzz/$t.log
        if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                build-fuzz/tests/fuzz/"$t" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=512 \
                -artifact_prefix="$art" -print_final_stats=1 "$work" >"$log" 2>&1; then
                result=OK
        else
                result=FAIL
                rc=1
                echo "fuzz: $t found a problem; see $log and $art" >&2
                tail -n 30 "$log" >&2
        fi
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz: $t ${seconds}s ${execs:-?} runs ${cov:-} -> $result" >&2
        printf '{"name": "libfuzzer %s", "result": "%s"}\n' "$t" "$result" >>"$results"
done
exit $rc

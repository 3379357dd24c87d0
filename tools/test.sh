#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - set up, build and run pstream's whole test suite: unit tests of
# every module, the fuzz corpora, and the integration suite against a real
# Azurite.  Ends with the line "N passed, N failed, N skipped".
#
#   tools/test.sh [BUILD_DIR] [-- extra meson test arguments]
#
# Environment: PSTREAM_MESON_SETUP="-Db_sanitize=address,undefined" and the
# like are passed to meson setup (CI uses this for the sanitizer run).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
build=${1:-build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

tools/bootstrap.sh

# shellcheck disable=SC2086
if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" ${PSTREAM_MESON_SETUP:-} >/dev/null
fi
ninja -C "$build" >/dev/null

rc=0
meson test -C "$build" --print-errorlogs "$@" || rc=$?
python3 tools/test-summary.py "$build/meson-logs/testlog.json"
exit $rc

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - set up, build, start a local Azurite and ingest a sample estate of
# real PST/OST files into it, then verify every blob byte for byte.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
tools/bootstrap.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec python3 tools/demo.py build/daemon/pstream

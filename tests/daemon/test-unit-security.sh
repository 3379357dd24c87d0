#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-unit-security.sh - the shipped unit conf/pstream.service keeps its
# hardening (docs/RELIABILITY.md §5.4): `systemd-analyze security --offline`
# rates its exposure at 1.2 or better (it was 1.8 before the last tightening),
# and it keeps Type=notify, the watchdog, the SAS through LoadCredential and
# reload by SIGHUP.  Exit 77 where systemd-analyze has no --offline (< 250).
set -uo pipefail
unit=$1

if ! command -v systemd-analyze >/dev/null; then
        echo "SKIP: no systemd-analyze"
        exit 77
fi
help=$(systemd-analyze security --help 2>&1)
if ! grep -q -- '--offline' <<<"$help" || ! grep -q -- '--threshold' <<<"$help"; then
        echo "SKIP: systemd-analyze security has no --offline/--threshold"
        exit 77
fi

fail=0
out=$(systemd-analyze security --offline=yes --threshold=12 "$unit" 2>&1)
rc=$?
overall=$(grep 'Overall exposure' <<<"$out")
echo "$overall"
[ $rc -eq 0 ] || { echo "exposure above 1.2:"; grep '✗' <<<"$out"; fail=1; }
text=$(cat "$unit")
for want in '^Type=notify$' '^WatchdogSec=' '^LoadCredential=azure-sas:' '^ExecReload=.*-HUP' \
            '^NoNewPrivileges=yes$' '^ProtectSystem=strict$' '^SystemCallFilter=@system-service$'; do
        grep -q -- "$want" <<<"$text" || { echo "unit lacks $want"; fail=1; }
done
exit $fail

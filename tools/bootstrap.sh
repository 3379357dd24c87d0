#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bootstrap.sh - install everything pstream's build, tests, demo and benchmarks
# need on Debian 12, as root.  Idempotent: packages already present are not
# touched, and npm installs exactly what package-lock.json pins.
#
#   tools/bootstrap.sh            build + test + demo dependencies
#   tools/bootstrap.sh --bench    also the benchmark peers' system packages
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

debs=(
        # build
        build-essential meson ninja-build pkg-config
        liburing-dev libcurl4-openssl-dev libssl-dev libxxhash-dev libjemalloc-dev
        libsqlite3-dev zlib1g-dev libsystemd-dev libinih-dev
        # tests: unit framework, sanitizer/fuzzer runtimes, independent PST readers,
        # Node for Azurite, openssl for test certificates, valgrind headers
        libcmocka-dev clang libclang-rt-14-dev pff-tools pst-utils nodejs npm openssl
        python3 valgrind ca-certificates
        # benchmarks: AzCopy's runtime dependency, the null blob sink, plots
        libsecret-1-0 nginx-light libnginx-mod-http-echo gnuplot-nox
)

missing=()
for p in "${debs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
                missing+=("$p")
        fi
done
# Debian's nodejs is 18; a machine that already has Node >= 18 from elsewhere
# keeps it (Azurite 3.35.0 needs >= 10, runs on 20).
if command -v node >/dev/null && command -v npm >/dev/null; then
        missing=("${missing[@]/nodejs}")
        missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
        echo "bootstrap: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# nginx-light starts a default server on port 80 on install; the benchmark runs
# its own instance, so the packaged one is not needed.
if systemctl is-active --quiet nginx 2>/dev/null; then
        systemctl stop nginx || true
fi

if [ ! -f node_modules/.package-lock.json ] || ! cmp -s <(sed -n '/"packages"/,$p' package-lock.json | md5sum) \
        <(cat node_modules/.pstream-lock.md5 2>/dev/null); then
        echo "bootstrap: npm ci (azurite, azcopy, pst-extractor)" >&2
        npm ci --no-audit --no-fund --loglevel=error >/dev/null
        sed -n '/"packages"/,$p' package-lock.json | md5sum >node_modules/.pstream-lock.md5
fi
# The AzCopy package ships its binary without the executable bit.
find node_modules/@azure-tools -type f -name 'azcopy_linux_*' -exec chmod +x {} + 2>/dev/null || true
echo "bootstrap: ok" >&2

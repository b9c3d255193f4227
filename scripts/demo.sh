#!/usr/bin/env bash
# The README's first command: install dependencies, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[[ -d build ]] || meson setup build >/dev/null
ninja -C build >/dev/null
exec build/core/modvm run "${1:-etc/modvm.conf}"

#!/usr/bin/env bash
# The README's first command: install dependencies, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The demo needs no test suite: -Dtests=false (scripts/test.sh builds its own).
[[ -d build ]] || meson setup build -Dtests=false >/dev/null
ninja -C build >/dev/null
exec build/core/modvm run "${1:-etc/modvm.conf}"

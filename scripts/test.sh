#!/usr/bin/env bash
# The test command from the README: sets the machine up if needed, runs every test in the
# workspace (unit, property, integration, tidy), then a short run of every fuzz target when a
# nightly toolchain is present, and ends with one line totalling the tests run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/setup.sh
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
./scripts/fuzz.sh smoke

# cargo prints one "test result:" line per test binary; add them up.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"

#!/usr/bin/env bash
# The test command from the README: sets the machine up if needed, then runs every test in the
# workspace (unit, property, integration, tidy) and a short run of every fuzz target when cargo-fuzz
# and a nightly toolchain are present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/setup.sh
cargo test --workspace --locked "$@"
./scripts/fuzz.sh smoke

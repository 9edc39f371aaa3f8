#!/usr/bin/env bash
# The README's main-job command: sets the machine up if needed, builds in release mode and runs
# `lockstep demo` (see `lockstep demo --help` for its options).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/setup.sh
cargo run --release --locked --quiet -- demo "$@"

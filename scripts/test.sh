#!/usr/bin/env bash
# Everything CI checks: formatting, lints, unit and integration tests on the shared data.
# Data: ../shared/data beside this repository, or AVISO_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build test
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test

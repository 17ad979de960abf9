#!/usr/bin/env bash
# Everything CI checks: formatting, lints, unit and integration tests on the shared data.
# Data: ../shared/data beside this repository, or AVISO_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build test
export PATH="$HOME/.cargo/bin:$PATH"
# Snapshots (insta): a changed output fails, and nothing is written or accepted here
# (insta's own default writes .snap.new files outside CI; review and accept them by hand).
export INSTA_UPDATE=no
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The API docs build without a broken or private link (about 30 s after clippy).
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib
cargo test

#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, conformance and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked 2>&1

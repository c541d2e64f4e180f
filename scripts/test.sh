#!/usr/bin/env bash
# The test command (README): format, lints with warnings denied, every test, and the
# official Jules SDK's normal flow against jules-fake.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
tests/sdk/run.sh

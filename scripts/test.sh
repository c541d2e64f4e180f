#!/usr/bin/env bash
# The test command (README): format, lints with warnings denied, every test, the official
# Jules SDK's flow against jules-fake, and the workflow/action/Dockerfile linters.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
tests/sdk/run.sh
scripts/lint-action.sh

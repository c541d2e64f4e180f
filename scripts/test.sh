#!/usr/bin/env bash
# The test command (README): format, lints with warnings denied, every test, the official
# Jules SDK's flow against jules-fake, and the workflow/action/Dockerfile linters.
# It installs what it needs that is not a system package, inside the checkout (git-ignored):
# the pinned linters into .tools/ (scripts/tools.sh, first, so a failed install shows before
# the long cargo runs) and the SDK into tests/sdk/node_modules (tests/sdk/run.sh). It needs
# from the machine Rust with rustfmt and clippy, python3, and Node.js with npm (.ci/run adds
# rustfmt, clippy, node and npm where missing).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
tests/sdk/run.sh
scripts/lint-action.sh

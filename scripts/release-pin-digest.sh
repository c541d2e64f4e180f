#!/usr/bin/env bash
# Points action.yml at one pushed image, by digest: replaces the `image:` line of its `runs:`
# section with `image: "docker://REF"`. The release workflow (.github/workflows/release.yml)
# runs it after the push and commits the result as the release commit it tags vX.Y.Z
# (docs/release.md). On main, action.yml keeps `image: "Dockerfile"`.
#
#   scripts/release-pin-digest.sh ghcr.io/OWNER/NAME@sha256:<64 hex digits> [ACTION_YML]
set -euo pipefail

ref=${1:?usage: scripts/release-pin-digest.sh REGISTRY/OWNER/NAME@sha256:DIGEST [ACTION_YML]}
file=${2:-"$(dirname "$0")/../action.yml"}

die() { echo "release-pin-digest: $*" >&2; exit 1; }

# A digest, never a tag: lower-case registry and path (as registries require), sha256 digest.
if ! [[ $ref =~ ^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$ ]]; then
  die "'$ref' is not REGISTRY/OWNER/NAME@sha256:<64 lower-case hex digits>"
fi
[ -f "$file" ] || die "$file not found"

line="  image: \"docker://$ref\""
tmp=$(mktemp "$file.XXXXXX")
trap 'rm -f "$tmp"' EXIT

# Only the `image:` key directly under `runs:` (two-space indent), exactly once.
awk -v line="$line" '
  /^[^[:space:]#]/ { in_runs = ($0 ~ /^runs:[[:space:]]*$/) }
  in_runs && /^  image:/ { print line; replaced++; next }
  { print }
  END { if (replaced != 1) exit 3 }
' "$file" >"$tmp" || die "expected exactly one 'image:' line under 'runs:' in $file"

grep -q '^  using: "\{0,1\}docker"\{0,1\}[[:space:]]*$' "$tmp" ||
  die "$file does not describe a Docker container action (runs.using: docker)"

cat "$tmp" >"$file"
echo "release-pin-digest: $file runs docker://$ref"

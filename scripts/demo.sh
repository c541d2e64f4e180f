#!/usr/bin/env bash
# Runs jules-bridge end to end with no Jules account: starts `jules-fake` on loopback and drives
# one session through the CLI: create (plan approval required, auto PR), watch until the plan
# is ready, approve it, watch until COMPLETED with a pull request URL.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bins --workspace
bin=target/debug

fake_out=$(mktemp)
"$bin/jules-fake" --listen 127.0.0.1:0 --step-ms "${STEP_MS:-300}" --api-key demo-key >"$fake_out" &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true; rm -f "$fake_out"' EXIT

for _ in $(seq 100); do
  grep -q 'listening on' "$fake_out" && break
  sleep 0.1
done
url=$(sed -n 's/^jules-fake listening on //p' "$fake_out")
[ -n "$url" ] || { echo "jules-fake did not start" >&2; exit 1; }
echo "== jules-fake at $url"

export JULES_API_URL="$url" JULES_API_KEY=demo-key
jb() { echo "\$ jules-bridge jules $*" >&2; "$bin/jules-bridge" jules "$@"; }

id=$(jb --json sessions create --prompt "Fix the off-by-one in the pager" \
  --source octo-org/octo-repo --branch main --require-plan-approval --auto-pr |
  sed -n 's/^  "id": "\(.*\)",\{0,1\}$/\1/p')
echo "== created session $id"
jb activities watch "$id" --until waiting --poll-ms 200
jb sessions approve "$id"
jb activities watch "$id" --poll-ms 200
jb sessions get "$id"

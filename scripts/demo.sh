#!/usr/bin/env bash
# The main job, end to end on the embedded default, with no Jules account and no GitHub:
# starts jules-fake and github-fake on loopback, runs `jules-bridge serve` on a SQLite file,
# checks /healthz, then plays a conversation with signed webhook deliveries made from real
# payloads: label an issue -> the status comment shows the plan -> `/jules approve <plan>` ->
# the relay reports progress and the pull request link. Ends with the Jules CLI's view.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --bins --workspace
bin=target/debug
work=$(mktemp -d)
# Every background process's pid, one a line (a file: `start` runs in a subshell).
pids="$work/pids"
: >"$pids"
cleanup() {
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$pids"
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME COMMAND...: runs it in the background and waits for "listening on URL".
start() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  echo $! >>"$pids"
  for _ in $(seq 150); do
    grep -q 'listening on' "$work/$name.out" && break
    sleep 0.1
  done
  sed -n 's/^.*listening on //p' "$work/$name.out" | head -n 1
}

repo=Codertocat/Hello-World
jules_url=$(start jules-fake "$bin/jules-fake" --listen 127.0.0.1:0 --step-ms "${STEP_MS:-400}" --api-key demo-key)
github_url=$(start github-fake "$bin/github-fake" --permission "$repo:Codertocat:admin" \
  --actions-token demo-token --actions-token demo --issue "$repo#1")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bridge=http://127.0.0.1:$port
echo "== jules-fake $jules_url, github-fake $github_url"

export WEBHOOK_SECRET=demo-secret JULES_API_KEY=demo-key GITHUB_TOKEN=demo-token
LISTEN=127.0.0.1:$port DATABASE_URL="sqlite:$work/jules-bridge.db" GITHUB_API_URL=$github_url \
  JULES_API_URL=$jules_url RELAY_FAST_MS=300 RELAY_SLOW_MS=1000 RUST_LOG=info \
  "$bin/jules-bridge" serve >"$work/serve.out" 2>"$work/serve.log" &
echo $! >>"$pids"
for _ in $(seq 150); do curl -sf "$bridge/healthz" >/dev/null && break; sleep 0.1; done
echo "== jules-bridge serve on $bridge (SQLite): /healthz says $(curl -sf "$bridge/healthz")"

# deliver EVENT FIXTURE JSON-PATCH: a real payload with fields replaced, signed like GitHub.
deliver() {
  python3 - "$1" "tests/fixtures/webhooks/$2" "$3" "$bridge/webhook" <<'PY'
import hashlib, hmac, json, os, sys, urllib.request, uuid
event, path, patch, url = sys.argv[1:]
payload = json.load(open(path))
for pointer, value in json.loads(patch).items():
    target = payload
    keys = pointer.strip("/").split("/")
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
body = json.dumps(payload).encode()
signature = "sha256=" + hmac.new(os.environ["WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
request = urllib.request.Request(url, body, {"content-type": "application/json", "x-github-event": event,
    "x-github-delivery": str(uuid.uuid4()), "x-hub-signature-256": signature})
print(f"   -> {event}: HTTP {urllib.request.urlopen(request).status}")
PY
}

# status_comment: the bridge's status comment on issue #1, as GitHub would show it.
status_comment() {
  curl -sf -H "authorization: Bearer demo" "$github_url/repos/$repo/issues/1/comments?per_page=100" |
    python3 -c 'import json,sys; c=[c["body"] for c in json.load(sys.stdin) if "jules-bridge:session=" in c["body"]]; print(c[-1] if c else "")'
}

wait_for() {
  for _ in $(seq 200); do
    # Read it whole first: `grep -q` closing the pipe early would break python's print.
    grep -q "$1" <<<"$(status_comment)" && return 0
    sleep 0.2
  done
  echo "timed out waiting for: $1" >&2; tail -n 20 "$work/serve.log" >&2; return 1
}

echo "== Codertocat labels issue #1 with jules-bridge"
deliver issues issues.labeled.json '{"/label/name": "jules-bridge"}'
wait_for "Plan ready for review"
status_comment | sed 's/^/   | /'
plan=$(status_comment | sed -n 's/.*`\/jules approve \([0-9a-f]*\)`.*/\1/p')

echo "== Codertocat comments: /jules approve $plan"
deliver issue_comment issue_comment.created.json "{\"/comment/body\": \"/jules approve $plan\"}"
wait_for "Done"
status_comment | sed 's/^/   | /'

echo "== The same session through the Jules CLI"
JULES_API_URL=$jules_url "$bin/jules-bridge" jules sessions list
echo "== Deliveries the server stored"
DATABASE_URL="sqlite:$work/jules-bridge.db" "$bin/jules-bridge" deliveries list

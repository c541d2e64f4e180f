#!/usr/bin/env bash
# The image, run the way the Actions runner runs a Docker container action, against the fakes:
# starts jules-fake and github-fake on this machine's loopback, then `docker run --network host`
# with the runner's mounts (/github/workspace, /github/workflow, /github/file_commands) and
# environment (GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_OUTPUT, INPUT_* with hyphens, ...)
# for a real `issues.labeled` payload. Checks the step outputs (action-taken=created), the
# status comment on the fake GitHub and that no secret was printed. Then prints the image's
# compressed size (`docker save | gzip`) and fails above MAX_IMAGE_BYTES (default 15000000).
#
#   scripts/image-smoke.sh IMAGE        e.g. scripts/image-smoke.sh jules-bridge:ci
#
# Needs docker, cargo (builds the fakes), python3 and curl. Used by the `image` job of
# .github/workflows/ci.yml and by release.yml before it pushes (docs/release.md).
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:?usage: scripts/image-smoke.sh IMAGE}
max_bytes=${MAX_IMAGE_BYTES:-15000000}
repo=Codertocat/Hello-World
key=smoke-jules-key-0123456789
token=ghs_smoketoken0123456789

cargo build --quiet --locked -p jules-fake -p github-fake
bin=target/debug
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "image-smoke: FAIL: $*" >&2
  for log in "$work"/*.log; do
    [ -s "$log" ] && { echo "--- $(basename "$log")" >&2; tail -n 30 "$log" >&2; }
  done
  exit 1
}

# start NAME COMMAND...: runs it in the background and prints the URL of its "listening on".
start() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 150); do
    grep -q 'listening on' "$work/$name.out" && break
    sleep 0.1
  done
  sed -n 's/^.*listening on //p' "$work/$name.out" | head -n 1
}

jules_url=$(start jules-fake "$bin/jules-fake" --listen 127.0.0.1:0 --api-key "$key" --step-ms 0)
github_url=$(start github-fake "$bin/github-fake" --permission "$repo:Codertocat:write" \
  --actions-token "$token" --issue "$repo#1")
[ -n "$jules_url" ] || fail "jules-fake did not start"
[ -n "$github_url" ] || fail "github-fake did not start"
echo "image-smoke: jules-fake $jules_url, github-fake $github_url"

# The runner's layout: the event file in /github/workflow, the file commands in
# /github/file_commands, the checkout in /github/workspace (also the working directory).
mkdir -p "$work/workflow" "$work/file_commands" "$work/workspace" "$work/home"
python3 - tests/fixtures/webhooks/issues.labeled.json "$work/workflow/event.json" <<'PY'
import json, sys
payload = json.load(open(sys.argv[1]))
payload["label"]["name"] = "jules-bridge"
json.dump(payload, open(sys.argv[2], "w"))
PY
: >"$work/file_commands/set_output_smoke"
: >"$work/file_commands/step_summary_smoke"

# Every input of action.yml, as the runner passes it: its default unless the workflow sets it,
# "" included. Names keep their hyphens (env(1) can set them; a shell's export cannot), and
# `docker run -e NAME` copies each from this environment, as the runner does.
inputs=(
  "INPUT_JULES-API-KEY=$key"
  "INPUT_GITHUB-TOKEN=$token"
  "INPUT_PROMPT="
  "INPUT_TITLE="
  "INPUT_STARTING-BRANCH="
  "INPUT_REQUIRE-PLAN-APPROVAL=true"
  "INPUT_AUTOMATION-MODE=AUTO_CREATE_PR"
  "INPUT_TRIGGER-LABEL=jules-bridge"
  "INPUT_COMMAND-PREFIX=/jules"
  "INPUT_WAIT=none"
  "INPUT_TIMEOUT-MINUTES=30"
  "INPUT_ALLOWED-BOTS="
  "INPUT_BOT-LOGIN="
  "INPUT_JULES-API-URL=$jules_url"
  "INPUT_DRY-RUN=false"
)
pass=()
for pair in "${inputs[@]}"; do pass+=(-e "${pair%%=*}"); done

echo "image-smoke: docker run $image action (issues.labeled, label jules-bridge)"
code=0
env "${inputs[@]}" docker run --rm --network host \
  --workdir /github/workspace \
  -v "$work/workspace:/github/workspace" \
  -v "$work/workflow:/github/workflow" \
  -v "$work/file_commands:/github/file_commands" \
  -v "$work/home:/github/home" \
  "${pass[@]}" \
  -e HOME=/github/home \
  -e CI=true \
  -e GITHUB_ACTIONS=true \
  -e GITHUB_EVENT_NAME=issues \
  -e GITHUB_EVENT_PATH=/github/workflow/event.json \
  -e GITHUB_OUTPUT=/github/file_commands/set_output_smoke \
  -e GITHUB_STEP_SUMMARY=/github/file_commands/step_summary_smoke \
  -e GITHUB_WORKSPACE=/github/workspace \
  -e GITHUB_REPOSITORY="$repo" \
  -e GITHUB_RUN_ID=4242 \
  -e GITHUB_RUN_ATTEMPT=1 \
  -e GITHUB_SERVER_URL=https://github.com \
  -e GITHUB_API_URL="$github_url" \
  -e RUST_LOG=info \
  -e JULES_BRIDGE_RETRY_DEADLINE_SECS=10 \
  "$image" action >"$work/action.out" 2>"$work/action.log" || code=$?
sed 's/^/   | /' "$work/action.out"
[ "$code" -eq 0 ] || fail "the action exited with $code"

# The step outputs, as the runner would read them (name=value, or name<<DELIMITER blocks).
output() {
  python3 - "$work/file_commands/set_output_smoke" "$1" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
values, i = {}, 0
while i < len(lines):
    line = lines[i]
    if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
        name, delimiter = line.split("<<", 1)
        end = lines.index(delimiter, i + 1)
        values[name] = "\n".join(lines[i + 1:end])
        i = end
    elif "=" in line:
        name, value = line.split("=", 1)
        values[name] = value
    i += 1
print(values.get(sys.argv[2], ""))
PY
}
taken=$(output action-taken)
session=$(output session-name)
echo "image-smoke: action-taken=$taken session-name=$session state=$(output state)"
[ "$taken" = created ] || fail "action-taken is '$taken', expected created"
case "$session" in sessions/?*) ;; *) fail "session-name is '$session'" ;; esac

# What a user sees: the signed status comment on issue #1.
comments=$(curl -sf -H "authorization: Bearer $token" \
  "$github_url/repos/$repo/issues/1/comments?per_page=100") || fail "cannot list comments"
grep -q 'jules-bridge:session=' <<<"$comments" || fail "no status comment on issue #1"

# Secrets appear only in the add-mask commands that hide them.
for secret in "$key" "$token"; do
  grep -h -v -x -F "::add-mask::$secret" "$work/action.out" "$work/action.log" >"$work/printed" || true
  if grep -q -F "$secret" "$work/printed"; then fail "a secret was printed"; fi
done
echo "image-smoke: the action created $session and posted its status comment"

# Every Action run pulls the image: keep it small.
version=$(docker run --rm "$image" --version)
bytes=$(docker save "$image" | gzip | wc -c)
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1000000 }')
echo "image-smoke: $version; image $image is $bytes bytes ($mb MB) compressed, limit $max_bytes"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  echo "Image \`$image\` ($version): **$mb MB** compressed (docker save | gzip), limit $((max_bytes / 1000000)) MB" >>"$GITHUB_STEP_SUMMARY"
fi
[ "$bytes" -le "$max_bytes" ] || fail "the image is $bytes bytes compressed, above $max_bytes"
echo "image-smoke: OK"

#!/usr/bin/env bash
# External-client compatibility check: build and start jules-fake, then run the
# official TypeScript SDK flow (flow.mjs) against it. Works from any cwd.
# Exit status is flow.mjs's (0 = "sdk flow: ok").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

# Node.js and npm come from the machine: this script does not install system packages
# (.ci/run, which runs as root, apt-installs them when missing).
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: '$tool' not found; the SDK check needs Node.js and npm: install them" >&2
    echo "  (Debian/Ubuntu: apt-get install nodejs npm; or from nodejs.org) and run again" >&2
    exit 1
  fi
done

# The SDK from package-lock.json into node_modules (git-ignored): on the first run, and again
# whenever the lock file or the Node.js version changes (stamp: node_modules/.lock-stamp).
want="$(sha256sum "$here/package-lock.json" | cut -d ' ' -f 1) node $(node --version)"
if [ ! -d "$here/node_modules" ] || [ "$(cat "$here/node_modules/.lock-stamp" 2>/dev/null)" != "$want" ]; then
  echo "run.sh: installing the SDK (npm ci in tests/sdk)"
  (cd "$here" && npm ci --no-audit --no-fund)
  echo "$want" >"$here/node_modules/.lock-stamp"
fi

# Build in the foreground first, so a build error (or a long wait on the
# target-dir lock) is not mistaken for a fake that never started.
cargo build -q -p jules-fake

log="$(mktemp "${TMPDIR:-/tmp}/jules-fake-sdk.XXXXXX")"
fake_pid=""
cleanup() {
  if [ -n "$fake_pid" ]; then
    # The fake runs in its own process group (setsid): end that group only.
    kill -TERM -- "-$fake_pid" 2>/dev/null || kill -TERM "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

setsid cargo run -q -p jules-fake -- --listen 127.0.0.1:0 --step-ms 50 >"$log" 2>&1 &
fake_pid=$!

addr=""
for _ in $(seq 1 300); do # up to 30 s
  addr="$(sed -n 's#^jules-fake listening on http://\([^[:space:]]*\).*#\1#p' "$log" | head -n 1)"
  [ -n "$addr" ] && break
  if ! kill -0 "$fake_pid" 2>/dev/null; then
    echo "run.sh: jules-fake exited before listening; its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "run.sh: no 'jules-fake listening on http://ADDR' line within 30 s; fake output:" >&2
  cat "$log" >&2
  exit 1
fi
echo "run.sh: jules-fake listening on http://$addr"

status=0
JULES_API_URL="http://$addr" JULES_API_KEY="${JULES_API_KEY:-fake-key}" \
  node "$here/flow.mjs" || status=$?

if [ "$status" -ne 0 ]; then
  echo "run.sh: flow failed (exit $status); fake output (last 40 lines):" >&2
  tail -n 40 "$log" >&2 || true
fi
exit "$status"

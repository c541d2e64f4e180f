#!/usr/bin/env bash
# Webhook ingest, side by side in one run: `jules-bridge serve` (release build, workers and
# relay running as in production, every 2xx after a durable commit) against the Probot 14
# receiver of ../shared/bench/probot-peer (verify + handle in memory, nothing stored).
#
# Both get exactly the same load: wrk, 1 thread, CONNECTIONS connections, DURATION seconds,
# the real `issue_comment.created` payload (compact, as GitHub sends it) made distinct per
# request and signed per request (bench/wrk-signed.lua), with a fresh delivery id. They are
# measured alternately, ROUNDS times, and compared on the medians. SQLite first, then
# PostgreSQL (DATABASE_URL_TEST; a fresh schema, dropped afterwards) unless DBS says otherwise.
#
#   scripts/bench-ingest-vs-probot.sh                  # 3 rounds x 5 s, -c16, sqlite + postgres
#   ROUNDS=5 DURATION=10 DBS=sqlite scripts/bench-ingest-vs-probot.sh
#   FIXTURE=tests/fixtures/webhooks/issue_comment.created.json BODY='/jules add tests' ...
#
# BRIDGE_BIN runs another jules-bridge binary (an older build, to compare before and after).
# BODY replaces the comment's text (default: the fixture's own, which is no command, like
# most comments the bridge receives). Prints one line per measurement, then a summary with
# the ratio (bridge / Probot deliveries per second), the bridge's peak RSS and whether every
# acknowledged delivery was stored; writes bench/results/ingest-vs-probot.json.
#
# Needs: cargo, node + npm (the peer is installed under target/bench-ingest/), wrk (installed
# with apt-get when missing and running as root), python3, and for PostgreSQL psql.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
DBS=${DBS:-sqlite,postgres}
FIXTURE=${FIXTURE:-tests/fixtures/webhooks/issue_comment.created.json}
BODY=${BODY:-}
PEER=${PEER:-../shared/bench/probot-peer}
PG=${DATABASE_URL_TEST:-postgres://postgres@127.0.0.1:5432/test}
SECRET=bench-webhook-secret

need() { command -v "$1" >/dev/null || { echo "bench: $1 is required ($2)" >&2; exit 2; }; }
if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
need wrk "apt-get install wrk"
need node "Node.js >= 20.18.1"
need npm "npm"
need python3 "python3"
[ -d "$PEER" ] || { echo "bench: the Probot peer is not at $PEER (set PEER)" >&2; exit 2; }

work=target/bench-ingest
mkdir -p "$work/peer" bench/results
pids="$work/pids"
: >"$pids"
cleanup() {
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$pids"
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== building (release)"
cargo build --release --locked --quiet --bins --workspace
bin=target/release
bridge_bin=${BRIDGE_BIN:-$bin/jules-bridge}

# The peer, installed once next to the build (shared/ is read-only in CI).
cp "$PEER"/*.mjs "$PEER"/package.json "$PEER"/package-lock.json "$work/peer/"
if [ ! -d "$work/peer/node_modules/probot" ]; then
  echo "== installing the Probot peer (npm ci)"
  (cd "$work/peer" && npm ci --silent --no-audit --no-fund >/dev/null)
fi

# The body template: compact JSON with `@@N@@` at comment.id and `@@I@@` at issue.number (one
# of 16 issues, so comments that need work do not all queue on one issue; bench/wrk-signed.lua).
template="$work/body.json"
python3 - "$FIXTURE" "$BODY" "$template" <<'PY'
import json, sys
fixture, text, out = sys.argv[1:]
payload = json.load(open(fixture))
if text:
    payload["comment"]["body"] = text
# Unlikely literals first, so the JSON stays GitHub's shape, then the placeholders.
unique, issue = 918273645546372819, 918273645546372818
payload["comment"]["id"] = unique
payload["issue"]["number"] = issue
body = json.dumps(payload, separators=(",", ":"))
body = body.replace(str(unique), "@@N@@").replace(str(issue), "@@I@@")
open(out, "w").write(body)
print(f"== body: {fixture} ({len(body)} bytes), comment text {payload['comment']['body'][:60]!r}")
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME PATTERN COMMAND...: runs it in the background until PATTERN appears in its output.
start() {
  local name=$1 pattern=$2; shift 2
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  echo $! >>"$pids"
  for _ in $(seq 300); do
    grep -q "$pattern" "$work/$name.out" "$work/$name.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $name did not start:" >&2; tail -n 20 "$work/$name.log" >&2; exit 1
}

start jules-fake 'listening on' "$bin/jules-fake" --listen 127.0.0.1:0 --api-key bench-key
jules_url=$(sed -n 's/^.*listening on //p' "$work/jules-fake.out" "$work/jules-fake.log" | head -n 1)
# The issues wrk-signed.lua spreads the comments over (1000 + n % ISSUES) exist.
fixture_repo=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["repository"]["full_name"])' "$FIXTURE")
issue_args=()
for n in $(seq 0 $((${ISSUES:-16} - 1))); do issue_args+=(--issue "$fixture_repo#$((1000 + n))"); done
start github-fake 'listening on' "$bin/github-fake" --actions-token bench-token "${issue_args[@]}"
github_url=$(sed -n 's/^.*listening on //p' "$work/github-fake.out" | head -n 1)
probot_port=$(free_port)
(cd "$work/peer" && PORT=$probot_port WEBHOOK_SECRET=$SECRET LOG_LEVEL=error \
  exec node probot-server.mjs) >"$work/probot.out" 2>"$work/probot.log" &
echo $! >>"$pids"
for _ in $(seq 300); do grep -q 'listening on' "$work/probot.out" && break; sleep 0.1; done
probot_url=http://127.0.0.1:$probot_port/api/github/webhooks

results="$work/results.jsonl"
: >"$results"

# measure WHO DB ROUND URL: one wrk run, appended to $results.
measure() {
  local who=$1 db=$2 round=$3 url=$4 line
  line=$(BODY_FILE=$template SECRET=$SECRET wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
    --timeout 10s -s bench/wrk-signed.lua "$url" | grep '^RESULT ')
  echo "   $db round $round  $(printf '%-13s' "$who") ${line#RESULT }"
  python3 - "$who" "$db" "$round" "$line" >>"$results" <<'PY'
import json, sys
who, db, round_, line = sys.argv[1:]
fields = dict(kv.split("=") for kv in line.split()[1:])
print(json.dumps({"who": who, "db": db, "round": int(round_), **{k: float(v) for k, v in fields.items()}}))
PY
}

# bench_db KIND URL: one bridge server on that store, ROUNDS alternations with Probot.
bench_db() {
  local kind=$1 url=$2 port pid rss stored
  port=$(free_port)
  LISTEN=127.0.0.1:$port DATABASE_URL=$url WEBHOOK_SECRET=$SECRET JULES_API_KEY=bench-key \
    GITHUB_TOKEN=bench-token GITHUB_API_URL=$github_url JULES_API_URL=$jules_url \
    "$bridge_bin" serve >"$work/serve-$kind.out" 2>"$work/serve-$kind.log" &
  pid=$!
  echo "$pid" >>"$pids"
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "bench: serve ($kind) not ready" >&2; tail -n 20 "$work/serve-$kind.log" >&2; exit 1; }
  echo "== $kind: jules-bridge serve (pid $pid) vs Probot, wrk -t1 -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds"
  for round in $(seq "$ROUNDS"); do
    measure probot "$kind" "$round" "$probot_url"
    measure jules-bridge "$kind" "$round" "http://127.0.0.1:$port/webhook"
  done
  # Let the workers finish what needs work, then read what was stored.
  sleep 2
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  case $kind in
    sqlite) stored=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*) from deliveries").fetchone()[0])' "${url#sqlite:}") ;;
    postgres) stored=$(psql -qtA "$url" -c 'select count(*) from deliveries') ;;
  esac
  python3 - "$kind" "$rss" "$stored" >>"$results" <<'PY'
import json, sys
kind, rss, stored = sys.argv[1:]
print(json.dumps({"who": "server", "db": kind, "peak_rss_kb": int(rss), "stored": int(stored)}))
PY
}

IFS=, read -r -a dbs <<<"$DBS"
for kind in "${dbs[@]}"; do
  case $kind in
    sqlite)
      rm -f "$work"/bench.db*
      bench_db sqlite "sqlite:$work/bench.db"
      ;;
    postgres)
      need psql "the PostgreSQL client"
      schema=bench_$$_$RANDOM
      psql -qtA "$PG" -c "CREATE SCHEMA $schema" >/dev/null
      sep='?'; [[ $PG == *\?* ]] && sep='&'
      bench_db postgres "$PG${sep}options=-c%20search_path%3D$schema"
      psql -qtA "$PG" -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
      ;;
    *) echo "bench: unknown store $kind (sqlite, postgres)" >&2; exit 2 ;;
  esac
done

python3 - "$results" "$CONNECTIONS" "$DURATION" "$ROUNDS" <<'PY'
import json, os, statistics, sys
path, connections, duration, rounds = sys.argv[1:]
rows = [json.loads(line) for line in open(path)]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
summary = {"wrk": f"-t1 -c{connections} -d{duration}s", "rounds": int(rounds), "cpus": os.cpu_count(),
           "cpu_model": cpu, "loadavg_after": open("/proc/loadavg").read().split()[:3], "stores": {}}
print("== summary (medians of %s rounds)" % rounds)
for db in dict.fromkeys(r["db"] for r in rows):
    def med(who, key):
        return statistics.median(r[key] for r in rows if r["db"] == db and r["who"] == who)
    server = next(r for r in rows if r["db"] == db and r["who"] == "server")
    bridge = {k: med("jules-bridge", k) for k in ("rps", "p50_ms", "p99_ms", "non2xx", "errors")}
    peer = {k: med("probot", k) for k in ("rps", "p50_ms", "p99_ms", "non2xx", "errors")}
    acknowledged = sum(r["requests"] - r["non2xx"] for r in rows if r["db"] == db and r["who"] == "jules-bridge")
    ratio = bridge["rps"] / peer["rps"]
    summary["stores"][db] = {"jules_bridge": bridge, "probot": peer, "ratio": round(ratio, 2),
                             "acknowledged": int(acknowledged), "stored": server["stored"],
                             "peak_rss_mb": round(server["peak_rss_kb"] / 1024, 1)}
    print(f"   {db:9} jules-bridge {bridge['rps']:8.0f}/s p50 {bridge['p50_ms']:.2f} ms p99 {bridge['p99_ms']:.2f} ms non-2xx {bridge['non2xx']:.0f}"
          f" | probot {peer['rps']:6.0f}/s p50 {peer['p50_ms']:.2f} ms p99 {peer['p99_ms']:.2f} ms"
          f" | ratio {ratio:.2f} | peak RSS {server['peak_rss_kb'] / 1024:.1f} MB"
          f" | stored {server['stored']} of {int(acknowledged)} acknowledged")
summary["runs"] = [r for r in rows if r["who"] != "server"]
json.dump(summary, open("bench/results/ingest-vs-probot.json", "w"), indent=2)
print("   (bench/results/ingest-vs-probot.json)")
PY

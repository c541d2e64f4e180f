-- wrk script for the webhook ingest benchmark (driven by `cargo bench --bench ingest`).
--
-- Sends signed real payloads to POST /webhook, each with a fresh X-GitHub-Delivery.
-- The bodies are fixed, so their HMAC-SHA256 signatures are computed once, by the bench
-- tool, and listed in the file named by INGEST_BODIES, one "<sha256=hex> <path>" per line.
-- Requests go round-robin over the bodies (each one is a different issue).
--
--   INGEST_BODIES=bodies.txt INGEST_RUN=run1 \
--     wrk -t1 -c64 -d10s --latency -s bench/ingest.lua http://127.0.0.1:8080/webhook
--
-- done() prints one line, `INGEST_RESULT {json}`, with the counts and the 202 latency
-- percentiles in microseconds.

local manifest = os.getenv("INGEST_BODIES") or error("INGEST_BODIES is not set")
local run = os.getenv("INGEST_RUN") or tostring(os.time())
local event = os.getenv("INGEST_EVENT") or "issue_comment"

local bodies, signatures = {}, {}
for line in io.lines(manifest) do
  local signature, path = line:match("^(%S+)%s+(.+)$")
  if signature then
    local file = assert(io.open(path, "rb"))
    bodies[#bodies + 1] = file:read("*a")
    file:close()
    signatures[#signatures + 1] = signature
  end
end
assert(#bodies > 0, "no bodies in " .. manifest)

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  threads[#threads + 1] = thread
end

local counter = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["X-GitHub-Event"] = event,
  ["X-GitHub-Hook-ID"] = "109948940",
  ["User-Agent"] = "GitHub-Hookshot/bench",
}

function request()
  counter = counter + 1
  local i = counter % #bodies + 1
  headers["X-Hub-Signature-256"] = signatures[i]
  headers["X-GitHub-Delivery"] = string.format("%s-%d-%d", run, thread_id or 0, counter)
  return wrk.format("POST", nil, headers, bodies[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'INGEST_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"non_2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end

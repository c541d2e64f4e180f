-- wrk driver for the side-by-side ingest comparison (scripts/bench-ingest-vs-probot.sh).
--
-- Every request is a NEW delivery: a fresh X-GitHub-Delivery AND a distinct body, signed
-- with HMAC-SHA256 as GitHub signs it. The body matters because the bridge refuses a signed
-- body it has already stored (a replay under another delivery id is acknowledged as a
-- duplicate and never processed), so resending one body would measure only the duplicate
-- path. Probot receives exactly the same requests.
--
-- The body template (BODY_FILE) holds the placeholder `@@N@@` where a unique number goes
-- (the scripts that write it put it at `comment.id`), and may hold `@@I@@` where an issue
-- number goes (1000 + the request's number modulo ISSUES, default 16, so that deliveries
-- that need work are spread over several issues instead of queueing on one). The HMAC is computed with OpenSSL's libcrypto through LuaJIT's FFI (wrk links
-- libcrypto already), a few microseconds for a 13 KB body.
--
-- env: BODY_FILE, SECRET, EVENT (default issue_comment), ISSUES (default 16)
-- done() prints `RESULT rps=… p50_ms=… p99_ms=… non2xx=… errors=… requests=…` (the shape of
-- ../shared/bench/wrk-webhook.lua) and `INGEST_RESULT {json}` with more percentiles, for
-- `cargo bench --bench ingest`.

local ffi = require("ffi")
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *data, size_t data_len,
                    unsigned char *md, unsigned int *md_len);
]]
-- wrk is linked against libcrypto, so its symbols are in the process already; fall back to
-- loading it by name.
local crypto = ffi.C
if not pcall(function() return crypto.EVP_sha256 end) then
  crypto = ffi.load("libcrypto.so.3")
end

local file = assert(io.open(os.getenv("BODY_FILE") or error("BODY_FILE is not set"), "rb"))
local template = file:read("*a")
file:close()
-- The template split at its placeholders: literal text and "N" / "I" in turn.
local parts = {}
local at = 1
while true do
  local from, to, which = template:find("@@([NI])@@", at)
  if not from then break end
  parts[#parts + 1] = template:sub(at, from - 1)
  parts[#parts + 1] = { which }
  at = to + 1
end
parts[#parts + 1] = template:sub(at)
assert(#parts > 1, "BODY_FILE has no @@N@@ placeholder")
local issues = tonumber(os.getenv("ISSUES") or "16")
local secret = os.getenv("SECRET") or error("SECRET is not set")
local event = os.getenv("EVENT") or "issue_comment"

local digest = ffi.new("unsigned char[32]")
local digest_len = ffi.new("unsigned int[1]")
local hex = {}
for i = 0, 255 do hex[i] = string.format("%02x", i) end

local function sign(body)
  crypto.HMAC(crypto.EVP_sha256(), secret, #secret, body, #body, digest, digest_len)
  local out = {}
  for i = 0, 31 do out[i + 1] = hex[digest[i]] end
  return "sha256=" .. table.concat(out)
end

-- A run prefix keeps numbers (and delivery ids) distinct across runs against one database.
math.randomseed(os.time())
local run = math.random(100000, 999999)
local n = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["X-GitHub-Event"] = event,
  ["X-GitHub-Hook-ID"] = "109948940",
  ["User-Agent"] = "GitHub-Hookshot/bench",
}

local pieces = {}
request = function()
  n = n + 1
  local number = string.format("%d%08d", run, n)
  local issue = tostring(1000 + n % issues)
  for i, part in ipairs(parts) do
    if type(part) == "table" then
      pieces[i] = part[1] == "N" and number or issue
    else
      pieces[i] = part
    end
  end
  local body = table.concat(pieces)
  headers["X-GitHub-Delivery"] = "bench-" .. number
  headers["X-Hub-Signature-256"] = sign(body)
  return wrk.format("POST", nil, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout,
    summary.requests))
  io.write(string.format(
    'INGEST_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"non_2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end

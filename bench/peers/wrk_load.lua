-- wrk script for bench/peers: one request shape per run, chosen by environment.
--   PEERS_METHOD, PEERS_PATH, PEERS_HEADERS ("Name: value|Name: value"), PEERS_BODY
--   (PEERS_PATH and PEERS_BODY may hold {uuid}: a fresh UUID per request, so every
--   PUT or POST makes a new consumer or provider), PEERS_OUT: where done() writes its JSON summary.
local method = os.getenv("PEERS_METHOD") or "GET"
local path = os.getenv("PEERS_PATH") or "/"
local body = os.getenv("PEERS_BODY")
local headers = {}
for item in string.gmatch(os.getenv("PEERS_HEADERS") or "", "[^|]+") do
  local k, v = string.match(item, "^%s*([^:]+):%s*(.*)$")
  if k then headers[k] = v end
end
if body then headers["Content-Type"] = "application/json" end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local counter = 0
local prefix = "00000000"
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

local fresh = string.find(path, "{uuid}", 1, true) or
              (body and string.find(body, "{uuid}", 1, true))

function request()
  if fresh then
    counter = counter + 1
    local u = string.format("%s-%04x-4000-8000-%012x", prefix, tid or 0, counter)
    local b = body and (string.gsub(body, "{uuid}", u)) or nil
    local p = (string.gsub(path, "{uuid}", u))
    return wrk.format(method, p, headers, b)
  end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("PEERS_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bad_status": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
  out:close()
end

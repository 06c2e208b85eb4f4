-- wrk script: replays pre-built raw HTTP requests (signed webhook deliveries), each thread its own share.
--
--   wrk -t T -c C -d 15s -s bench/wrk/deliveries.lua URL -- PREFIX [RATE]
--
-- PREFIX.<n> (n = 0 .. T-1) holds thread n's requests, written by bench/webhook_load.py: each one a
-- line "<byte count>" followed by that many bytes, the complete request (request line, headers,
-- body). A thread sends its requests in order; when they run out it starts over and counts a wrap
-- (harmless for an endpoint that keeps no state, a repeated delivery for one that dedupes).
--
-- RATE (requests per second, all threads together): thread n paces itself on a fixed schedule of
-- RATE/T requests per second: delay() returns the time left until the next slot, so a connection
-- that got its answer waits for it, and a thread that fell behind sends at once until it caught up.
-- The rate holds whatever the latency as long as the connections suffice. Without RATE there is
-- no delay(): every connection sends its next request as soon as the previous one was answered.
--
-- done() prints one line the Python side parses (latencies in microseconds):
--   wrk-result requests=N duration_us=N p50_us=N p90_us=N p99_us=N max_us=N non2xx=N connect=N
--     read=N write=N timeout=N wraps=N statuses=503:4,401:1

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

-- setup() and done() run in an environment of their own: the threads are collected here.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

-- Each thread's environment: its requests, its schedule, its counts (read back by done()).
local requests, count, position = {}, 0, 0
local interval, next_slot = nil, nil
non2xx, wraps, statuses = 0, 0, {}

local function load(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local at = 1
  while at <= #data do
    local eol = assert(data:find("\n", at, true), path .. ": truncated")
    local length = tonumber(data:sub(at, eol - 1))
    requests[#requests + 1] = data:sub(eol + 1, eol + length)
    at = eol + 1 + length
  end
  count = #requests
  assert(count > 0, path .. ": no requests")
end

local function paced()
  local now = now_ms()
  if next_slot == nil then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end

function init(args)
  load(args[1] .. "." .. id)
  local rate, thread_count = tonumber(args[2] or ""), tonumber(args[3] or "1")
  if rate and rate > 0 then
    interval = 1000 * thread_count / rate
    delay = paced
  end
end

function request()
  position = position + 1
  if position > count then
    position, wraps = 1, wraps + 1
  end
  return requests[position]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, _)
  local non2xx_total, wraps_total, by_status = 0, 0, {}
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    wraps_total = wraps_total + thread:get("wraps")
    for status, n in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(by_status) do parts[#parts + 1] = status .. ":" .. n end
  table.sort(parts)
  local errors = summary.errors
  io.write(string.format(
    "wrk-result requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d " ..
    "connect=%d read=%d write=%d timeout=%d wraps=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, non2xx_total, errors.connect, errors.read, errors.write,
    errors.timeout, wraps_total, table.concat(parts, ",")))
end

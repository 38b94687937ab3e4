-- wrk script of `make bench-load` (bench/load.py): rotate over the requests listed in a file
-- and print one JSON line of results.
--
-- Environment: ADES_LOAD_REQUESTS names a file with one request per line,
-- "METHOD<TAB>PATH" or "METHOD<TAB>PATH<TAB>JSON BODY"; ADES_LOAD_TOKEN is the bearer token.
-- Each wrk thread starts at its own offset in the list, so the threads do not send the same
-- request at the same moment. done() prints `ADES_RESULT {...}`: requests, duration, socket
-- errors, responses outside 2xx (counted in response(), per thread), and latency percentiles
-- in microseconds from wrk's own histogram.

local token = os.getenv("ADES_LOAD_TOKEN") or ""
local requests_file = os.getenv("ADES_LOAD_REQUESTS")
local list = {}
for line in io.lines(requests_file) do
  local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
  if method then
    local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }
    if body == "" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    list[#list + 1] = { method = method, path = path, headers = headers, body = body }
  end
end
if #list == 0 then
  error("no requests in " .. tostring(requests_file))
end

local threads = {}
local thread_count = tonumber(os.getenv("ADES_LOAD_THREADS") or "1")

function setup(thread)
  thread:set("index", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  -- `index` was set by setup() in this thread's own Lua state.
  position = math.floor(#list * (index or 0) / thread_count)
  non2xx = 0
  statuses = {}
end

function request()
  position = position % #list + 1
  local r = list[position]
  return wrk.format(r.method, r.path, r.headers, r.body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad, counts, by_status = 0, {}, {}
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  for status, count in pairs(counts) do
    by_status[#by_status + 1] = string.format('"%d":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'ADES_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"statuses":{%s},' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"status_errors":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"distinct":%d}\n',
    summary.requests, summary.duration, summary.bytes, bad, table.concat(by_status, ","),
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, #list))
end

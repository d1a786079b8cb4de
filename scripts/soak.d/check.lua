-- wrk script of scripts/soak.sh: cycles over the demo's cached routes and checks every response.
-- Run with as many connections as threads (-tN -cN): each thread then has one request in flight,
-- so the path of a response is the last one its thread asked for (`current`), even after wrk
-- reconnects (the new request replaces the lost one).
--
-- The expected bodies come from soak.py (the file `expect.lua` beside this one, loaded through
-- the EXPECT environment variable). Bodies that show user 4, whom the soak's writer renames to
-- `soak-N`, are compared with the name put back to the seed's one: any name of that form is
-- accepted here (the prober checks that the latest one is shown).
local expect = dofile(os.getenv("EXPECT"))
local paths = expect.paths
local bodies = expect.bodies
local renamed = expect.renamed

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = tid * 3
  current = nil
  soak_requests, soak_non2xx, soak_wrong, soak_hits = 0, 0, 0, 0
  soak_sample = ""
end

function request()
  n = n + 1
  current = paths[n % #paths + 1]
  return wrk.format("GET", current)
end

local function note(what)
  if #soak_sample < 600 then
    soak_sample = soak_sample .. what .. "\n"
  end
end

function response(status, headers, body)
  soak_requests = soak_requests + 1
  local path = current
  if status < 200 or status > 299 then
    soak_non2xx = soak_non2xx + 1
    note(string.format("status %d on %s: %s", status, path, string.sub(body or "", 1, 120)))
    return
  end
  if headers["x-cache"] == "HIT" then
    soak_hits = soak_hits + 1
  end
  local b = body or ""
  if renamed[path] then
    b = string.gsub(b, '"name":"soak%-%d+"', '"name":"' .. expect.seed_name .. '"')
  end
  if b ~= bodies[path] then
    soak_wrong = soak_wrong + 1
    note(string.format("wrong body on %s: %s", path, string.sub(body or "", 1, 200)))
  end
end

function done(summary, latency, requests)
  local r, s, w, h, sample = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    r = r + t:get("soak_requests")
    s = s + t:get("soak_non2xx")
    w = w + t:get("soak_wrong")
    h = h + t:get("soak_hits")
    sample = sample .. t:get("soak_sample")
  end
  local e = summary.errors
  io.write(string.format(
    "SOAK requests=%d non2xx=%d wrong=%d hits=%d socket_errors=%d timeouts=%d max_us=%d p99_us=%d\n",
    r, s, w, h, e.connect + e.read + e.write, e.timeout, latency.max, latency:percentile(99)))
  for line in string.gmatch(sample, "[^\n]+") do
    io.write("SAMPLE " .. line .. "\n")
  end
end

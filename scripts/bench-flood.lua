-- wrk script for the flood step of scripts/bench.sh: FLOOD_REQUESTS requests (env, default
-- 100000, split evenly over wrk's threads), each to a path and tenant never seen before.
--
-- Request n (numbered across threads) is, for even n, `GET /orgs/org-<n>/items/<n>` with the
-- header `x-organization-id: org-<n>` (a known route template, a new tenant each time) and, for
-- odd n, `GET /x/<n>/<random hex>` (no route: a 404 on a new path each time).
--
-- A thread stops once it has received its share of responses and then creates the file
-- `$FLOOD_DONE.<thread>`. wrk itself still waits out its -d duration: the caller watches for
-- the files and sends wrk SIGINT, on which it prints its summary at once (its request count
-- is right; its duration and rates are not, so the caller times the flood itself).
--
-- Usage: FLOOD_REQUESTS=100000 FLOOD_THREADS=1 FLOOD_DONE=/tmp/flood wrk -t1 -c32 -d300s \
--            -s scripts/bench-flood.lua http://HOST:PORT

-- FLOOD_THREADS (env) must equal wrk's -t: wrk starts each thread before it sets up the next.
local next_id = 0

-- Main state: number the threads (0, 1, ...).
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

-- Thread state from here on.
local quota, sent, received, stride, first

function init(args)
  local total = tonumber(os.getenv("FLOOD_REQUESTS") or "100000")
  stride = tonumber(os.getenv("FLOOD_THREADS") or "1")
  first = thread_id or 0
  -- This thread takes the numbers first, first + stride, ...: distinct across threads.
  quota = math.floor(total / stride)
  if first < total % stride then quota = quota + 1 end
  sent, received = 0, 0
  math.randomseed(os.time() * 1000 + first)
end

function request()
  local n = first + sent * stride
  sent = sent + 1
  if n % 2 == 0 then
    local org = "org-" .. n
    return wrk.format("GET", "/orgs/" .. org .. "/items/" .. n, { ["x-organization-id"] = org })
  end
  return wrk.format("GET", string.format("/x/%d/%08x%08x", n, math.random(0, 0x7fffffff),
    math.random(0, 0x7fffffff)))
end

function response(status, headers, body)
  received = received + 1
  if received == quota then
    wrk.thread:stop()
    local done = os.getenv("FLOOD_DONE")
    if done then
      local f = io.open(done .. "." .. first, "w")
      if f then f:close() end
    end
  end
end

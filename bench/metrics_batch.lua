-- POST /api/metrics with 100-point batches, as the monlight client flushes them:
-- per request of the instrumented app, the FastAPI middleware's
-- http_requests_total counter and http_request_duration_seconds histogram
-- (labels method, endpoint, status), now and then a job timing or a gauge;
-- timestamps in the client's format, oldest first, over the last 10 s (its
-- flush interval). A few body variants are rebuilt once a second, so the
-- timestamps stay current without building 17 KB of JSON per request.
-- usage: wrk -s metrics_batch.lua URL -- [POINTS_PER_BATCH]

local routes = {
  -- method, route template, cumulative share, median seconds
  {"GET", "/api/products", 0.40, 0.018},
  {"GET", "/api/products/{id}", 0.70, 0.009},
  {"POST", "/api/cart/items", 0.85, 0.025},
  {"GET", "/api/orders", 0.95, 0.040},
  {"POST", "/api/checkout", 1.00, 0.180},
}
local tasks = {"send_email", "sync_inventory", "render_invoice", "charge_card"}
local VARIANTS = 8

local size = 100
local bodies = {}
local built_for = -1
local counter = 0

function init(args)
  size = tonumber(args[1]) or 100
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time())
end

local function lognormal(median, spread)
  local u1, u2 = math.random(), math.random()
  local normal = math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)
  return median * math.exp(spread * normal)
end

local function point(name, kind, value, ts, labels, project)
  return '{"name":"' .. name .. '","type":"' .. kind .. '","value":' .. value ..
    ',"timestamp":"' .. ts .. '","labels":{' .. labels .. '},"project":"' .. project .. '"}'
end

local function request_labels()
  local r = math.random()
  local route = routes[#routes]
  for _, candidate in ipairs(routes) do
    if r < candidate[3] then
      route = candidate
      break
    end
  end
  local s = math.random()
  local status = s < 0.955 and "200" or (s < 0.985 and "404" or "500")
  return '"method":"' .. route[1] .. '","endpoint":"' .. route[2] .. '","status":"' ..
    status .. '"', route[4]
end

local function build(now)
  local stamps = {}
  for k = 0, 9 do
    stamps[k] = os.date("!%Y-%m-%dT%H:%M:%SZ", now - 9 + k)
  end
  for v = 1, VARIANTS do
    local parts = {}
    local n = 0
    while n < size do
      local ts = stamps[math.floor(n * 10 / size)]
      local r = math.random()
      if r < 0.92 and n + 2 <= size then
        local labels, median = request_labels()
        parts[#parts + 1] = point("http_requests_total", "counter", "1", ts, labels, "shop-api")
        parts[#parts + 1] = point("http_request_duration_seconds", "histogram",
          string.format("%.6f", lognormal(median, 0.6)), ts, labels, "shop-api")
        n = n + 2
      elseif r < 0.97 then
        parts[#parts + 1] = point("job_duration_seconds", "histogram",
          string.format("%.4f", lognormal(0.37, 0.8)), ts,
          '"task":"' .. tasks[math.random(#tasks)] .. '"', "shop-worker")
        n = n + 1
      else
        parts[#parts + 1] = point("db_pool_connections_in_use", "gauge",
          tostring(math.random(2, 10)), ts, '"pool":"primary"', "shop-api")
        n = n + 1
      end
    end
    bodies[v] = "[" .. table.concat(parts, ",") .. "]"
  end
end

function request()
  local now = os.time()
  if now ~= built_for then
    build(now)
    built_for = now
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[counter % VARIANTS + 1])
end

-- POST /api/errors with a new group on every request.
-- The v1 fingerprint is md5(project:exception_type:file:line) and the grouping
-- key leaves lines out for the frames' (path, function), so the exception type
-- carries the run salt and the wrk thread id, and the deepest frame's line and
-- function name carry a per-thread counter: no two requests group together.
-- usage: wrk -s error_new.lua URL -- SALT

local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local counter = 0
local prefix, middle, middle2, suffix

function init(args)
  local salt = args[1] or "0"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  prefix = '{"project":"shop-api","exception_type":"BenchError' .. salt .. 't' .. tostring(tid) ..
    '","message":"invalid literal for int() with base 10: \'abc\' while parsing order quantity",' ..
    '"traceback":"Traceback (most recent call last):\\n' ..
    '  File \\"/app/.venv/lib/python3.12/site-packages/starlette/routing.py\\", line 74, in app\\n' ..
    '    response = await f(request)\\n' ..
    '  File \\"/app/shop/api/orders.py\\", line 118, in create_order\\n' ..
    '    items = parse_items(payload[\\"items\\"])\\n' ..
    '  File \\"/app/shop/api/parsing.py\\", line '
  middle = ', in parse_items_'
  middle2 = '\\n    quantity = int(raw[\\"quantity\\"])\\n' ..
    'ValueError: invalid literal for int() with base 10: \'abc\'\\n",' ..
    '"request_url":"https://shop.example.com/api/orders?id='
  suffix = '","request_method":"POST","environment":"production",' ..
    '"request_headers":{"User-Agent":"Mozilla/5.0 (X11; Linux x86_64)","Accept":"application/json"},' ..
    '"extra":{"release":"2026.01.3","order_source":"checkout"}}'
end

function request()
  counter = counter + 1
  local n = tostring(counter)
  return wrk.format(nil, nil, nil, prefix .. n .. middle .. n .. middle2 .. n .. suffix)
end

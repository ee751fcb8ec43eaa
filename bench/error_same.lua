-- POST /api/errors with the same report every time: one fingerprint, so each
-- request counts a repeat and adds an occurrence (the group keeps the newest 5).
-- A static request: wrk builds it once and sends it as fast as it can.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"project":"shop-api","exception_type":"KeyError",' ..
  '"message":"\'customer_id\' missing from session while rendering the cart page",' ..
  '"traceback":"Traceback (most recent call last):\\n' ..
  '  File \\"/app/.venv/lib/python3.12/site-packages/starlette/routing.py\\", line 74, in app\\n' ..
  '    response = await f(request)\\n' ..
  '  File \\"/app/shop/web/cart.py\\", line 57, in show_cart\\n' ..
  '    customer = session[\\"customer_id\\"]\\n' ..
  'KeyError: \'customer_id\'\\n",' ..
  '"request_url":"https://shop.example.com/cart","request_method":"GET",' ..
  '"environment":"production",' ..
  '"request_headers":{"User-Agent":"Mozilla/5.0 (X11; Linux x86_64)","Accept":"text/html"},' ..
  '"extra":{"release":"2026.01.3"}}'

-- POST /api/browser/errors with the report in the file named by the first argument
-- (a minified stack the relay maps back through a source map, then forwards).
-- A static request: wrk builds it once and sends it as fast as it can.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.body = file:read("*a")
  file:close()
end

-- post.lua - wrk script: POST the file named by $BODY as JSON.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
-- CACHE_CONTROL=no-store makes every request run the whole analysis.
if os.getenv("CACHE_CONTROL") then
	wrk.headers["Cache-Control"] = os.getenv("CACHE_CONTROL")
end
-- HEADER="Name: value" adds one header (a credential: Authorization,
-- X-API-Key).
local h = os.getenv("HEADER")
if h and h ~= "" then
	local name, value = h:match("^([^:]+):%s*(.*)$")
	assert(name, "HEADER must be 'Name: value'")
	wrk.headers[name] = value
end

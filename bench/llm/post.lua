-- post.lua - wrk script for bench/llm/run.sh: POST the file named by $BODY
-- as JSON with Cache-Control: no-store, optionally wait $THINK_MS after each
-- answer before the next request (wrk starts the clock when it writes the
-- request, so the wait is not in the latency), and print one line:
--   RESULT requests p50_us p99_us errors non2xx seconds mean_us
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cache-Control"] = "no-store"

local think = tonumber(os.getenv("THINK_MS") or "0")
if think > 0 then
	function delay()
		return think
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT %d %d %d %d %d %.3f %.0f\n", summary.requests,
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.timeout, e.status,
		summary.duration / 1e6, latency.mean))
end

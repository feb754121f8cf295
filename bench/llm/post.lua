-- post.lua - wrk script for bench/llm/run.sh: POST the file named by $BODY
-- as JSON with Cache-Control: no-store, and print one line:
--   RESULT requests p50_us p99_us errors non2xx seconds mean_us
-- $THINK_MS: wait that long after each answer before the next request (wrk
-- starts the clock when it writes a request: the wait is not in the latency).
-- $STAGGER_MS with $CONNS and $WRK_THREADS: spread the connections' first
-- requests evenly over that time. wrk opens every connection at once, and against a fixed-delay
-- upstream they would stay in step: each request would queue for the CPU
-- behind all the others of its burst.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cache-Control"] = "no-store"

local think = tonumber(os.getenv("THINK_MS") or "0")
local stagger = tonumber(os.getenv("STAGGER_MS") or "0")
local conns = tonumber(os.getenv("CONNS") or "1")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")

local next_tid = 0
function setup(thread)
	thread:set("tid", next_tid)
	next_tid = next_tid + 1
end

local started = 0
if think > 0 or stagger > 0 then
	function delay()
		-- A thread's first calls are its connections' first requests (the
		-- answers take longer than opening them all).
		if stagger > 0 and started < conns / nthreads then
			local k = started * nthreads + tid
			started = started + 1
			return math.floor(stagger * k / conns)
		end
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

-- mixed.lua - wrk script of bench/faults/run.sh: a steady mix of cache
-- hits, misses (new resumes: LLM calls), bad requests and callers with and
-- without a valid API key, every answer checked against what its kind must
-- get. Environment: REQ (the request JSON, holding "Senior Data Engineer"),
-- API_KEY, TAG (keeps the misses of one run apart from another's).
--
-- Each request carries its kind in X-Request-Id, which the server echoes,
-- so response() knows what was asked on whichever connection answered.
-- A failure is any status other than the kind's: 200 for hits and misses,
-- 400 for malformed JSON, 401 without or with a wrong key. bad_hits counts
-- hits (X-Cache HIT-*) whose answer is DEGRADED: a degraded answer must
-- never have been stored.

local threads = {}
local counter = 1

function setup(thread)
	thread:set("tid", counter)
	counter = counter + 1
	table.insert(threads, thread)
end

local f = assert(io.open(os.getenv("REQ"), "rb"))
local base = f:read("*a")
f:close()
local key = os.getenv("API_KEY") or ""
local tag = os.getenv("TAG") or "t"
local hits_pool = tonumber(os.getenv("HITS_POOL") or "16")

-- 20 slots: 11 hits, 3 misses, 2 malformed, 2 anonymous, 2 wrong key.
local plan = { "hit", "hit", "miss", "hit", "bad", "hit", "anon", "hit", "hit", "miss",
	       "hit", "badkey", "hit", "hit", "miss", "anon", "hit", "bad", "hit", "badkey" }
local want = { hit = 200, miss = 200, bad = 400, anon = 401, badkey = 401 }

local n = 0
sent, failed, fail5xx, degraded, bad_hits, hits, misses, statuses = 0, 0, 0, 0, 0, 0, 0, ""
local seen = {}

local function body_for(kind)
	if kind == "bad" then
		return '{"resume_text": "x", "job_ad": }'
	end
	local variant
	if kind == "miss" then
		variant = string.format("Data Engineer %s-%d-%d", tag, tid, n)
	else
		variant = string.format("Data Engineer pool %d", n % hits_pool)
	end
	return (base:gsub("Senior Data Engineer", variant))
end

function request()
	n = n + 1
	local kind = plan[(n % #plan) + 1]
	local headers = { ["Content-Type"] = "application/json",
			  ["X-Request-Id"] = string.format("k%s-%d-%d", kind, tid, n) }
	if kind == "badkey" then
		headers["X-API-Key"] = "ak_wrong_0000000000000000"
	elseif kind ~= "anon" then
		headers["X-API-Key"] = key
	end
	return wrk.format("POST", "/v1/analyze", headers, body_for(kind))
end

function response(status, headers, body)
	local id = headers["X-Request-Id"] or ""
	local kind = id:match("^k(%a+)-")
	sent = sent + 1
	seen[status] = (seen[status] or 0) + 1
	if status >= 500 then
		fail5xx = fail5xx + 1
	end
	if kind == nil or want[kind] ~= status then
		failed = failed + 1
		return
	end
	if status == 200 then
		local xc = headers["X-Cache"] or ""
		local deg = body:find('"processing_status":"DEGRADED"', 1, true) ~= nil
		if deg then
			degraded = degraded + 1
		end
		if xc:sub(1, 3) == "HIT" then
			hits = hits + 1
			if deg then
				bad_hits = bad_hits + 1
			end
		else
			misses = misses + 1
		end
	end
end

function done(summary, latency, requests)
	local t = { sent = 0, failed = 0, fail5xx = 0, degraded = 0, bad_hits = 0, hits = 0, misses = 0 }
	local st = {}
	for _, th in ipairs(threads) do
		for k, _ in pairs(t) do
			t[k] = t[k] + (th:get(k) or 0)
		end
	end
	local e = summary.errors
	local sockerr = e.connect + e.read + e.write + e.timeout
	io.write(string.format("sent=%d answered=%d failed=%d fail5xx=%d sockerr=%d degraded=%d bad_hits=%d " ..
			       "hits=%d misses=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
			       summary.requests + sockerr, t.sent, t.failed + sockerr, t.fail5xx, sockerr,
			       t.degraded, t.bad_hits, t.hits, t.misses,
			       latency:percentile(50) / 1000, latency:percentile(99) / 1000,
			       latency.max / 1000))
end

-- load.lua - wrk script of tests/e2e/tsan.test: every route a worker's
-- threads serve at the same time, through nginx. Environment: REQ (the
-- request JSON, holding "Senior Data Engineer"), API_KEY (scope analyze),
-- ADMIN_KEY (scope admin), USER_NAME (the analyze key's user, whose entries
-- the invalidations drop), JWTS (bearer tokens of other users, separated
-- by spaces), TAG (keeps one run's misses apart).
--
-- Each request carries its kind in X-Request-Id, which the server echoes,
-- so response() knows what was asked on whichever connection answered.
-- A failure is any status other than the kind's.

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
local admin = os.getenv("ADMIN_KEY") or ""
local user = os.getenv("USER_NAME") or ""
local tag = os.getenv("TAG") or "t"
local jwts = {}
for t in (os.getenv("JWTS") or ""):gmatch("%S+") do
	table.insert(jwts, t)
end

-- 27 slots: 8 hits (a pool of 6 resumes), 5 misses (new resumes: LLM
-- calls), 3 analyses by bearer token (the pool, as other users), 2
-- invalidations, 2 /metrics, 2 /health, and one each of malformed JSON,
-- no key, a wrong key, a 404 and a 405.
local plan = { "hit", "miss", "hit", "metrics", "jwt", "hit", "bad", "miss", "inval", "hit",
	       "health", "anon", "hit", "jwt", "miss", "metrics", "notfound", "hit", "miss",
	       "badkey", "health", "jwt", "hit", "inval", "method", "hit", "miss" }
local want = { hit = 200, miss = 200, jwt = 200, bad = 400, anon = 401, badkey = 401,
	       inval = 200, metrics = 200, health = 200, notfound = 404, method = 405 }

local n = 0
sent, failed, fail5xx, hits, misses = 0, 0, 0, 0, 0
statuses = ""

local function analysis(kind)
	local variant
	if kind == "miss" then
		variant = string.format("Data Engineer %s-%d-%d", tag, tid, n)
	else
		variant = string.format("Data Engineer pool %d", n % 6)
	end
	return (base:gsub("Senior Data Engineer", variant))
end

function request()
	n = n + 1
	local kind = plan[(n % #plan) + 1]
	local h = { ["X-Request-Id"] = string.format("k%s-%d-%d", kind, tid, n) }
	if kind == "metrics" then
		return wrk.format("GET", "/metrics", h)
	elseif kind == "health" then
		return wrk.format("GET", "/health", h)
	elseif kind == "notfound" then
		return wrk.format("GET", "/no/such/route", h)
	elseif kind == "method" then
		return wrk.format("GET", "/v1/analyze", h)
	elseif kind == "inval" then
		h["Content-Type"] = "application/json"
		h["X-API-Key"] = admin
		return wrk.format("POST", "/v1/cache/invalidate", h,
				  string.format('{"tenant": "test", "user": "%s"}', user))
	end
	h["Content-Type"] = "application/json"
	if kind == "badkey" then
		h["X-API-Key"] = "ak_wrong_0000000000000000"
	elseif kind == "jwt" then
		h["Authorization"] = "Bearer " .. jwts[(n % #jwts) + 1]
	elseif kind ~= "anon" then
		h["X-API-Key"] = key
	end
	if kind == "bad" then
		return wrk.format("POST", "/v1/analyze", h, '{"resume_text": "x", "job_ad": }')
	end
	return wrk.format("POST", "/v1/analyze", h, analysis(kind))
end

function response(status, headers, body)
	local id = headers["X-Request-Id"] or ""
	local kind = id:match("^k(%a+)-")
	sent = sent + 1
	if status >= 500 then
		fail5xx = fail5xx + 1
	end
	if kind ~= nil then
		_G["n_" .. kind] = (_G["n_" .. kind] or 0) + 1
	end
	if kind == nil or want[kind] ~= status then
		failed = failed + 1
		if #statuses < 200 then
			statuses = statuses .. string.format(" %s:%d", kind or "?", status)
		end
		return
	end
	if kind == "hit" or kind == "miss" or kind == "jwt" then
		local xc = headers["X-Cache"] or ""
		if xc:sub(1, 3) == "HIT" then
			hits = hits + 1
		else
			misses = misses + 1
		end
	end
end

function done(summary, latency, requests)
	local t = { sent = 0, failed = 0, fail5xx = 0, hits = 0, misses = 0 }
	local wrong, kinds = "", ""
	for _, th in ipairs(threads) do
		for k, _ in pairs(t) do
			t[k] = t[k] + (th:get(k) or 0)
		end
		wrong = wrong .. (th:get("statuses") or "")
	end
	for k, _ in pairs(want) do
		local c = 0
		for _, th in ipairs(threads) do
			c = c + (th:get("n_" .. k) or 0)
		end
		kinds = kinds .. string.format("%s%s:%d", kinds == "" and "" or ",", k, c)
	end
	local e = summary.errors
	local sockerr = e.connect + e.read + e.write + e.timeout
	io.write(string.format("sent=%d answered=%d failed=%d fail5xx=%d sockerr=%d hits=%d misses=%d " ..
			       "p50_ms=%.1f p99_ms=%.1f max_ms=%.1f kinds=%s wrong=%s\n",
			       summary.requests + sockerr, t.sent, t.failed + sockerr, t.fail5xx, sockerr,
			       t.hits, t.misses, latency:percentile(50) / 1000,
			       latency:percentile(99) / 1000, latency.max / 1000, kinds,
			       wrong == "" and "none" or wrong))
end

#!/usr/bin/env python3
# seeds.py CORPUS_DIR - writes the hand-made seed inputs of every harness
# (made-up resumes and ads, JWTs signed with fuzz_jwt.c's test secret,
# FastCGI records): run once to make tests/fuzz/corpus/; inputs found by
# fuzzing are added next to them by scripts/fuzz.sh.
import os, json, hmac, hashlib, base64, struct, sys
root = sys.argv[1]
def put(h, name, data):
    d = os.path.join(root, h); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), 'wb').write(data)

# msgpack encoder (small)
def mp(o):
    if o is None: return b'\xc0'
    if o is True: return b'\xc3'
    if o is False: return b'\xc2'
    if isinstance(o, int):
        if 0 <= o < 128: return bytes([o])
        if -32 <= o < 0: return struct.pack('b', o)
        if 0 <= o < 2**32: return b'\xce' + struct.pack('>I', o)
        return b'\xd3' + struct.pack('>q', o)
    if isinstance(o, float): return b'\xcb' + struct.pack('>d', o)
    if isinstance(o, str):
        b = o.encode()
        if len(b) < 32: return bytes([0xa0 | len(b)]) + b
        if len(b) < 256: return b'\xd9' + bytes([len(b)]) + b
        return b'\xda' + struct.pack('>H', len(b)) + b
    if isinstance(o, bytes): return b'\xc4' + bytes([len(o)]) + o
    if isinstance(o, list):
        h = bytes([0x90 | len(o)]) if len(o) < 16 else b'\xdc' + struct.pack('>H', len(o))
        return h + b''.join(mp(x) for x in o)
    if isinstance(o, dict):
        h = bytes([0x80 | len(o)]) if len(o) < 16 else b'\xde' + struct.pack('>H', len(o))
        return h + b''.join(mp(k) + mp(v) for k, v in o.items())
    raise TypeError(o)

resume = ("Sam Placeholder\nPlatform Engineer - Hooli\n"
          "6 years of experience with Python, Go and PostgreSQL.\n"
          "Hooli, Platform Engineer, March 2020 - Present\n- Built Kubernetes operators\n"
          "Vandelay Industries, Developer, 2016 - 2019\n- Java, Spring Boot, Docker\n")
ad = ("Senior Site Reliability Engineer\nRequirements:\n- 5+ years of experience with Linux\n"
      "- Kubernetes, Terraform, AWS\nNice to have:\n- Rust is a plus\nBenefits:\n- Remote work\n")
req = {"resume_text": resume, "job_ad": ad, "job_title": "SRE"}
put('request', 'example.json', json.dumps(req))
put('request', 'pretty.json', json.dumps(req, indent=2))
put('request', 'dup-key.json', '{"resume_text": "a", "resume_text": "b"}')
put('request', 'deep.json', '[' * 40 + ']' * 40)
put('request', 'bad-utf8.json', b'{"resume_text": "\xff\xfe"}')
put('request', 'escapes.json', '{"resume_text": "\\u00e9\\ud83d\\ude00\\n\\t", "n": -1.5e300, "b": [true, false, null]}')
put('request', 'not-object.json', '[1, 2, 3]')
put('request', 'msgpack-map.bin', mp(req))
put('request', 'trailing.json', '{"a": 1} {"b": 2}')
put('request', 'empty', '')

put('mpcheck', 'map.bin', b'\x01' + mp(req)[1:] if False else mp(req))
put('mpcheck', 'nested.bin', mp({"a": [1, 2, {"b": [None, True, 1.5, -3, "x" * 40]}]}))
put('mpcheck', 'huge-array.bin', b'\xdd\xff\xff\xff\xff')
put('mpcheck', 'huge-str.bin', b'\xdb\x7f\xff\xff\xff')
put('mpcheck', 'deep.bin', b'\x91' * 40 + b'\xc0')
put('mpcheck', 'ext.bin', b'\xd4\x01\x02' + b'\xc7\x03\x05abc')
put('mpcheck', 'reserved.bin', b'\xc1')
put('mpcheck', 'bad-utf8.bin', b'\xa2\xc3\x28')
put('mpcheck', 'two-values.bin', b'\x01\x02')
put('mpcheck', 'bin-float.bin', mp([b'\x00\x01', 3.25, 2**40, -2**40]))

ans = {"_cache_version": 1, "_cache_cost": 0.0012, "experience": {"total_years": 6.5},
       "skills": ["Python", "Go"], "degraded": False, "summary": "fine"}
put('ctx_merge', 'answer.bin', mp(ans))
put('ctx_merge', 'empty-map.bin', b'\x80')
put('ctx_merge', 'bad-key.bin', mp({"": 1}))
put('ctx_merge', 'int-key.bin', b'\x81\x01\x02')
put('ctx_merge', 'not-map.bin', mp([1, 2]))
put('ctx_merge', 'long-key.bin', mp({"k" * 300: 1}))
put('ctx_merge', 'nul-key.bin', mp({"a\x00b": 1}))
put('ctx_merge', 'map32.bin', b'\xdf\x00\x00\x00\x01' + mp("x") + mp(1))

put('cache_answer', 'answer.bin', mp(ans))
put('cache_answer', 'old-version.bin', mp({"_cache_version": 0, "x": 1}))
put('cache_answer', 'no-version.bin', mp({"x": 1}))
put('cache_answer', 'string-version.bin', mp({"_cache_version": "1"}))
put('cache_answer', 'truncated.bin', mp(ans)[:-3])
put('cache_answer', 'garbage.bin', b'\xde\xad\xbe\xef')

call = {"v": 1, "cost": 0.0003, "result": {"text": "{\"gaps\": []}", "model": "m", "tokens": [10, 20]}}
put('cache_call', 'call.bin', mp(call))
put('cache_call', 'negative-cost.bin', mp({"v": 1, "cost": -1.0, "result": 1}))
put('cache_call', 'no-result.bin', mp({"v": 1, "cost": 0.0}))
put('cache_call', 'version2.bin', mp({"v": 2, "cost": 0.0, "result": None}))
put('cache_call', 'huge-cost.bin', mp({"v": 1, "cost": 1e308, "result": "x"}))
put('cache_call', 'int-key.bin', b'\x83\x01\x01' + mp("cost") + mp(0.5) + mp("result") + mp([1]))
put('cache_call', 'truncated.bin', mp(call)[:12])

exps = [resume,
        "Experience\nSenior Developer\nAcme Corp - Springfield\nJan 2018 - Present\n- Led a team of 4\n"
        "Developer\nGlobex Corporation\n06/2014 - 12/2017\nEducation\nBSc 2010 - 2014\n",
        "Over 12 years of experience in data engineering.\nData Engineer | Initrode | 2012 - 2024\n",
        "Consultant, Umbrella, Sept. 2019 – Aug. 2021\nAnalyst, Soylent, 2017–2019\n",
        "Manager\nCyberdyne\n2030 - 2035\nIntern\nTyrell\nSummer 2009\n",
        "Engineer - Wonka Industries\nMay 2021 to till date\nQA, Oscorp, 2015 - 2015\n",
        "\xe2\x80\xa2 2019 - 2020 \x00 1999 - 2001 --- 1/2 years\n"]
for i, t in enumerate(exps):
    put('experience', 'resume-%d.txt' % i, '\x1e\x05' + t)
put('experience', 'empty', '')

ads = [ad,
       "Data Analyst\nAbout the role\nYou will build dashboards.\nWhat you'll need:\n- SQL and Excel\n"
       "- 3-5 years in analytics\nPreferred qualifications\n- Tableau is a plus\nWhat we offer\n- Pension\n",
       "\nRequirements: at least 4 years of experience with Java\nBonus points: Scala\n",
       "Junior Developer\nMust have:\n- Python (2+ years exp)\nHow to apply\nSend a CV\n",
       "Lead Engineer\n" + "Skills:\n" + "- Go\n" * 100]
for i, t in enumerate(ads):
    put('gap', 'ad-%d.txt' % i, t)

skill_texts = ["Languages: C, C++, Java, Go, R\nTools: Excel, Kubernetes, k8s, Node JS, APIs\n",
               resume, "Scala Java Go\nhttps://python.example.com/go mail me at go@c.example\n",
               "Rust, rust, RUST and Excel, excel\n", "Python", "k8s", "node.js",
               "\xe2\x80\xa2 Docker \xc2\xa0 Terraform \xe2\x80\x94 AWS\n", "machine-learning_and  data science"]
for i, t in enumerate(skill_texts):
    put('skillmatch', 'text-%d.txt' % i, t)

secret = b"imaginator-fuzz-secret-0123456789abcdef"
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
def tok(header, payload, key=secret, sig=None):
    h = b64(json.dumps(header, separators=(',', ':')).encode())
    p = b64(json.dumps(payload, separators=(',', ':')).encode())
    s = sig if sig is not None else b64(hmac.new(key, (h + '.' + p).encode(), hashlib.sha256).digest())
    return h + '.' + p + '.' + s
now = 1700000000
good = {"sub": "user-1", "tenant": "acme", "exp": now + 3600, "iat": now - 10, "nbf": now - 10,
        "iss": "https://issuer.example", "aud": "imaginator", "scope": "analyze cache:invalidate"}
put('jwt', 'good.tok', '\x00' + tok({"alg": "HS256", "typ": "JWT"}, good))
put('jwt', 'good-kid.tok', '\x00' + tok({"alg": "HS256", "kid": "k2"}, dict(good, aud=["x", "imaginator"], scopes=["analyze"])))
put('jwt', 'expired.tok', '\x00' + tok({"alg": "HS256"}, dict(good, exp=now - 1000)))
put('jwt', 'none.tok', '\x00' + tok({"alg": "none"}, good, sig=''))
put('jwt', 'rs256.tok', '\x00' + tok({"alg": "RS256"}, good))
put('jwt', 'bad-sig.tok', '\x00' + tok({"alg": "HS256"}, good, key=b'wrong' * 8))
put('jwt', 'padded.tok', '\x00' + tok({"alg": "HS256"}, good) + '==')
put('jwt', 'two-dots.tok', '\x00a.b')
put('jwt', 'claims.json', '\x01' + json.dumps(good))
put('jwt', 'claims-bad.json', '\x01' + json.dumps({"sub": "a:b", "tenant": "x:y", "exp": "soon", "nbf": 1.5}))
put('jwt', 'claims-noexp.json', '\x01' + json.dumps({"sub": "u", "iss": "https://issuer.example", "aud": "imaginator"}))
put('jwt', 'claims-long.json', '\x01' + json.dumps(dict(good, sub="u" * 200, scope=" ".join(["s%d" % i for i in range(200)]))))

gap_answer = {"missing_skills": [{"skill": "Kafka", "importance": "required", "evidence": "the ad asks for Kafka"}],
              "summary": "Strong Python background with 7 years of experience; 40% latency cut."}
def chat(content, finish="stop", **kw):
    d = {"id": "gen-1", "model": "vendor/model-a", "choices": [{"index": 0, "finish_reason": finish,
         "message": {"role": "assistant", "content": content}}],
         "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "cost": 0.0021}}
    d.update(kw)
    return json.dumps(d)
put('llm_reply', 'ok.json', chat(json.dumps(gap_answer)))
put('llm_reply', 'fenced.json', chat("```json\n" + json.dumps(gap_answer) + "\n```"))
put('llm_reply', 'truncated.json', chat(json.dumps(gap_answer)[:60], finish="length"))
put('llm_reply', 'error.json', json.dumps({"error": {"code": 429, "message": "rate limited, key sk-or-v1-abcdef0123"}}))
put('llm_reply', 'no-content.json', json.dumps({"choices": []}))
put('llm_reply', 'invented.json', chat(json.dumps({"missing_skills": [], "summary": "Led 300 engineers at NASA for 25 years using COBOL"})))
put('llm_reply', 'deep.json', chat('[' * 80 + ']' * 80))
put('llm_reply', 'content-raw.json', json.dumps({"suggestions": [{"bullet": "Cut p99 latency by 40%", "why": "numbers"}]}))
put('llm_reply', 'null-content.json', '{"choices":[{"message":{"content":null}}]}')

def fields(*f): return '\x00'.join(f)
put('http_headers', 'json.txt', fields("application/json", "application/json; charset=utf-8", "/v1/analyze?x=1", "req-123", "X-Cache", "HIT", "1234", "120", "429", "vendor/model-a", "https://openrouter.ai/api/v1", "a, b,c", '{"error":{"message":"model vendor/model-a not found"}}'))
put('http_headers', 'msgpack.txt', fields("text/html, application/msgpack;q=0.9", " application/x-msgpack ", "/health/ready", "bad id!", "Bad:Name", "a\r\nb", "18446744073709551616", "1e300", "400", "m", "http://127.0.0.1:9/x?y", ",,", "{}"))
put('http_headers', 'empty.txt', fields("", "", "", "", "", "", "", "", "", "", "", "", ""))
put('http_headers', 'retry.txt', fields("*/*", "text/plain", "/metrics", "a" * 70, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "-5", "503", "x", "ftp://h", " a ", "not json"))

def rec(t, rid, content, pad=0):
    return struct.pack('>BBHHBB', 1, t, rid, len(content), pad, 0) + content + b'\x00' * pad
def pair(n, v):
    def ln(x): return bytes([len(x)]) if len(x) < 128 else struct.pack('>I', len(x) | 0x80000000)
    return ln(n) + ln(v) + n + v
begin = rec(1, 1, struct.pack('>HB5x', 1, 0))
begin_keep = rec(1, 1, struct.pack('>HB5x', 1, 1))
params = pair(b'REQUEST_METHOD', b'POST') + pair(b'REQUEST_URI', b'/v1/analyze') + pair(b'CONTENT_LENGTH', b'13') + pair(b'CONTENT_TYPE', b'application/json') + pair(b'HTTP_X_LONG', b'v' * 200)
body = b'{"a": "body"}'
full = begin + rec(4, 1, params) + rec(4, 1, b'') + rec(5, 1, body) + rec(5, 1, b'')
put('fcgi_params', 'request.bin', full)
put('fcgi_params', 'pipelined.bin', begin_keep + rec(4, 1, params) + rec(4, 1, b'') + rec(5, 1, body) + rec(5, 1, b'') + begin + rec(4, 1, pair(b'REQUEST_METHOD', b'GET')) + rec(4, 1, b'') + rec(5, 1, b''))
put('fcgi_params', 'cve-2025-23016.bin', begin + rec(4, 1, struct.pack('>II', 0xfffffffe, 0xfffffffe)) + rec(4, 1, b''))
put('fcgi_params', 'nul-param.bin', begin + rec(4, 1, pair(b'HTTP_X\x00Y', b'v\x00w')) + rec(4, 1, b''))
put('fcgi_params', 'get-values.bin', rec(9, 0, pair(b'FCGI_MAX_CONNS', b'') + pair(b'FCGI_MAX_REQS', b'') + pair(b'FCGI_MPXS_CONNS', b'')))
put('fcgi_params', 'unknown-type.bin', rec(42, 0, b'\x00' * 8))
put('fcgi_params', 'bad-role.bin', rec(1, 1, struct.pack('>HB5x', 3, 0)) + rec(4, 1, params))
put('fcgi_params', 'abort.bin', begin + rec(4, 1, params[:10]) + rec(2, 1, b''))
put('fcgi_params', 'second-request.bin', begin + rec(1, 2, struct.pack('>HB5x', 1, 0)) + rec(1, 1, struct.pack('>HB5x', 1, 0)))
put('fcgi_params', 'padded.bin', rec(1, 1, struct.pack('>HB5x', 1, 0), pad=7) + rec(4, 1, params, pad=3) + rec(4, 1, b'') + rec(5, 1, body, pad=255))
put('fcgi_params', 'bad-version.bin', b'\x02' + full[1:])
put('fcgi_params', 'big-length.bin', begin + rec(4, 1, pair(b'CONTENT_LENGTH', b'99999999999999999999')) + rec(4, 1, b'') + rec(5, 1, b'x'))

conf_min = 'pipeline = (\n  { name = "request"; plugin = "request"; }\n);\n'
put('config', 'minimal.conf', conf_min)
put('config', 'includes.conf', 'imaginator = { max_body_bytes = 65536; max_depth = 16; };\npipeline = (\n  @include "request.conf"\n  ,\n  @include "analysis.conf"\n);\n')
put('config', 'unknown-option.conf', 'pipeline = ( { name = "gap"; plugin = "gap"; options = { weight_required = -1.0; bogus = 1; }; } );\n')
put('config', 'comment-include.conf', '/* @include "request.conf" */\npipeline = ( # @include "x"\n @include "request.conf"\n);\n')
put('config', 'fcgi.conf', 'fcgi = { threads = 4; listen = "127.0.0.1:9000"; };\npipeline = ( { name = "request"; plugin = "request"; } );\n')
put('config', 'syntax-error.conf', 'pipeline = ( { name = ; } \n')
put('config', 'missing-plugin.conf', 'pipeline = ( { name = "x"; plugin = "no_such_plugin"; } );\n')
put('config', 'self-include.conf', '@include "imaginator.conf"\n')
put('config', 'nul.conf', 'pipeline = ();\x00 junk\n')
put('config', 'cache.conf', 'pipeline = ( @include "request.conf"\n , { name = "cache"; plugin = "cache"; options = { redis_url = "none"; l1_max_bytes = 1024; }; } );\n')

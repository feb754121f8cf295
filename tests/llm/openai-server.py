#!/usr/bin/env python3
"""openai-server.py - an OpenAI-compatible chat completion server for tests.

Python 3 standard library only. Binds 127.0.0.1, speaks HTTP/1.1 with
keep-alive, answers deterministic chat completions and injects faults and
delays chosen per request, so the LLM provider tests can exercise retries,
timeouts, size limits, key handling and model fallback against a real socket.

Usage:
  openai-server.py [--port 0] [--port-file FILE] [--log FILE] [--script FILE]
                   [--fail-model MODEL:STATUS]... [--key KEY:STATUS]...
                   [--max-stall SECONDS]

Endpoints:
  POST /v1/chat/completions, POST /api/v1/chat/completions (OpenRouter's path)
  GET  /v1/models, GET /api/v1/models
  GET  /_test/requests   the request log as a JSON array
  POST /_test/reset      clears the log (and the file given with --log)
  POST /_test/script     replaces the behaviour script with the JSON list sent

Behaviours (one JSON object; from the script, one per API request, and from
the X-Test-Fault header, which wins key by key). The header takes JSON or
"key=value" pairs separated by ',' or ';' (a bare key means true):
  delay_ms=N        wait N ms before the headers
  status=N          answer N with an OpenAI-style error body
  retry_after=V     add Retry-After: V
  message=TEXT, code=TEXT, type=TEXT   override the error body's fields
  malformed         a 200 whose body is not JSON
  truncated         the body cut in half, Content-Length matching the cut
  trickle[=MS]      the body in trickle_bytes (default 16) chunks, MS (50) apart
  oversized=N       a body of exactly N bytes, chunked transfer-encoding,
                    announced in X-Test-Body-Bytes
  stall[=MS]        headers, then nothing until the client leaves or MS
                    (default and cap: --max-stall) passed, then close
  disconnect        headers, half the body, then close the socket
  content=TEXT, finish_reason=TEXT   override the answer
  cost=USD          add usage.cost (as OpenRouter reports a call's price)
  invent            an answer that makes things up, for the grounding guard:
                    every free string of a json_schema answer (and a plain
                    answer) names an invented employer, title and figures
                    ("Led 47 engineers at Globex Corporation as VP of
                    Engineering, cutting costs 83%"), and arrays get two
                    items where the schema allows; the answer still
                    matches the schema
  fill[=N]          a plain answer with substance: arrays of a json_schema
                    answer get N items (default 2) where the schema allows,
                    and free strings a sentence that names only common
                    skills, so the grounding guard keeps them
  obey_injection    a model that obeys prompt injection: when a message
                    holds "ignore previous instructions", every free
                    string says "PWNED" and cites an invented employer;
                    the answer still matches the schema (no effect
                    without the phrase)
Every wait is capped by --max-stall, so a test run never hangs here.
"""

import argparse
import hashlib
import http.server
import json
import math
import os
import select
import signal
import socket
import sys
import threading
import time

MODELS = ["test/model-a", "test/model-b", "test/model-c"]

ERROR_KINDS = {
	400: ("invalid_request_error", "invalid_request"),
	401: ("authentication_error", "invalid_api_key"),
	402: ("insufficient_quota", "insufficient_credits"),
	403: ("permission_error", "forbidden"),
	404: ("not_found_error", "not_found"),
	408: ("timeout_error", "timeout"),
	413: ("invalid_request_error", "request_too_large"),
	429: ("rate_limit_error", "rate_limit_exceeded"),
	500: ("server_error", "internal_error"),
	502: ("server_error", "bad_gateway"),
	503: ("server_error", "overloaded"),
	504: ("server_error", "timeout"),
}

MAX_REQUEST_BYTES = 16 << 20


class State:
	"""What the handler threads share: counters, log, script, options."""

	def __init__(self, args):
		self.lock = threading.Lock()
		self.conn_ids = 0
		self.seq = 0
		self.completions = 0
		self.log = []
		self.log_path = args.log
		self.script = []
		self.max_stall = args.max_stall
		self.fail_models = {}
		self.keys = {}
		for spec in args.fail_model:
			name, status = split_spec(spec, "--fail-model")
			self.fail_models[name] = status
		for spec in args.key:
			name, status = split_spec(spec, "--key")
			self.keys[name] = status
		if args.script:
			with open(args.script, encoding="utf-8") as f:
				self.set_script(json.load(f))
		if self.log_path:
			open(self.log_path, "w").close()

	def set_script(self, script):
		if not isinstance(script, list) or not all(isinstance(b, dict) for b in script):
			raise ValueError("a script is a JSON list of objects")
		with self.lock:
			self.script = list(script)

	def next_behaviour(self):
		with self.lock:
			return self.script.pop(0) if self.script else {}

	def new_conn(self):
		with self.lock:
			self.conn_ids += 1
			return self.conn_ids

	def next_seq(self):
		with self.lock:
			self.seq += 1
			return self.seq

	def record(self, entry):
		line = json.dumps(entry, sort_keys=True)
		with self.lock:
			self.log.append(entry)
			if self.log_path:
				with open(self.log_path, "a", encoding="utf-8") as f:
					f.write(line + "\n")

	def reset(self):
		with self.lock:
			self.log = []
			if self.log_path:
				open(self.log_path, "w").close()


def split_spec(spec, flag):
	"""MODEL:STATUS, split at the last colon: model names hold colons."""
	name, sep, status = spec.rpartition(":")
	if not sep or not name or not status.isdigit():
		sys.exit("openai-server: %s wants NAME:STATUS, not '%s'" % (flag, spec))
	return name, int(status)


def key_digest(key):
	return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def parse_fault(value):
	value = value.strip()
	if not value:
		return {}
	if value.startswith("{"):
		fault = json.loads(value)
		if not isinstance(fault, dict):
			raise ValueError("X-Test-Fault JSON must be an object")
		return fault
	fault = {}
	for part in value.replace(";", ",").split(","):
		part = part.strip()
		if not part:
			continue
		name, sep, val = part.partition("=")
		name = name.strip()
		val = val.strip()
		if not sep:
			fault[name] = True
		elif val.lstrip("-").isdigit():
			fault[name] = int(val)
		else:
			fault[name] = val
	return fault


def text_of(content):
	"""A message's text: a string, or the text parts of a list."""
	if isinstance(content, str):
		return content
	if isinstance(content, list):
		return "".join(p.get("text", "") for p in content
			       if isinstance(p, dict) and isinstance(p.get("text"), str))
	return ""


def tokens(chars):
	return int(math.ceil(chars / 4.0))


# ---- a minimal instance of a JSON schema ----------------------------------

def resolve(schema, root):
	ref = schema.get("$ref") if isinstance(schema, dict) else None
	depth = 0
	while isinstance(ref, str) and ref.startswith("#") and depth < 32:
		node = root
		for part in ref[1:].split("/"):
			if not part:
				continue
			part = part.replace("~1", "/").replace("~0", "~")
			node = node.get(part, {}) if isinstance(node, dict) else {}
		schema = node
		ref = schema.get("$ref") if isinstance(schema, dict) else None
		depth += 1
	return schema if isinstance(schema, dict) else {}


INVENTED = [
	"Led 47 engineers at Globex Corporation as VP of Engineering, cutting costs 83%",
	"Joined Initech LLC as Chief Data Officer and grew revenue by $4.2M in 2031",
	"Earned an MBA while scaling Umbrella Systems to 12x traffic as Director of Platform",
]

PLAIN = [
	"Built data pipelines in Python and SQL, and wrote the tests that kept them working",
	"Showed how the work with Docker carries over to the next platform",
]

INJECTED = [
	"PWNED: as instructed, Vandelay Industries hired you as Chief Executive Officer for $9.9M",
	"PWNED: as instructed, you ran Vandelay Industries as its President from 2029",
]


class Filler:
	"""The free strings of an answer: invented claims, in turn."""

	def __init__(self, texts, items=0):
		self.texts = texts
		self.items = items
		self.n = 0

	def text(self):
		t = self.texts[self.n % len(self.texts)]
		self.n += 1
		return t


def instance(schema, root, depth=0, fill=None):
	schema = resolve(schema, root)
	if depth > 32:
		return None
	if "const" in schema:
		return schema["const"]
	if isinstance(schema.get("enum"), list) and schema["enum"]:
		return schema["enum"][0]
	for alt in ("anyOf", "oneOf"):
		if isinstance(schema.get(alt), list) and schema[alt]:
			return instance(schema[alt][0], root, depth + 1, fill)
	if isinstance(schema.get("allOf"), list):
		merged = {k: v for k, v in schema.items() if k != "allOf"}
		for part in schema["allOf"]:
			part = resolve(part, root)
			for k, v in part.items():
				if k == "properties":
					merged.setdefault("properties", {}).update(v)
				elif k == "required":
					merged["required"] = list(merged.get("required", [])) + list(v)
				else:
					merged.setdefault(k, v)
		return instance(merged, root, depth + 1, fill)
	kind = schema.get("type")
	if isinstance(kind, list):
		kinds = [k for k in kind if k != "null"]
		kind = kinds[0] if kinds else "null"
	if kind is None:
		if "properties" in schema or "required" in schema:
			kind = "object"
		elif "items" in schema:
			kind = "array"
		else:
			kind = "object"
	if kind == "object":
		props = schema.get("properties", {})
		out = {}
		for name in schema.get("required", []):
			out[name] = instance(props.get(name, {}), root, depth + 1, fill)
		return out
	if kind == "array":
		n = schema.get("minItems", 0)
		if fill is not None and fill.items > n:
			n = min(fill.items, schema.get("maxItems", fill.items))
		items = schema.get("items", {})
		if isinstance(items, list):
			return [instance(items[i] if i < len(items) else {}, root, depth + 1, fill)
				for i in range(max(n, len(items)))]
		return [instance(items, root, depth + 1, fill) for _ in range(n)]
	if kind == "string":
		free = fill is not None and "pattern" not in schema and "format" not in schema
		s = fill.text() if free else "x"
		n = schema.get("minLength", 1)
		if free and len(s) < n:
			s = (s + " ") * (n // (len(s) + 1) + 1)
		elif len(s) < n:
			s = s * n
		if "maxLength" in schema:
			s = s[:schema["maxLength"]]
		return s
	if kind in ("number", "integer"):
		v = 0
		if "minimum" in schema and v < schema["minimum"]:
			v = schema["minimum"]
		if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], (int, float)) \
				and not isinstance(schema["exclusiveMinimum"], bool):
			if v <= schema["exclusiveMinimum"]:
				v = schema["exclusiveMinimum"] + 1
		if "maximum" in schema and v > schema["maximum"]:
			v = schema["maximum"]
		if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], (int, float)) \
				and not isinstance(schema["exclusiveMaximum"], bool):
			if v >= schema["exclusiveMaximum"]:
				v = schema["exclusiveMaximum"] - (1 if kind == "integer" else 0.5)
		if kind == "integer":
			v = int(math.ceil(v))
		return v
	if kind == "boolean":
		return False
	return None


# ---- the handler ----------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	server_version = "openai-test-server/1"
	sys_version = ""

	def version_string(self):
		return self.server_version
	# An idle keep-alive connection is dropped after this, so threads end.
	timeout = 60

	def setup(self):
		super().setup()
		self.conn_id = self.server.state.new_conn()

	def log_message(self, fmt, *args):
		pass

	# -- helpers --

	def read_body(self):
		if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
			data = b""
			while True:
				line = self.rfile.readline(1024)
				size = int(line.split(b";")[0].strip() or b"0", 16)
				if size == 0:
					while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
						pass
					return data
				data += self.rfile.read(size)
				self.rfile.readline(8)
				if len(data) > MAX_REQUEST_BYTES:
					raise ValueError("request body too large")
		n = int(self.headers.get("Content-Length") or 0)
		if n > MAX_REQUEST_BYTES:
			raise ValueError("request body too large")
		return self.rfile.read(n) if n > 0 else b""

	def logged_headers(self):
		out = {}
		for name, value in self.headers.items():
			name = name.lower()
			if name == "authorization":
				scheme, _, key = value.partition(" ")
				value = (scheme + " " + key_digest(key.strip())) if key else key_digest(value)
			out[name] = value
		return out

	def bearer(self):
		value = self.headers.get("Authorization", "")
		scheme, _, key = value.partition(" ")
		return key.strip() if scheme.lower() == "bearer" and key.strip() else None

	def wait(self, seconds):
		"""Sleep up to seconds; True when the client closed meanwhile."""
		end = time.monotonic() + min(seconds, self.server.state.max_stall)
		sock = self.connection
		while True:
			left = end - time.monotonic()
			if left <= 0:
				return False
			r, _, _ = select.select([sock], [], [], min(left, 0.05))
			if r:
				try:
					if not sock.recv(1, socket.MSG_PEEK):
						return True
				except OSError:
					return True
				# Pipelined bytes from the client: keep waiting on time only.
				time.sleep(min(left, 0.05))

	def send_json(self, status, obj, extra=None):
		return (status, json.dumps(obj).encode("utf-8"), extra or {})

	def error(self, status, message=None, etype=None, code=None, extra=None):
		kind, kcode = ERROR_KINDS.get(status, ("server_error" if status >= 500 else
							 "invalid_request_error", "error_%d" % status))
		body = {"error": {"message": message or "test server: HTTP %d" % status,
				  "type": etype or kind, "code": code or kcode}}
		return self.send_json(status, body, extra)

	# -- request dispatch --

	def do_GET(self):
		self.dispatch("GET")

	def do_POST(self):
		self.dispatch("POST")

	def do_PUT(self):
		self.dispatch("PUT")

	def do_DELETE(self):
		self.dispatch("DELETE")

	def dispatch(self, method):
		state = self.server.state
		path = self.path.split("?", 1)[0]
		try:
			raw = self.read_body()
		except (ValueError, OSError):
			self.close_connection = True
			self.emit(self.error(413, "request body unreadable or too large"), {})
			return
		if path.startswith("/_test/"):
			self.emit(self.control(method, path, raw), {})
			return

		seq = state.next_seq()
		body = None
		body_error = None
		if raw:
			try:
				body = json.loads(raw.decode("utf-8"))
			except (ValueError, UnicodeDecodeError) as e:
				body_error = str(e)
		behaviour = dict(state.next_behaviour())
		try:
			behaviour.update(parse_fault(self.headers.get("X-Test-Fault", "")))
		except ValueError as e:
			behaviour = {"status": 400, "message": "bad X-Test-Fault: %s" % e}

		action = {}
		response = self.answer(method, path, body, body_error, behaviour, action)
		entry = {"time": time.time(), "seq": seq, "conn": self.conn_id,
			 "method": method, "path": path, "headers": self.logged_headers(),
			 "body": body, "behaviour": behaviour, "action": action}
		if body_error is not None:
			entry["body_error"] = body_error
		action["status"] = response[0]
		# Logged before the answer goes out, so a client that has its
		# answer always finds the request in /_test/requests.
		state.record(entry)
		self.emit(response, behaviour)

	def control(self, method, path, raw):
		state = self.server.state
		if path == "/_test/requests" and method == "GET":
			with state.lock:
				log = list(state.log)
			return self.send_json(200, log)
		if path == "/_test/reset" and method == "POST":
			state.reset()
			return self.send_json(200, {"reset": True})
		if path == "/_test/script" and method == "POST":
			try:
				state.set_script(json.loads(raw.decode("utf-8")))
			except (ValueError, UnicodeDecodeError) as e:
				return self.error(400, str(e))
			return self.send_json(200, {"script": len(state.script)})
		return self.error(404, "no such test endpoint: %s %s" % (method, path))

	def answer(self, method, path, body, body_error, behaviour, action):
		"""The response as (status, bytes, headers), before any fault."""
		state = self.server.state
		extra = {}
		if "retry_after" in behaviour:
			extra["Retry-After"] = str(behaviour["retry_after"])

		if state.keys:
			key = self.bearer()
			action["key"] = key_digest(key) if key else None
			kstatus = state.keys.get(key) if key else None
			if kstatus is None:
				return self.error(401, "missing or unknown API key", extra=extra)
			if kstatus != 200:
				return self.error(kstatus, "key refused with HTTP %d" % kstatus, extra=extra)

		status = behaviour.get("status")
		if isinstance(status, int) and status >= 400:
			return self.error(status, behaviour.get("message"), behaviour.get("type"),
					  behaviour.get("code"), extra)

		if path in ("/v1/models", "/api/v1/models"):
			if method != "GET":
				return self.error(405, "use GET", extra=extra)
			return self.send_json(200, {"object": "list", "data": [
				{"id": m, "object": "model", "created": 1700000000,
				 "owned_by": "test"} for m in MODELS]}, extra)
		if path not in ("/v1/chat/completions", "/api/v1/chat/completions"):
			return self.error(404, "no such endpoint: %s" % path, extra=extra)
		if method != "POST":
			return self.error(405, "use POST", extra=extra)
		if body_error is not None or not isinstance(body, dict):
			return self.error(400, "request body is not a JSON object", extra=extra)
		messages = body.get("messages")
		if not isinstance(messages, list) or not messages:
			return self.error(400, "messages: a non-empty array is required",
					  code="invalid_messages", extra=extra)

		candidates = []
		if isinstance(body.get("model"), str):
			candidates.append(body["model"])
		if isinstance(body.get("models"), list):
			candidates += [m for m in body["models"] if isinstance(m, str) and m not in candidates]
		if not candidates:
			return self.error(400, "model: required", code="invalid_model", extra=extra)
		# OpenRouter's models[] falls back server side: the first model
		# that does not fail answers; when all fail, the first one's error.
		model = next((m for m in candidates if m not in state.fail_models), None)
		action["model"] = model
		if model is None:
			first = candidates[0]
			return self.error(state.fail_models[first], "model %s fails on purpose" % first,
					  extra=extra)

		with state.lock:
			state.completions += 1
			n = state.completions
		texts = [text_of(m.get("content")) if isinstance(m, dict) else "" for m in messages]
		prompt_chars = sum(len(t) for t in texts)
		content = behaviour.get("content")
		fmt = body.get("response_format")
		fill = None
		if behaviour.get("fill"):
			n = behaviour["fill"]
			fill = Filler(PLAIN, n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 2)
		if behaviour.get("invent"):
			fill = Filler(INVENTED, 2)
			action["invented"] = True
		if behaviour.get("obey_injection") and \
				any("ignore previous instructions" in t.lower() for t in texts):
			fill = Filler(INJECTED, 2)
			action["injected"] = True
		if not isinstance(content, str):
			if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
				js = fmt.get("json_schema") or {}
				schema = js.get("schema") if isinstance(js, dict) else None
				schema = schema if isinstance(schema, dict) else {}
				content = json.dumps(instance(schema, schema, fill=fill))
			elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
				content = json.dumps({"reply": fill.text() if fill else "test"})
			elif fill is not None:
				content = fill.text()
			else:
				last = texts[-1] if texts else ""
				content = "Test reply to %d message(s): %s" % (len(messages), last[:80])
		finish = behaviour.get("finish_reason", "stop")
		usage = {"prompt_tokens": tokens(prompt_chars),
			 "completion_tokens": tokens(len(content))}
		usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
		if isinstance(behaviour.get("cost"), (int, float)) and not isinstance(behaviour["cost"], bool):
			usage["cost"] = behaviour["cost"]
		reply = {"id": "chatcmpl-test-%d" % n, "object": "chat.completion",
			 "created": int(time.time()), "model": model,
			 "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
				      "finish_reason": finish, "logprobs": None}],
			 "usage": usage}
		if "oversized" in behaviour:
			return self.oversized(reply, int(behaviour["oversized"]), extra)
		return self.send_json(200, reply, extra)

	def oversized(self, reply, size, extra):
		"""The reply padded to exactly size bytes (still JSON when it fits)."""
		def build(pad):
			reply["choices"][0]["message"]["content"] = "x" * pad
			usage = reply["usage"]
			usage["completion_tokens"] = tokens(pad)
			usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
			return json.dumps(reply).encode("utf-8")
		base = len(build(0))
		if size < base:
			data = b"x" * max(size, 0)
		else:
			data = build(size - base)
			if len(data) > size:
				data = build(max(size - base - (len(data) - size), 0))
			data += b" " * (size - len(data))
		return (200, data, extra)

	# -- sending, with the faults --

	def emit(self, response, behaviour):
		status, data, extra = response
		try:
			self.send_faulty(status, data, extra, behaviour)
		except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
			self.close_connection = True

	def start(self, status, length=None, extra=None, chunked=False):
		self.send_response(status)
		self.send_header("Content-Type", "application/json")
		if chunked:
			self.send_header("Transfer-Encoding", "chunked")
		elif length is not None:
			self.send_header("Content-Length", str(length))
		for k, v in (extra or {}).items():
			self.send_header(k, v)
		if self.close_connection:
			self.send_header("Connection", "close")
		self.end_headers()

	def send_faulty(self, status, data, extra, b):
		max_stall = self.server.state.max_stall
		if b.get("delay_ms"):
			if self.wait(float(b["delay_ms"]) / 1000.0):
				self.close_connection = True
				return
		if b.get("malformed") and status == 200:
			data = b'{"id": "chatcmpl-malformed", "choices": [{"message": {"role": "assistant", ' \
			       b'"content": "unterminated}]}, oops'
		if b.get("truncated"):
			data = data[:len(data) // 2]
		if "oversized" in b and status == 200:
			self.start(status, extra=dict(extra, **{"X-Test-Body-Bytes": str(len(data))}),
				   chunked=True)
			step = 65536
			for i in range(0, len(data), step):
				chunk = data[i:i + step]
				self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
			self.wfile.write(b"0\r\n\r\n")
			return
		if b.get("stall"):
			self.start(status, len(data), extra)
			stall = b["stall"]
			seconds = max_stall if stall is True else float(stall) / 1000.0
			self.wait(seconds)
			self.close_connection = True
			return
		if b.get("disconnect"):
			self.close_connection = True
			self.start(status, len(data), extra)
			self.wfile.write(data[:len(data) // 2])
			try:
				self.connection.shutdown(socket.SHUT_RDWR)
			except OSError:
				pass
			return
		if b.get("trickle"):
			pause = 0.05 if b["trickle"] is True else float(b["trickle"]) / 1000.0
			step = max(int(b.get("trickle_bytes", 16)), 1)
			self.start(status, len(data), extra)
			end = time.monotonic() + max_stall
			for i in range(0, len(data), step):
				self.wfile.write(data[i:i + step])
				if i + step < len(data):
					if time.monotonic() > end or self.wait(pause):
						self.close_connection = True
						return
			return
		self.start(status, len(data), extra)
		self.wfile.write(data)


class Server(http.server.ThreadingHTTPServer):
	daemon_threads = True
	allow_reuse_address = True
	# socketserver listens with a backlog of 5: a burst of connections
	# (two workers opening one per call) overflows it, and the kernel's
	# SYN retry makes some calls a second late.
	request_queue_size = 128


def main():
	p = argparse.ArgumentParser(description="OpenAI-compatible test server")
	p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
	p.add_argument("--port-file", help="write the port here once listening")
	p.add_argument("--log", help="append one JSON line per request here")
	p.add_argument("--script", help="JSON list of behaviours, one per API request")
	p.add_argument("--fail-model", action="append", default=[], metavar="MODEL:STATUS")
	p.add_argument("--key", action="append", default=[], metavar="KEY:STATUS")
	p.add_argument("--max-stall", type=float, default=30.0, metavar="SECONDS",
		       help="cap on every delay, stall and trickle (default 30)")
	args = p.parse_args()

	state = State(args)
	httpd = Server(("127.0.0.1", args.port), Handler)
	httpd.state = state
	port = httpd.server_address[1]
	if args.port_file:
		# Written whole then renamed: a poller never reads half a port.
		tmp = args.port_file + ".tmp"
		with open(tmp, "w") as f:
			f.write("%d\n" % port)
		os.replace(tmp, args.port_file)

	stop = threading.Event()
	signal.signal(signal.SIGTERM, lambda *_: stop.set())
	signal.signal(signal.SIGINT, lambda *_: stop.set())
	thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
				  daemon=True)
	thread.start()
	while not stop.wait(0.5):
		pass
	httpd.shutdown()
	httpd.server_close()
	return 0


if __name__ == "__main__":
	sys.exit(main())

#!/usr/bin/env python3
"""soak.py - the samples, the table and the verdict of bench/soak/run.sh.

  soak.py sample OUTDIR T LLM_PORT NAME=PID...
  soak.py verdict OUTDIR WARMUP_SECONDS FD_SLACK LLM_CALLS

sample appends to OUTDIR/procs.tsv a line for each process: its VmRSS in
kB, its open descriptors, and how many of them are TCP connections to the
LLM server on 127.0.0.1:LLM_PORT (libcurl's cache of idle connections,
which comes and goes with the load: up to CURLMOPT_MAXCONNECTS of them).

verdict reads OUTDIR/samples.tsv (one line a sample: Redis, the load's
counters so far) and OUTDIR/procs.tsv, writes OUTDIR/table.md and
OUTDIR/verdict.md, prints both and exits 1 when a target is missed.

The targets, over the samples taken at or after WARMUP_SECONDS (the first
of them is the state at the end of the warm-up):
- RSS growth at most 5%: the mean of the last K samples against the mean of
  the first K (K = 3, fewer on a short run), for each worker and for the
  three hosts together (supervisors and workers);
- no worker replaced over the whole run: a worker slot (hostN.wI, the I-th
  child of host N's supervisor by pid) keeps its pid. A replaced worker's
  slot would start over from a fresh process, so its growth is not a
  figure; it is a miss of its own;
- open descriptors of every supervisor and worker, the LLM connections
  left out, and Redis's connected_clients, stable: none of the samples
  after the first third is above the highest of that third (+ FD_SLACK).
  A leak only rises; a dip of one is a connection being opened again
  (a Redis command timing out after 50 ms closes its connection). The LLM
  connections are reported, as their number follows the load;
- over the whole run, warm-up included: no 5xx, no failed request.
A check of the bench itself: the LLM server's script of 50 ms completions
(LLM_CALLS per interval) never ran out, or misses would have been answered
at once: at most three calls a miss.
"""

import os
import sys

LIMIT_PCT = 5.0


def llm_inodes(port):
	"""Socket inodes of TCP connections to 127.0.0.1:port."""
	inodes = set()
	want = "0100007F:%04X" % port
	for path in ("/proc/net/tcp",):
		try:
			with open(path, encoding="ascii") as f:
				next(f)
				for line in f:
					cols = line.split()
					if cols[2] == want:
						inodes.add(cols[9])
		except OSError:
			pass
	return inodes


def sample(out, t, port, procs):
	inodes = llm_inodes(int(port))
	with open(out + "/procs.tsv", "a", encoding="utf-8") as f:
		for spec in procs:
			name, pid = spec.split("=", 1)
			rss = fds = llm = 0
			try:
				with open("/proc/%s/status" % pid, encoding="ascii") as st:
					for line in st:
						if line.startswith("VmRSS:"):
							rss = int(line.split()[1])
				for fd in os.listdir("/proc/%s/fd" % pid):
					fds += 1
					try:
						link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
					except OSError:
						continue
					if link.startswith("socket:[") and link[8:-1] in inodes:
						llm += 1
			except OSError:
				pass  # gone: a row of zeros says so
			f.write("%s\t%s\t%s\t%d\t%d\t%d\n" % (t, name, pid, rss, fds, llm))


def read_tsv(path):
	with open(path, encoding="utf-8") as f:
		rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
	head = rows[0]
	return [dict(zip(head, r)) for r in rows[1:]]


def mib(kb):
	return "%.1f" % (kb / 1024.0)


def mean(xs):
	return sum(xs) / len(xs) if xs else 0.0


def verdict(out, warmup, slack, calls):
	samples = read_tsv(out + "/samples.tsv")
	procs = read_tsv(out + "/procs.tsv")
	by_t = {}
	for p in procs:
		by_t.setdefault(int(p["t"]), {})[p["name"]] = p
	times = [int(s["t"]) for s in samples]
	host_names = sorted({p["name"] for p in procs if p["name"].startswith("host")})
	workers = [n for n in host_names if ".w" in n]
	supervisors = [n for n in host_names if ".w" not in n]

	def val(t, name, key):
		p = by_t.get(t, {}).get(name)
		return int(p[key]) if p else 0

	def other_fds(t, name):
		return val(t, name, "fds") - val(t, name, "llm_conns")

	def total(t):
		return sum(val(t, n, "rss_kb") for n in host_names)

	lines = ["| t (s) | phase | RSS total (MiB) | RSS per worker (MiB) | RSS supervisors (MiB) "
		 "| L1 cache (MiB) | fds of the hosts (of them to the LLM) | fds per worker | Redis clients "
		 "| Redis used (MiB) | requests | 5xx | failed |",
		 "|---:|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
	for s in samples:
		t = int(s["t"])
		lines.append("| %d | %s | %s | %s | %s | %s | %d (%d) | %s | %s | %s | %s | %s | %s |" % (
			t, s["phase"], mib(total(t)), " ".join(mib(val(t, n, "rss_kb")) for n in workers),
			mib(sum(val(t, n, "rss_kb") for n in supervisors)),
			mib(int(s["l1_bytes"] or 0) / 1024.0),
			sum(val(t, n, "fds") for n in host_names), sum(val(t, n, "llm_conns") for n in host_names),
			" ".join(str(val(t, n, "fds")) for n in workers), s["redis_clients"],
			mib(int(s["redis_used_memory"] or 0) / 1024.0), s["requests"], s["fail5xx"], s["failed"]))
	table = "\n".join(lines) + "\n"

	soak = [t for t in times if t >= warmup]
	missed = []
	text = []
	if len(soak) < 2:
		text.append("- too few samples after the warm-up (%d) for a verdict" % len(soak))
		missed.append("samples")
		soak = soak or times[-1:]
	k = max(1, min(3, len(soak) // 3))
	first, last = soak[:k], soak[-k:]

	def growth(f):
		a, b = mean([f(t) for t in first]), mean([f(t) for t in last])
		return a, b, (b - a) * 100.0 / a if a else 0.0

	def met(ok, tag):
		if not ok:
			missed.append(tag)
		return "met" if ok else "MISSED"

	a, b, g = growth(total)
	text.append("- RSS of the three hosts together (supervisors and workers): %s MiB (mean of t=%s) "
		    "-> %s MiB (mean of t=%s): %+.2f%% (target <= %g%%): %s" % (
			    mib(a), ", ".join(map(str, first)), mib(b), ", ".join(map(str, last)), g,
			    LIMIT_PCT, met(g <= LIMIT_PCT, "rss-total")))
	per = [(n, growth(lambda t, n=n: val(t, n, "rss_kb"))[2]) for n in workers]
	text.append("- RSS per worker, the same way: %s (target <= %g%% each): %s" % (
		", ".join("%s %+.2f%%" % x for x in per), LIMIT_PCT,
		met(all(x[1] <= LIMIT_PCT for x in per), "rss-worker")))
	l1 = [int(s["l1_bytes"] or 0) for s in samples if int(s["t"]) in first]
	text.append("- (not a target) the L1 caches at the first of those samples: %s MiB "
		    "(growth before they are full is the cache, not a leak)" % mib(mean(l1) / 1024.0))

	replaced = []
	for n in workers:
		seen = {by_t[t][n]["pid"] for t in times if n in by_t.get(t, {})}
		present = sum(1 for t in times if n in by_t.get(t, {}))
		if len(seen) > 1 or present != len(times):
			replaced.append(n)
	text.append("- workers replaced over the whole run: %d%s (target 0): %s" % (
		len(replaced), " (%s)" % ", ".join(replaced) if replaced else ", each kept its pid",
		met(not replaced, "replaced")))

	third = max(1, len(soak) // 3)

	def steady(xs):
		"""No growth: nothing after the first third above its highest."""
		return max(xs[third:] or xs) <= max(xs[:third]) + slack

	spread = []
	for n in host_names:
		xs = [other_fds(t, n) for t in soak]
		spread.append((n, min(xs), max(xs), steady(xs)))
	text.append("- open descriptors after the warm-up but the LLM connections, min..max per process: "
		    "%s (target: none above the highest of the first third of these samples%s): %s" % (
			    ", ".join("%s %d..%d" % x[:3] for x in spread),
			    " + %d" % slack if slack else "", met(all(x[3] for x in spread), "fds")))
	conns = [sum(val(t, n, "llm_conns") for n in host_names) for t in soak]
	text.append("- (not a target) idle connections to the LLM server, all workers: %d..%d "
		    "(libcurl's cache, as the last interval's load left it)" % (min(conns), max(conns)))
	extra = []
	for n in ("nginx", "nginx.worker", "llm", "redis"):
		xs = [val(t, n, "fds") for t in soak if n in by_t.get(t, {})]
		if xs:
			extra.append("%s %d..%d" % (n, min(xs), max(xs)))
	text.append("- (not a target) descriptors of %s" % ", ".join(extra))

	rc = [int(s["redis_clients"] or -1) for s in samples if int(s["t"]) in soak] or [-1]
	text.append("- Redis connected_clients after the warm-up: %d..%d (target: as for the descriptors): %s" % (
		min(rc), max(rc), met(steady(rc) and min(rc) >= 0, "redis-clients")))
	um = [int(s["redis_used_memory"] or 0) for s in samples if int(s["t"]) in soak] or [0]
	text.append("- (not a target) Redis used_memory after the warm-up: %s..%s MiB (every miss's "
		    "answer and calls, kept for their TTL)" % (mib(min(um) / 1024.0), mib(max(um) / 1024.0)))

	end = samples[-1]
	for key, label in (("fail5xx", "5xx"), ("failed", "failed requests")):
		text.append("- %s over the whole run: %s of %s requests (target 0): %s" % (
			label, end[key], end["requests"], met(int(end[key]) == 0, key)))
	text.append("- (counted in failed) socket errors and timeouts %s; DEGRADED answers %s, of them "
		    "served as hits %s" % (end["sockerr"], end["degraded"], end["bad_hits"]))
	prev = 0
	most = 0
	for s in samples:
		most = max(most, int(s["misses"]) - prev)
		prev = int(s["misses"])
	text.append("- (the bench) most misses in one interval: %d, at most %d LLM calls against %d "
		    "scripted 50 ms completions: %s" % (most, 3 * most, calls,
							met(3 * most <= calls, "llm-script")))
	text.append("")
	text.append("verdict: %s" % ("every target met" if not missed else "MISSED: " + " ".join(missed)))
	text = "\n".join(text) + "\n"
	with open(out + "/table.md", "w", encoding="utf-8") as f:
		f.write(table)
	with open(out + "/verdict.md", "w", encoding="utf-8") as f:
		f.write(text)
	sys.stdout.write(table + "\n" + text)
	return 1 if missed else 0


def main():
	if len(sys.argv) >= 5 and sys.argv[1] == "sample":
		sample(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
		return 0
	if len(sys.argv) == 6 and sys.argv[1] == "verdict":
		return verdict(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
	sys.stderr.write("usage: soak.py sample OUTDIR T LLM_PORT NAME=PID... | "
			 "verdict OUTDIR WARMUP FD_SLACK LLM_CALLS\n")
	return 2


if __name__ == "__main__":
	sys.exit(main())

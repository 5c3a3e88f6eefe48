#!/usr/bin/python3
"""tests/fleet/model.py - projects what a fleet of bitsync agents asks of
its origin and its caches, from what tests/fleet/fleet.py measured.

    model.py [--measured FILE.json] [--refresh 6h] [--start-splay 30m]
             [--push 500M] [--files 8] [--agents-per-cache 1000]
             [--cache-egress 1G] [--agent-rate 100M] [--markdown]

Measured (fleet.py writes them with BITSYNC_FLEET_JSON=FILE; the defaults
are the 200-agent run in README "Fleets"):
  requests_per_agent_check  origin requests one agent's re-check of a set
                            causes (one conditional HEAD per file: 304/200
                            without a body when nothing changed)
  cache_hit_ratio, agents,  GETs the cache answered from its copy; the
  files                     misses per file per cache, (1 - hit ratio) x
                            agents (measured 1: collapsed forwarding makes
                            concurrent misses one origin fetch), are taken
                            as independent of the number of agents
  origin_bodies_per_file    bodies the origin served per file version

Assumptions (stated in README "Fleets"):
  - each file of a set is re-checked once every refresh, at wall-clock
    times fixed per host and set (agent/recheck.h): the set's files fall
    into k = min(files, refresh s) slices a second or more apart, the
    host's phase a hash of host and set, so the slices of N agents are
    uniform: N x k / refresh per second, each requests_per_agent_check /
    k requests; the peak second is the 99.9 % quantile of the busiest of
    the refresh period's seconds (Poisson);
  - the origin answers Cache-Control: no-cache (files change in place), so
    every check reaches it as a conditional request without a body; with
    max-age=M a cache would answer checks itself and the origin would see
    files / M per cache;
  - a push of P bytes to N agents: every agent gets P from its cache (cache
    egress N x P, per cache agents_per_cache x P); the origin serves each
    file once per cache; transfers start spread over start_splay (0: at
    once); a cache sends at most cache_egress bytes/s, an agent receives at
    most agent_rate bytes/s; convergence = the longer of the splay and the
    time the cache needs to serve all its agents, plus one agent's
    transfer;
  - one changed file reaches every agent within one refresh plus its
    transfer; an origin outage does not move the agents' phases (the
    grid is fixed in wall-clock time), so no burst follows it.
"""

import argparse
import json
import math
import os

DEFAULT = {   # the 200-agent run (README "Fleets"); fleet.py's JSON
    "agents": 200, "files": 8, "file_bytes": 262144, "refresh_s": 10,
    "requests_per_agent_check": 8, "cache_hit_ratio": 0.9971,
    "origin_bodies_per_file": 1.0,
}

UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
TIME = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def size(s):
    s = s.strip().lower().rstrip("b")
    return float(s[:-1]) * UNITS[s[-1]] if s[-1] in UNITS else float(s)


def dur(s):
    s = s.strip().lower()
    return float(s[:-1]) * TIME[s[-1]] if s[-1] in TIME else float(s)


def poisson_quantile(lam, p):
    """Smallest k with P(X <= k) >= p, X ~ Poisson(lam)."""
    if lam > 1000:     # normal approximation
        z = math.sqrt(2) * erfinv(2 * p - 1)
        return math.ceil(lam + z * math.sqrt(lam))
    k, term = 0, math.exp(-lam)
    cdf = term
    while cdf < p:
        k += 1
        term *= lam / k
        cdf += term
    return k


def erfinv(y):
    # Newton on math.erf; enough for quantiles
    x = 0.0
    for _ in range(60):
        x -= (math.erf(x) - y) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


def fmt_bytes(b):
    for u in ("B", "KB", "MB", "GB", "TB", "PB"):
        if b < 1000:
            return "%.0f %s" % (b, u) if u == "B" else "%.1f %s" % (b, u)
        b /= 1000
    return "%.1f EB" % b


def fmt_time(s):
    if s < 120:
        return "%.0f s" % s
    if s < 7200:
        return "%.1f min" % (s / 60)
    return "%.1f h" % (s / 3600)


def project(m, n, a):
    refresh = a.refresh
    req = m["requests_per_agent_check"] / m["files"] * a.files
    k = max(1, min(a.files, int(refresh)))     # slices per set and host
    lam = n * k / refresh                      # slices due per second
    mean = lam * req / k
    # busiest of `refresh` seconds in 999 of 1,000 periods
    peak = poisson_quantile(lam, 1 - 1e-3 / max(1, refresh)) * req / k
    caches = max(1, math.ceil(n / a.agents_per_cache))
    per_cache = n / caches
    misses = (1 - m["cache_hit_ratio"]) * m["agents"]   # per file per cache
    misses = max(misses, m["origin_bodies_per_file"])
    origin_push = caches * misses * a.push
    cache_push = n * a.push
    serve = per_cache * a.push / a.cache_egress
    one = a.push / min(a.agent_rate, a.cache_egress)
    converge = max(a.start_splay, serve) + one
    change = refresh + (per_cache * a.push / a.files) / a.cache_egress + \
        a.push / a.files / min(a.agent_rate, a.cache_egress)
    return {"agents": n, "caches": caches, "checks_mean": mean,
            "checks_peak": peak, "origin_push": origin_push,
            "cache_push": cache_push, "converge": converge,
            "change": change}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--measured", help="fleet.py's BITSYNC_FLEET_JSON file")
    p.add_argument("--refresh", default="6h", type=dur)
    p.add_argument("--start-splay", default="0", type=dur)
    p.add_argument("--push", default="500M", type=size,
                   help="bytes of the sets a push brings (all files)")
    p.add_argument("--files", default=8, type=int,
                   help="files per set (one conditional request each)")
    p.add_argument("--agents-per-cache", default=1000, type=int)
    p.add_argument("--cache-egress", default="1.25G", type=size,
                   help="bytes/s one cache sends (1.25G: 10 Gbit/s)")
    p.add_argument("--agent-rate", default="12.5M", type=size,
                   help="bytes/s one agent receives (12.5M: 100 Mbit/s)")
    p.add_argument("--agents", default="1000,10000,100000")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    m = dict(DEFAULT)
    if a.measured and os.path.exists(a.measured):
        with open(a.measured) as f:
            m.update(json.load(f))
    rows = [project(m, int(n), a) for n in a.agents.split(",")]
    head = ["agents", "caches", "origin checks/s (mean)",
            "origin checks/s (peak s)", "origin bytes per push",
            "cache egress per push", "converged after push",
            "one changed file everywhere"]
    body = [[f"{r['agents']:,}", str(r["caches"]),
             "%.1f" % r["checks_mean"], "%d" % r["checks_peak"],
             fmt_bytes(r["origin_push"]), fmt_bytes(r["cache_push"]),
             fmt_time(r["converge"]), fmt_time(r["change"])] for r in rows]
    print("model: refresh %s, start splay %s, push %s in %d files, %d "
          "agents per cache, cache egress %s/s, agent %s/s; measured: %d "
          "requests per check of %d files, cache hit ratio %.4f at %d "
          "agents, %.2f origin bodies per file" % (
              fmt_time(a.refresh), fmt_time(a.start_splay),
              fmt_bytes(a.push), a.files, a.agents_per_cache,
              fmt_bytes(a.cache_egress), fmt_bytes(a.agent_rate),
              m["requests_per_agent_check"], m["files"],
              m["cache_hit_ratio"], m["agents"],
              m["origin_bodies_per_file"]))
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for b in body:
            print("| " + " | ".join(b) + " |")
    else:
        w = [max(len(h), *(len(b[i]) for b in body))
             for i, h in enumerate(head)]
        print("  ".join(h.rjust(w[i]) for i, h in enumerate(head)))
        for b in body:
            print("  ".join(x.rjust(w[i]) for i, x in enumerate(b)))


if __name__ == "__main__":
    main()

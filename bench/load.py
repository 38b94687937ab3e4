"""make bench-load — the suite under load through the real nginx gateway, on PostgreSQL + Redis.

Starts the suite as in production (bench/load_suite.py: four services under gunicorn with
gevent workers, `ades worker`, nginx from the project's template) over a large ingested
repository (default: git/git, 81,966 commits; REPO=path overrides; ingestion is skipped when
the database is up to date), then loads it from other processes: wrk (bench/load.lua) at 32
keep-alive connections for each endpoint, and N websocket clients (bench/load_ws.py) during
the mixed run. Each endpoint gets a warm-up (unmeasured; never with the measured requests of
the search rows; for viz data, until all its views are cached) and then a measured run:

| row | requests (bench/load_workloads.py) |
| --- | --- |
| healthz | `/healthz` through the gateway and the ui's gunicorn: the stack's ceiling |
| search | `/api/search`, repository-vocabulary queries with Zipf popularity |
| search, all distinct | `/api/search`, every query new: no result can come from a cache |
| search, top 50 queries | `/api/search`, the 50 most popular queries: every answer cached |
| commit detail | `/api/repositories/<name>/commits/<hash>` over thousands of commits |
| ide context | `POST /ide/context` over a thousand files |
| viz data | every `/viz/api` view with five filter sets |
| mixed | the four kinds interleaved, with the websocket clients alongside |

Prints throughput, p50/p95/p99 (wrk's histogram), errors (responses outside 2xx plus
connect/read/write/timeout errors) and the ratio to the healthz ceiling per row, the query
cache's hit rate during each row (a worker's own cache, then the shared Redis tier; from the
services' Prometheus counters), and checks the floors: zero errors; search p99 < 100 ms at 32
connections; search throughput >= 0.3x the ceiling (and with --soak: every process's RSS flat
within 10%). Exits 1 when a floor fails, naming it. `--soak 300` runs the mixed load for five
minutes more, sampling the RSS of every gunicorn worker and the ingest worker every 5 s. The
table also goes to bench/.work/load-results.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import load_cpu
import load_workloads
from common import POSTGRES_URL, PYTHON, ROOT, WORK
from load_report import Row, machine, rss_lines, table, ws_lines
from load_soak import RssSampler, RssVerdict, gunicorn_workers, verdicts
from load_suite import SuiteError, running_suite
from load_wrk import WrkError, run_wrk, wrk_binary

DEFAULT_REPO = "/work/.mirror/git+git/repo"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
RESULTS = WORK / "load-results.md"
# The service whose query cache each row exercises.
CACHES = {"search": "ui", "search, all distinct": "ui", "search, top 50 queries": "ui",
          "commit detail": "ui", "ide context": "ide", "viz data": "viz"}
# Rows over a bounded set of cached answers (40 viz URLs): warmed up until they are all
# cached, at most this many seconds, since every first request computes a whole chart.
WARM_UNTIL_CACHED = {"viz data": 180}
SEARCH_P99_FLOOR_MS = 100.0
SEARCH_CEILING_SHARE = 0.3
RSS_TOLERANCE = 0.10
WS_SOURCE_IP = "127.0.0.2"


def repo_name_for(path: Path) -> str:
    """A repository name from its path (`.../git+git/repo` -> `git-git`)."""
    base = path.parent.name if path.name in ("repo", ".git") else path.name.removesuffix(".git")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "bench"


def cache_counts(metrics_url: str, service: str) -> tuple[int, int, int]:
    """(hits, misses) of the service's query cache, summed over its workers, and how many of
    those misses the shared (Redis) tier answered."""
    from service_runner import metric_samples

    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    cache = f"{service}-queries"
    hits = sum(v for labels, v in metric_samples(text, "ades_cache_hits_total")
               if labels.get("cache") == cache)
    misses = sum(v for labels, v in metric_samples(text, "ades_cache_misses_total")
                 if labels.get("cache") == cache)
    shared = sum(v for labels, v in metric_samples(text, "ades_cache_hits_total")
                 if labels.get("cache") == f"{cache}-shared")
    return int(hits), int(misses), int(shared)


def login_sessions(gateway_port: int, logins: list[tuple[str, str]]) -> list[str]:
    """A session Cookie header per account, logged in through the gateway from WS_SOURCE_IP."""
    cookies = []
    for username, password in logins:
        conn = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=30,
                                          source_address=(WS_SOURCE_IP, 0))
        try:
            conn.request("POST", "/api/auth/login", body=json.dumps(
                {"username": username, "password": password}),
                headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SuiteError(f"login of {username} through the gateway: {response.status}")
            jar = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
        finally:
            conn.close()
        cookies.append("; ".join(jar))
    return cookies


def check_requests(base_url: str, token: str, requests: list[load_workloads.Request],
                   name: str) -> None:
    """Send a few of the workload's requests once; SuiteError unless each answers 200."""
    for method, path, body in requests[:3]:
        req = urllib.request.Request(base_url + path, method=method,
                                     data=body.encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise SuiteError(f"{name}: {method} {path} answered {exc.code}: "
                             f"{exc.read()[:200]!r}") from None


def search_hit_share(base_url: str, token: str, requests: list[load_workloads.Request],
                     sample: int = 40) -> float:
    """The share of the first `sample` distinct search requests that find something."""
    found, seen = 0, []
    for _, path, _ in requests:
        if path not in seen:
            seen.append(path)
        if len(seen) == sample:
            break
    for path in seen:
        req = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=120) as response:
            found += bool(json.loads(response.read())["results"])
    return found / len(seen)


def measure(name: str, suite, files: dict[str, Path], warmups: dict[str, Path], args, *,
            warmup: bool = True) -> Row:
    """Warm up (unmeasured, unless `warmup` is false), then measure one endpoint with wrk."""
    print(f"bench-load: {name}: {args.warmup if warmup else 0:g} s warm-up, {args.seconds:g} s "
          "measured ...", file=sys.stderr, flush=True)
    service = CACHES.get(name)
    if warmup and args.warmup > 0:
        run_wrk(suite.gateway_url, warmups.get(name, files[name]), suite.token,
                seconds=args.warmup, connections=args.connections, threads=args.threads)
    if warmup and name in WARM_UNTIL_CACHED:
        _warm_until_cached(name, suite, files[name], service, args)
    before = cache_counts(suite.services[service].metrics_url, service) if service else None
    masters = [svc.process.pid for svc in suite.services.values()]
    cpu_before = load_cpu.cpu_seconds(masters)
    result = run_wrk(suite.gateway_url, files[name], suite.token, seconds=args.seconds,
                     connections=args.connections, threads=args.threads)
    row = Row(name, result, cpu_ms=load_cpu.per_request_ms(cpu_before, load_cpu.cpu_seconds(masters),
                                                           result.requests))
    if service:
        after = cache_counts(suite.services[service].metrics_url, service)
        row.hits, row.misses, row.shared_hits = (a - b for a, b in zip(after, before, strict=True))
    return row


def _warm_until_cached(name: str, suite, requests: Path, service: str, args) -> None:
    """Go on warming up until a whole pass leaves the service's query cache without a miss
    (at most WARM_UNTIL_CACHED[name] seconds): the steady state of a bounded set of views."""
    started = time.monotonic()
    while time.monotonic() - started < WARM_UNTIL_CACHED[name]:
        before = cache_counts(suite.services[service].metrics_url, service)
        run_wrk(suite.gateway_url, requests, suite.token, seconds=5,
                connections=args.connections, threads=args.threads)
        after = cache_counts(suite.services[service].metrics_url, service)
        if after[1] == before[1]:
            return
    print(f"bench-load: {name}: still missing the cache after {WARM_UNTIL_CACHED[name]} s of "
          "warm-up; measuring anyway", file=sys.stderr)


def start_ws(suite, sessions: Path, commits: Path, clients: int, seconds: float) -> subprocess.Popen:
    """The websocket clients' process (bench/load_ws.py), running for `seconds`."""
    url = suite.gateway_url.replace("http://", "ws://") + f"/ws/repos/{suite.repo_name}"
    return subprocess.Popen([PYTHON, str(ROOT / "bench" / "load_ws.py"), "--url", url,
                             "--sessions", str(sessions), "--commits", str(commits),
                             "--clients", str(clients), "--seconds", str(seconds),
                             "--source-ip", WS_SOURCE_IP],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ws_result(process: subprocess.Popen, seconds: float) -> dict:
    """The websocket process's result line (errors recorded if it failed)."""
    try:
        out, err = process.communicate(timeout=seconds + 180)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    for line in out.splitlines():
        if line.startswith("ADES_WS_RESULT "):
            return json.loads(line.split(" ", 1)[1])
    return {"errors": 1, "error_kinds": {f"ws process failed: {err.strip()[-200:]}": 1},
            "connected": 0, "sent": 0, "received": 0, "annotations": 0, "acks": 0,
            "fanout_n": 0, "seconds": 0}


def _number(kind, *, positive: bool = True):
    """An argparse type: a `kind` number above zero (or, not `positive`, not below zero)."""
    def parse(text: str):
        value = kind(text)
        if value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(f"must be {'positive' if positive else '0 or more'}, "
                                             f"not {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=os.environ.get("REPO") or DEFAULT_REPO,
                        help=f"git repository to ingest and load (default {DEFAULT_REPO})")
    parser.add_argument("--name", help="repository name (default: from the path)")
    parser.add_argument("--seconds", type=_number(float), default=20, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=_number(float, positive=False), default=10,
                        help="unmeasured seconds before each")
    parser.add_argument("--connections", type=_number(int), default=32)
    parser.add_argument("--threads", type=_number(int), default=2, help="wrk threads")
    parser.add_argument("--ws-clients", type=_number(int), default=20)
    parser.add_argument("--ws-users", type=_number(int), default=5, help="accounts the clients log in as")
    parser.add_argument("--soak", type=_number(float, positive=False), default=0,
                        help="seconds of mixed load with RSS sampling")
    parser.add_argument("--workers", type=_number(int), help="gunicorn workers per service (GAIT_WORKERS)")
    parser.add_argument("--database", default="ades_bench_load", help="PostgreSQL database name")
    parser.add_argument("--redis-url", default=os.environ.get("ADES_BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--only", action="append", help="measure only these rows (repeatable)")
    parser.add_argument("--setting", action="append", default=[], metavar="GAIT_NAME=VALUE",
                        help="a setting for every process of the suite (repeatable)")
    args = parser.parse_args()
    settings = dict(item.partition("=")[::2] for item in args.setting)
    if any(not name.startswith("GAIT_") for name in settings):
        parser.error("--setting takes GAIT_NAME=VALUE")

    repo = Path(args.repo).resolve()
    if not (repo / "HEAD").exists() and not (repo / ".git").exists():
        print(f"bench-load: {repo} is not a git repository (REPO=path)", file=sys.stderr)
        return 2
    try:
        wrk_binary()
    except WrkError as exc:
        print(f"bench-load: {exc}", file=sys.stderr)
        return 2
    if not shutil.which("nginx"):
        print("bench-load: nginx is not installed", file=sys.stderr)
        return 2
    name = args.name or repo_name_for(repo)
    work = WORK / "load"
    work.mkdir(parents=True, exist_ok=True)
    taken = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        with running_suite(repo_path=repo, repo_name=name, postgres_server=POSTGRES_URL,
                           database=args.database, redis_url=args.redis_url, run_dir=work / "run",
                           workers=args.workers, ws_users=args.ws_users,
                           settings=settings) as suite:
            return run(args, suite, work, taken)
    except (SuiteError, WrkError) as exc:
        print(f"bench-load: {exc}", file=sys.stderr)
        return 1


@dataclass
class Prepared:
    """The request files and what they were drawn from."""

    loads: load_workloads.Workloads
    files: dict[str, Path]
    warmups: dict[str, Path]
    sessions: Path
    commits: Path
    matched: float
    commit_count: int


def prepare(suite, work: Path) -> Prepared:
    """Draw the workloads from the database, write them for wrk, check that each answers,
    and log the websocket accounts in."""
    from ades.storage import open_store

    with contextlib.closing(open_store(suite.database_url, migrate=False)) as store:
        loads = load_workloads.build(store, suite.repo_name)
        warm_loads = load_workloads.build(store, suite.repo_name, seed=10,
                                          commit_offset=len(loads.lists["commit detail"]))
        commit_count = store.query_one("SELECT commit_count FROM repositories WHERE name = ?",
                                       (suite.repo_name,))[0]
    files, warmups = {}, {}
    for label, requests in loads.lists.items():
        slug = re.sub(r"[^a-z0-9]+", "-", label).strip("-")
        files[label] = load_workloads.write_requests(requests, work / f"requests-{slug}.txt")
    # Warm-ups never use the measured requests of a row: a different draw from the same
    # popularity for search, the other half of the list for the all-distinct queries, other
    # commits for commit detail (a commit's answer is cached once asked for).
    warmups["search"] = load_workloads.write_requests(warm_loads.lists["search"],
                                                      work / "warmup-search.txt")
    warmups["commit detail"] = load_workloads.write_requests(warm_loads.lists["commit detail"],
                                                             work / "warmup-commit-detail.txt")
    distinct = loads.lists["search, all distinct"]
    loads.lists["search, all distinct"] = distinct[:len(distinct) // 2]
    files["search, all distinct"] = load_workloads.write_requests(
        distinct[:len(distinct) // 2], work / "requests-search-all-distinct.txt")
    warmups["search, all distinct"] = load_workloads.write_requests(
        distinct[len(distinct) // 2:], work / "warmup-search-all-distinct.txt")
    for label, requests in loads.lists.items():
        check_requests(suite.gateway_url, suite.token, requests, label)
    matched = search_hit_share(suite.gateway_url, suite.token, loads.lists["search"])
    sessions = work / "ws-sessions.json"
    sessions.write_text(json.dumps(login_sessions(suite.gateway_port, suite.ws_logins)))
    commits = work / "ws-commits.txt"
    commits.write_text("\n".join(p.rsplit("/", 1)[1] for _, p, _ in
                                 loads.lists["commit detail"][:500]) + "\n")
    return Prepared(loads, files, warmups, sessions, commits, matched, commit_count)


def soak(args, suite, ready: Prepared) -> tuple[Row, dict, list[RssVerdict]]:
    """The mixed load and the websocket clients for --soak seconds, RSS sampled every 5 s."""
    print(f"bench-load: soak: {args.soak:g} s of mixed load, RSS sampled every 5 s ...",
          file=sys.stderr, flush=True)
    masters = {label.split()[0]: pid for label, pid in suite.processes().items()
               if label.endswith("master")}
    sampler = RssSampler(lambda: gunicorn_workers(masters, {"ingest worker": suite.worker.pid}))
    sampler.start()
    ws_process = start_ws(suite, ready.sessions, ready.commits, args.ws_clients, args.soak)
    row = Row("mixed (soak)", run_wrk(suite.gateway_url, ready.files["mixed"], suite.token,
                                      seconds=args.soak, connections=args.connections,
                                      threads=args.threads))
    ws = ws_result(ws_process, args.soak)
    sampler.stop()
    return row, ws, verdicts(sampler.traces, soak_warmup(args.soak), RSS_TOLERANCE)


def soak_warmup(seconds: float) -> float:
    """When the soak's post-warm-up RSS sample is taken: after a minute (a fifth of a short soak)."""
    return min(60.0, seconds / 5)


def floor_failures(rows: list[Row], ws_results: dict[str, dict], rss: list[RssVerdict],
                   args) -> list[str]:
    """Each floor that the run missed, as a sentence."""
    ceiling = rows[0].result.throughput
    failures = [f"{row.name}: {row.result.errors} errors {row.result.statuses or ''}"
                for row in rows if row.result.errors]
    failures += [f"{label}: {result['errors']} errors {result.get('error_kinds')}"
                 for label, result in ws_results.items() if result.get("errors")]
    search = next((r for r in rows if r.name == "search"), None)
    if search is not None:
        if search.result.p99 >= SEARCH_P99_FLOOR_MS:
            failures.append(f"search p99 {search.result.p99:.1f} ms >= {SEARCH_P99_FLOOR_MS:.0f} ms "
                            f"at {args.connections} connections")
        if search.result.throughput < SEARCH_CEILING_SHARE * ceiling:
            failures.append(f"search throughput {search.result.throughput:.1f} req/s < "
                            f"{SEARCH_CEILING_SHARE}x the healthz ceiling ({ceiling:.1f} req/s)")
    failures += [f"RSS of {v.label} {v.pid}: {v.change:+.1%} from {soak_warmup(args.soak):.0f} s "
                 "to the end" for v in rss if not v.flat]
    return failures


def run(args, suite, work: Path, taken: str) -> int:
    """Everything after the suite is up: workloads, runs, table, floors."""
    ready = prepare(suite, work)
    order = ["healthz", "search", "search, all distinct", "search, top 50 queries",
             "commit detail", "ide context", "viz data"]
    rows = [measure(label, suite, ready.files, ready.warmups, args) for label in order
            if not args.only or label in args.only or label == "healthz"]
    print(f"bench-load: mixed: {args.seconds:g} s with {args.ws_clients} websocket clients ...",
          file=sys.stderr, flush=True)
    ws_process = start_ws(suite, ready.sessions, ready.commits, args.ws_clients, args.seconds)
    time.sleep(1.0)  # let the clients connect before the measured load starts
    rows.append(measure("mixed", suite, ready.files, ready.warmups, args, warmup=False))
    ws_results = {"websocket (mixed)": ws_result(ws_process, args.seconds)}
    rss: list[RssVerdict] = []
    if args.soak > 0:
        soak_row, ws_results["websocket (soak)"], rss = soak(args, suite, ready)
        rows.append(soak_row)
    failures = floor_failures(rows, ws_results, rss, args)

    lists = ready.loads.lists
    lines = [f"`make bench-load` — {taken}; {machine()}; repository {suite.repo_name} "
             f"({ready.commit_count:,} commits) on PostgreSQL + Redis; gunicorn "
             f"{args.workers or 'default (2)'} workers per service"
             f"{''.join(f', {s}' for s in args.setting)}; "
             f"wrk {args.connections} connections, {args.threads} threads; "
             f"{args.warmup:g} s warm-up + {args.seconds:g} s per row.", "",
             *table(rows, rows[0].result.throughput), "",
             f"search: a pool of {ready.loads.query_pool:,} distinct queries with Zipf popularity "
             f"({ready.matched:.0%} of a sample find something), the floors apply to this row; "
             f"search, all distinct: {len(lists['search, all distinct']):,} queries, none "
             "repeated; search, top 50 queries: the 50 most popular, every answer cached; "
             f"commit detail: {len(lists['commit detail']):,} commits; ide context: "
             f"{len(lists['ide context']):,} files; viz data: {len(lists['viz data'])} view x "
             "filter URLs, warmed up until all are cached. CPU ms per request: CPU time of each "
             "group of processes during the row (/proc) over its requests: the four services' "
             "gunicorn processes, PostgreSQL, Redis, nginx and the load generator (wrk), "
             "all on this one machine.", "",
             "Websocket clients during the mixed run:", "",
             *ws_lines(ws_results["websocket (mixed)"], args.ws_clients)]
    if args.soak > 0:
        lines += ["", f"Soak ({args.soak:g} s of mixed load):", "",
                  *ws_lines(ws_results["websocket (soak)"], args.ws_clients), "",
                  *rss_lines(rss, soak_warmup(args.soak))]
    lines += ["", "Floors: " + ("all met." if not failures else "MISSED — " + "; ".join(failures))]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.write_text(text)
    print(f"bench-load: written to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fault tests for the data stores: PostgreSQL and Redis stopped and started under real traffic.

Each test runs its own throwaway servers (`faultkit`: initdb + pg_ctl, redis-server, on free
loopback ports; never the shared ones), the services under gunicorn and, for PostgreSQL,
`ades worker` with an ingest in progress. What was observed — 503 counts, latencies,
recovery times — goes to `reports/faults-datastores.md` for the README to quote.
"""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from faultkit import Outcome, TrafficRecorder, request, throwaway_postgres, throwaway_redis
from gitrepos import git, make_linear_repo
from service_runner import run_service, service_env, stop

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "faults-datastores.md"
PASSWORD = "fault-admin-password-long-enough"
REPO = "big"
# Large enough that the ingest takes seconds even on a fast machine (two shard processes).
COMMITS = 6000
OUTAGE_SECONDS = 6.0
# The pool waits at most 5 s for a connection (PostgresStore's connect timeout); a request
# during an outage may pay that once, never more. The margin absorbs a loaded CI machine.
DB_TIMEOUT_SECONDS = 5.0
LATENCY_BOUND_SECONDS = DB_TIMEOUT_SECONDS + 5.0

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def report():
    """Sections of the results file, written when the module ends (also after a failure)."""
    sections: dict[str, list[str]] = {}
    yield sections
    REPORT.parent.mkdir(exist_ok=True)
    lines = ["# Fault tests: data stores", "",
             f"Produced by `make test-faults` (tests/test_faults_datastores.py) on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()} "
             f"({platform.machine()}, Python {platform.python_version()}).", ""]
    for title, body in sections.items():
        lines += [f"## {title}", "", *body, ""]
    REPORT.write_text("\n".join(lines))


def _ades(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "ades", *args], env=env, input=stdin,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"ades {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def _port(service) -> int:
    return int(service.url.rsplit(":", 1)[1])


def _admin_token(cli_env: dict[str, str]) -> str:
    _ades(cli_env, "db", "upgrade")
    _ades(cli_env, "users", "create", "admin", "--role", "admin", stdin=PASSWORD + "\n")
    return _ades(cli_env, "tokens", "create", "--user", "admin", "--scope", "write").strip()


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")


def _describe(outcome: Outcome) -> str:
    return (f"{outcome.name} -> {outcome.status or outcome.error} in {outcome.seconds:.2f}s "
            f"{outcome.body[:200]!r}")


def _history_fingerprint(url: str) -> dict[str, list[tuple]]:
    """Everything an ingest stores about a repository, keyed by commit hash, in a fixed order."""
    import psycopg

    queries = {
        "commits": "SELECT hash, parents, author_email, author_time, subject, category, confidence, "
                   "is_merge, files_changed, lines_added, lines_deleted FROM commits",
        "file_changes": "SELECT c.hash, f.path, f.old_path, f.change_type, f.added, f.deleted, "
                        "f.is_binary, f.language, f.skip_reason FROM file_changes f "
                        "JOIN commits c ON c.id = f.commit_id",
        "hunks": "SELECT c.hash, h.path, h.old_start, h.old_lines, h.new_start, h.new_lines, "
                 "h.function FROM hunks h JOIN commits c ON c.id = h.commit_id",
        "experiences": "SELECT c.hash, e.title, e.problem, e.solution, e.category, e.languages, "
                       "e.tags, e.patterns, e.paths, e.functions, e.size, e.links "
                       "FROM experiences e JOIN commits c ON c.id = e.commit_id",
        "pattern_occurrences": "SELECT c.hash, p.pattern, p.path, p.line, p.snippet "
                               "FROM pattern_occurrences p JOIN commits c ON c.id = p.commit_id",
    }
    with psycopg.connect(url) as conn:
        return {name: sorted(conn.execute(sql).fetchall(), key=repr) for name, sql in queries.items()}


def _per_file_counts(rows: list[tuple]) -> Counter:
    return Counter(row[1] for row in rows)


@contextlib.contextmanager
def _worker(cli_env: dict[str, str], log_path: Path):
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ades", "worker", "--poll-seconds", "0.2"],
                                   env=cli_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        stop(process)


def test_a_postgres_restart_mid_ingest_answers_fast_503s_and_the_ingest_finishes_intact(
        tmp_path, report):
    repo_path = make_linear_repo(tmp_path / "repos" / REPO, commits=COMMITS, files=60)
    some_file = git(repo_path, "ls-files").decode().splitlines()[0]
    with throwaway_postgres() as pg, throwaway_redis(tmp_path) as redis_server:
        db_url = pg.create_database("ades")
        env = {"GAIT_POSTGRES_URL": db_url, "GAIT_REDIS_URL": redis_server.url,
               "GAIT_REPO_ROOTS": str(tmp_path / "repos"), "GAIT_RATE_LIMIT": "100000/minute",
               "GAIT_INGEST_BATCH_SIZE": "200"}
        cli_env = service_env(tmp_path, env)
        token = _admin_token(cli_env)
        auth = {"Authorization": f"Bearer {token}"}
        with run_service("ui", tmp_path, workers=2, env=env) as ui, \
                run_service("ide", tmp_path, workers=1, env=env) as ide, \
                _worker(cli_env, tmp_path / "worker.log") as worker:
            ui_port, ide_port = _port(ui), _port(ide)
            registered = request(ui_port, "POST", "/api/repositories", headers=auth,
                                 body={"name": REPO, "path": str(repo_path)})
            assert registered.status == 202, _describe(registered)
            job_id = registered.json()["job"]["id"]

            def job() -> dict:
                outcome = request(ui_port, "GET", f"/api/jobs/{job_id}", headers=auth)
                return outcome.json() if outcome.status == 200 else {}

            api = {
                "ui search": lambda: request(ui_port, "GET", f"/api/search?q=cache&repo={REPO}&limit=5",
                                             name="ui search", headers=auth),
                "ui repositories": lambda: request(ui_port, "GET", "/api/repositories",
                                                   name="ui repositories", headers=auth),
                "ui job": lambda: request(ui_port, "GET", f"/api/jobs/{job_id}", name="ui job",
                                          headers=auth),
                "ide context": lambda: request(ide_port, "POST", "/ide/context", name="ide context",
                                               headers=auth, body={"repo": REPO, "path": some_file}),
            }
            probes = {
                f"{svc} {path}": (lambda port=port, path=path, svc=svc:
                                  request(port, "GET", path, name=f"{svc} {path}"))
                for svc, port in (("ui", ui_port), ("ide", ide_port))
                for path in ("/healthz", "/readyz")
            }
            with TrafficRecorder({**api, **probes}) as traffic:
                running = _wait_for(lambda: (j := job()).get("status") == "running"
                                    and j["progress"]["done"] > 0 and j, 120,
                                    "the ingest to start writing", interval=0.05)
                down_at = time.monotonic()
                pg.stop("fast")
                stopped_at = time.monotonic()
                time.sleep(OUTAGE_SECONDS)
                restart_at = time.monotonic()
                pg.start()
                up_at = time.monotonic()
                finished = _wait_for(lambda: (j := job()).get("status") in
                                     ("succeeded", "failed", "cancelled") and j, 180,
                                     "the ingest job to end")
                time.sleep(1.0)  # a last round of every request on the recovered database
            assert worker.poll() is None, "the worker exited:\n" + \
                (tmp_path / "worker.log").read_text(errors="replace")[-3000:]

        outcomes = traffic.outcomes
        broken = [o for o in outcomes if o.error or (o.status or 0) >= 500 and o.status != 503]
        assert not broken, "requests failed:\n" + "\n".join(map(_describe, broken[:20]))

        during = [o for o in traffic.between(stopped_at, restart_at) if o.name in api]
        assert len(during) >= 8, f"too little traffic during the outage ({len(during)} requests)"
        wrong = [o for o in during if o.status != 503 or not (o.json() or {}).get("error")
                 or int(o.headers.get("retry-after", "0")) <= 0]
        assert not wrong, "outage requests not answered 503 + Retry-After + JSON:\n" + \
            "\n".join(map(_describe, wrong[:20]))
        slowest = max(o.seconds for o in during)
        assert slowest < LATENCY_BOUND_SECONDS, f"an outage request took {slowest:.1f} s"

        health = [o for o in outcomes if o.name.endswith("/healthz")]
        assert health and all(o.status == 200 for o in health)
        readiness: dict[str, dict] = {}
        for svc in ("ui", "ide"):
            probes_seen = [o for o in outcomes if o.name == f"{svc} /readyz"]
            red = [o for o in probes_seen if stopped_at <= o.sent_at < restart_at]
            assert red and all(o.status == 503 for o in red), f"{svc} /readyz stayed green"
            green_again = [o for o in probes_seen if o.sent_at >= up_at and o.status == 200]
            assert green_again, f"{svc} /readyz never recovered"
            assert probes_seen[-1].status == 200
            readiness[svc] = {"red": len(red),
                              "recovered_after": green_again[0].sent_at + green_again[0].seconds - up_at}
        # Every API recovers on its own once the server is back (the pools reconnect).
        api_recovery = {}
        for name in api:
            after = [o for o in outcomes if o.name == name and o.sent_at >= up_at]
            ok = [o for o in after if o.status == 200]
            assert ok and after[-1].status == 200, f"{name} did not recover: {_describe(after[-1])}"
            api_recovery[name] = ok[0].sent_at + ok[0].seconds - up_at

        assert finished["status"] == "succeeded", finished
        assert finished["attempts"] >= 2, f"the job was not resumed after the outage: {finished}"
        assert running["progress"]["done"] < COMMITS

        # The data equals a clean ingest of the same repository into a fresh database.
        clean_env = service_env(tmp_path / "clean", {"GAIT_POSTGRES_URL": pg.create_database("clean")})
        _ades(clean_env, "ingest", str(repo_path), "--name", REPO)
        faulted_stats = json.loads(_ades(cli_env, "stats", "--repo", REPO, "--json"))
        clean_stats = json.loads(_ades(clean_env, "stats", "--repo", REPO, "--json"))
        assert faulted_stats == clean_stats
        assert faulted_stats["commits"] == COMMITS
        faulted, clean = _history_fingerprint(db_url), _history_fingerprint(pg.url("clean"))
        for table in clean:
            assert len(faulted[table]) == len(clean[table]), table
            assert faulted[table] == clean[table], f"{table} differs from a clean ingest"
        assert _per_file_counts(faulted["file_changes"]) == _per_file_counts(clean["file_changes"])

    statuses = Counter(o.status for o in during)
    report["PostgreSQL stopped and started mid-ingest"] = [
        f"Throwaway PostgreSQL stopped with `pg_ctl stop -m fast` for {OUTAGE_SECONDS:g} s "
        f"(stop took {stopped_at - down_at:.1f} s, start {up_at - restart_at:.1f} s) while ui (2 gunicorn "
        f"workers), ide (1) and `ades worker` ran an ingest of {COMMITS} commits "
        f"(at {running['progress']['done']} when the server went down).",
        "",
        "| observed | value |",
        "| --- | --- |",
        f"| API requests during the outage | {len(during)}: "
        f"{', '.join(f'{n} x {s}' for s, n in statuses.items())}, all with Retry-After and a JSON error |",
        f"| slowest / median 503 | {slowest * 1000:.0f} ms / "
        f"{sorted(o.seconds for o in during)[len(during) // 2] * 1000:.0f} ms |",
        f"| requests in the whole run | {len(outcomes)}; 5xx other than 503: 0; connection errors: 0 |",
        f"| /healthz | {len(health)} probes, all 200 |",
        "| /readyz red during the outage | "
        + ", ".join(f"{s}: {r['red']} x 503" for s, r in readiness.items()) + " |",
        "| /readyz green again after restart | "
        + ", ".join(f"{s}: {r['recovered_after']:.1f} s" for s, r in readiness.items()) + " |",
        "| API answering 200 again after restart | "
        + ", ".join(f"{n}: {t:.1f} s" for n, t in api_recovery.items()) + " |",
        f"| ingest job | succeeded after {finished['attempts']} attempts (resumed by the same worker) |",
        "| data vs a clean ingest into a fresh database | identical rows: "
        + ", ".join(f"{len(rows)} {table}" for table, rows in faulted.items())
        + f"; `ades stats --json` equal ({faulted_stats['commits']} commits) |",
    ]


# --- Redis ----------------------------------------------------------------------------------

# HardeningOptions.redis_timeout_seconds: sessions, rate limits and presence never wait longer
# on Redis. The margin covers a login's password hash on a loaded 2-core machine.
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_LATENCY_BOUND_SECONDS = REDIS_TIMEOUT_SECONDS + 2.5
RATE_LIMIT = 30  # per minute, per address and endpoint


def _annotation(body: str) -> dict:
    return {"type": "annotation.create", "v": 1, "target": {"kind": "commit", "id": "abc1234"},
            "body": body}


def _created(body: str):
    return lambda m: m["type"] == "annotation.created" and m["annotation"]["body"] == body


def _limit_keys(client) -> set[bytes]:
    return {key for key in client.scan_iter("ades:limits*")}


def _hit_until_limited(port: int, path: str, limit: int) -> list[Outcome]:
    """Send `limit` + 1 requests to `path`; the last one is over the limit."""
    return [request(port, "GET", path, name=f"limit {path}") for _ in range(limit + 1)]


def test_a_redis_restart_degrades_logins_limits_and_collab_as_documented_and_they_recover(
        tmp_path, postgres_url, report):
    import redis

    from services.collab.tests.wsclient import WsClient

    make_linear_repo(tmp_path / "repos" / "room", commits=5, files=3)
    with throwaway_redis(tmp_path, persistent=True) as redis_server:
        env = {"GAIT_POSTGRES_URL": postgres_url, "GAIT_REDIS_URL": redis_server.url,
               "GAIT_REPO_ROOTS": str(tmp_path / "repos"), "GAIT_RATE_LIMIT": f"{RATE_LIMIT}/minute"}
        cli_env = service_env(tmp_path, env)
        token = _admin_token(cli_env)
        bearer = {"Authorization": f"Bearer {token}"}
        credentials = {"username": "admin", "password": PASSWORD}
        observed: list[Outcome] = []

        def call(port: int, method: str, path: str, **kwargs) -> Outcome:
            outcome = request(port, method, path, **kwargs)
            observed.append(outcome)
            return outcome

        inspector = redis.Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=2)
        # One gunicorn worker each, so "per process" is this process and every pod is one.
        with run_service("ui", tmp_path, workers=1, env=env) as ui, \
                run_service("collab", tmp_path, workers=1, env=env) as pod_a, \
                run_service("collab", tmp_path, workers=1, env=env) as pod_b, \
                contextlib.ExitStack() as sockets:
            ui_port = _port(ui)
            ws = {name: pod.url.replace("http://", "ws://") + "/ws/repos/room"
                  for name, pod in (("a", pod_a), ("b", pod_b))}
            assert call(ui_port, "POST", "/api/repositories", headers=bearer,
                        body={"name": "room", "path": str(tmp_path / "repos" / "room")}).status == 202

            # Before: a login session in Redis, limits counted in Redis, fan-out across pods.
            login = call(ui_port, "POST", "/api/auth/login", body=credentials)
            assert login.status == 200 and "ades_session" in login.cookies, login.body
            cookie = {"Cookie": f"ades_session={login.cookies['ades_session']}"}
            assert call(ui_port, "GET", "/api/repositories", headers=cookie).status == 200
            limited = _hit_until_limited(ui_port, "/openapi.json", RATE_LIMIT)
            assert [o.status for o in limited[:-1]] == [200] * RATE_LIMIT and limited[-1].status == 429
            assert _limit_keys(inspector), "the limits were not counted in Redis"
            on_a = sockets.enter_context(contextlib.closing(WsClient(ws["a"], token=token)))
            on_b = sockets.enter_context(contextlib.closing(WsClient(ws["b"], token=token)))
            for client in (on_a, on_b):
                client.wait_for(lambda m: m["type"] == "welcome", timeout=15)
            on_a.send(_annotation("before the outage"))
            on_b.wait_for(_created("before the outage"), timeout=10)

            # During: Redis stopped.
            redis_server.stop()
            outage_started = time.monotonic()
            during_start = len(observed)
            assert call(ui_port, "GET", "/healthz").status == 200
            ready = call(ui_port, "GET", "/readyz")
            assert ready.status == 200, ready.body
            assert ready.json()["status"] == "degraded" and ready.json()["degraded"] == ["redis"]
            assert ready.json()["checks"]["redis"]["status"] == "down"
            health = call(ui_port, "GET", "/api/health")  # monitoring does see the outage
            assert health.status == 503 and health.json()["components"]["redis"]["status"] == "down"
            collab_ready = call(_port(pod_a), "GET", "/readyz")
            assert collab_ready.status == 200 and collab_ready.json()["status"] == "degraded"
            session_refused = call(ui_port, "GET", "/api/repositories", headers=cookie)
            login_refused = call(ui_port, "POST", "/api/auth/login", body=credentials)
            for refused in (session_refused, login_refused):
                assert refused.status == 503, _describe(refused)
                assert refused.json()["code"] == "session_store_unavailable"
                assert int(refused.headers["retry-after"]) > 0
            page = call(ui_port, "GET", "/", headers={**cookie, "Accept": "text/html"})
            assert page.status == 503 and int(page.headers["retry-after"]) > 0  # not a login redirect
            assert page.headers["content-type"].startswith("text/html")
            assert call(ui_port, "GET", "/api/repositories", headers=bearer).status == 200
            assert call(ui_port, "GET", "/api/repositories").status == 401  # no cookie: anonymous
            # The in-memory fallback starts counting afresh in this process.
            fallback = _hit_until_limited(ui_port, "/openapi.json", RATE_LIMIT)
            observed.extend(fallback)
            assert [o.status for o in fallback[:-1]] == [200] * RATE_LIMIT, \
                [_describe(o) for o in fallback if o.status != 200][:3]
            assert fallback[-1].status == 429  # counted in this process's memory
            joined = sockets.enter_context(contextlib.closing(WsClient(ws["a"], token=token)))
            joined.wait_for(lambda m: m["type"] == "welcome", timeout=15)
            joined.send(_annotation("during the outage"))
            on_a.wait_for(_created("during the outage"), timeout=10)  # same pod: delivered
            time.sleep(2.0)
            assert not [m for m in on_b.messages("annotation.created")
                        if m["annotation"]["body"] == "during the outage"], \
                "fan-out across pods cannot work without Redis"
            during = observed[during_start:]
            assert all(o.error is None and o.status != 500 for o in during)
            slowest_during = max(o.seconds for o in during)
            assert slowest_during < REDIS_LATENCY_BOUND_SECONDS, \
                f"a request waited {slowest_during:.2f} s on a stopped Redis"
            outage_seconds = time.monotonic() - outage_started

            # After: Redis back (same port, same append-only file); everything recovers alone.
            redis_server.start()
            back_at = time.monotonic()
            session_back = _wait_for(
                lambda: call(ui_port, "GET", "/api/repositories", headers=cookie).status == 200
                and time.monotonic() - back_at, 30, "the existing session to work again", interval=0.25)
            login_back = _wait_for(
                lambda: call(ui_port, "POST", "/api/auth/login", body=credentials).status == 200
                and time.monotonic() - back_at, 30, "logins to work again", interval=1.0)
            known = _limit_keys(inspector)
            # flask-limiter retries its storage with a backoff of up to 32 s; one request per
            # 2 s stays under the limit meanwhile (a 429 would count towards an address block).
            limits_back = _wait_for(
                lambda: call(ui_port, "GET", "/api/auth/me").status in (200, 401)
                and _limit_keys(inspector) - known and time.monotonic() - back_at,
                60, "rate limits to be counted in Redis again", interval=2.0)

            def fanout_restored() -> float | None:
                body = f"after the outage {time.monotonic()}"
                on_a.send(_annotation(body))
                try:
                    on_b.wait_for(_created(body), timeout=1.0)
                except AssertionError:
                    return None
                return time.monotonic() - back_at

            fanout_back = _wait_for(fanout_restored, 60, "fan-out across pods to resume", interval=0.5)
            # What pod B missed while Redis was down is there for it by cursor.
            on_b.send({"type": "catch_up", "v": 1, "cursor": 0})
            on_b.wait_for(lambda m: m["type"] == "annotation.created"
                          and m["annotation"]["body"] == "during the outage", timeout=10)
            assert call(ui_port, "GET", "/readyz").json()["status"] == "ready"
        inspector.close()

    failures = [o for o in observed if o.error or o.status == 500]
    assert not failures, [_describe(o) for o in failures]
    statuses = Counter(o.status for o in during)
    report["Redis stopped and started"] = [
        f"Throwaway Redis (append-only, as deployed) stopped for {outage_seconds:.1f} s under ui and two "
        "collab pods (one gunicorn worker each).",
        "",
        "| observed | value |",
        "| --- | --- |",
        f"| requests during the outage | {len(during)}: "
        f"{', '.join(f'{n} x {s}' for s, n in sorted(statuses.items()))}; none failed or hung |",
        f"| slowest request during the outage | {slowest_during * 1000:.0f} ms "
        f"(Redis timeout {REDIS_TIMEOUT_SECONDS:g} s) |",
        "| /readyz during the outage | 200, `degraded: [redis]` (ui and collab) |",
        "| cookie session / login during the outage | 503 `session_store_unavailable` + Retry-After; "
        "bearer tokens 200 |",
        f"| rate limit during the outage | in-memory per process: request {RATE_LIMIT + 1} got 429 |",
        "| websocket during the outage | connects; same-pod delivery works, cross-pod does not |",
        f"| session working again after restart | {session_back:.1f} s (same cookie) |",
        f"| login working again | {login_back:.1f} s |",
        f"| limits counted in Redis again | {limits_back:.1f} s |",
        f"| cross-pod fan-out again | {fanout_back:.1f} s; the missed annotation replayed by cursor |",
    ]

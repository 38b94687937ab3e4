"""The chassis under real gunicorn with gevent workers: metrics across workers, the metrics
port, the request time limit, cooperative database waits, JSON logs and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from service_runner import http, metric_samples, run_service, stop

TESTS = str(Path(__file__).resolve().parent)
PROBE_APP = "chassis_app:create_app()"


@pytest.fixture
def service_env(backend, request):
    if backend == "postgres":
        return {"GAIT_POSTGRES_URL": request.getfixturevalue("postgres_url")}
    return {}


def _requests_counted(metrics_text, endpoint):
    return sum(value for labels, value in
               metric_samples(metrics_text, "flask_http_request_duration_seconds_count")
               if labels["endpoint"] == endpoint and labels["status"] == "200")


def test_metrics_from_two_workers_add_up(tmp_path, service_env):
    requests = 60
    with run_service("ui", tmp_path, workers=2, env=service_env) as service:
        def fetch(_):
            response = service.get("/api/health/detailed")
            assert response.status == 200
            return response.json()["process"]["pid"]

        with ThreadPoolExecutor(max_workers=12) as pool:
            pids = set(pool.map(fetch, range(requests)))
        text = service.get("/metrics").body.decode()
        assert _requests_counted(text, "health.health_detailed") == requests
        # The same total through the metrics port, whichever worker answers.
        assert _requests_counted(http("GET", service.metrics_url + "/metrics").body.decode(),
                                 "health.health_detailed") == requests
        assert len(list(service.multiproc_dir.glob("*.db"))) > 0
        assert service.get("/api/health/detailed").json()["metrics"]["multiprocess"] is True
        if "GAIT_POSTGRES_URL" in service_env:
            # Each worker's pool keeps its one minimum connection; the gauge sums live workers.
            [(_, pool_size)] = metric_samples(text, "ades_db_pool_size")
            assert pool_size >= 2
    assert len(pids) == 2, "both workers should have served requests"


def test_the_metrics_port_serves_metrics_and_nothing_else(tmp_path):
    with run_service("ui", tmp_path, workers=1) as service:
        assert http("GET", service.metrics_url + "/metrics").status == 200
        assert http("GET", service.metrics_url + "/api/health").status == 404
        assert service.get("/metrics").status == 200


def test_a_request_over_the_time_limit_is_stopped_with_503(tmp_path):
    with run_service("ui", tmp_path, workers=1, app=PROBE_APP, pythonpath=TESTS,
                     env={"GAIT_REQUEST_TIMEOUT": "1"}) as service:
        started = time.monotonic()
        response = service.get("/probe/sleep?seconds=10", timeout=15)
        elapsed = time.monotonic() - started
        assert response.status == 503
        assert "longer than 1 s" in response.json()["error"]
        assert elapsed < 5
        detailed = service.get("/api/health/detailed").json()
        assert detailed["process"]["request_timeout_enforced"] is True
        assert service.get("/probe/sleep?seconds=0").status == 200


def test_slow_queries_in_one_gevent_worker_run_concurrently(tmp_path, postgres_url):
    with run_service("ui", tmp_path, workers=1, app=PROBE_APP, pythonpath=TESTS,
                     env={"GAIT_POSTGRES_URL": postgres_url,
                          "GAIT_POOL_MAX_SIZE": "8"}) as service:
        service.get("/probe/db-sleep?seconds=0")  # warm the pool
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(
                lambda _: service.get("/probe/db-sleep?seconds=1", timeout=20).status, range(6)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * 6
    # Serialised they would take 6 s; psycopg must yield to gevent while waiting.
    assert elapsed < 3.5, f"6 x 1 s queries took {elapsed:.1f} s in one worker"


def test_gunicorn_and_the_app_log_json_lines(tmp_path):
    with run_service("ui", tmp_path, workers=1) as service:
        service.get("/openapi.json", headers={"X-Request-ID": "trace-me"})
        time.sleep(0.3)
        lines = [json.loads(line) for line in service.log().splitlines() if line.strip()]
    assert all({"level", "message", "timestamp"} <= line.keys() for line in lines)
    [access] = [line for line in lines if line.get("request_id") == "trace-me"]
    assert access["fields"]["path"] == "/openapi.json" and access["fields"]["status"] == 200
    assert any(line.get("logger", "").startswith("gunicorn") for line in lines)


def test_sigterm_stops_the_service_cleanly(tmp_path):
    with run_service("ui", tmp_path, workers=2) as service:
        assert stop(service.process) == 0


def test_rate_limits_are_shared_by_two_gunicorn_workers_through_redis(tmp_path):
    import redis

    url = os.environ.get("ADES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/13"
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail("no Redis server for the shared rate-limit test")
        pytest.skip("no Redis server")
    client.flushdb()
    try:
        with run_service("ui", tmp_path, workers=2,
                         env={"GAIT_REDIS_URL": url, "GAIT_RATE_LIMIT": "20/minute"}) as service:
            with ThreadPoolExecutor(max_workers=12) as pool:
                # gevent workers accept greedily: on a busy machine one may take a whole
                # burst, so ask until both have answered (health checks are not limited).
                pids: set[int] = set()
                for _ in range(10):
                    pids |= set(pool.map(
                        lambda _: service.get("/api/health/detailed").json()["process"]["pid"],
                        range(40)))
                    if len(pids) == 2:
                        break
                statuses = list(pool.map(lambda _: service.get("/openapi.json").status, range(30)))
            assert len(pids) == 2, "requests should reach both workers"
            # One budget of 20 for both workers: per-worker memory would let all 30 through.
            assert statuses.count(200) == 20
            assert statuses.count(429) == 10
            # ... and every one of the 30 was counted in Redis, where both workers count.
            counters = [int(client.get(key)) for key in client.keys("*limits*")
                        if client.type(key) == b"string"]
            assert 30 in counters, counters
    finally:
        client.flushdb()
        client.close()


def test_gevent_workers_keep_tokens_in_memory_and_drop_them_on_a_notification(tmp_path,
                                                                              postgres_url):
    """Under real gunicorn gevent workers: a token's account is served from the workers'
    memory (a change PostgreSQL does not notify is not seen), and a revocation made by
    another process is honoured by every worker within a second (LISTEN/NOTIFY)."""
    import psycopg
    from ades.hardening import tokens, users
    from ades.storage import open_store

    env = {"GAIT_POSTGRES_URL": postgres_url, "GAIT_RATE_LIMIT": "10000/minute"}
    with run_service("ui", tmp_path, workers=2, env=env) as service:
        store = open_store(postgres_url, migrate=False)
        try:
            users.create_user(store, "ada", "a long enough password", "maintainer")
            _, plaintext = tokens.create_token(store, "ada", "read")
        finally:
            store.close()
        bearer = {"Authorization": f"Bearer {plaintext}"}

        def roles(count: int = 40) -> set[object]:
            def one(_):
                response = service.get("/api/auth/me", headers=bearer)
                return response.json()["user"]["role"] if response.status == 200 else response.status

            with ThreadPoolExecutor(max_workers=8) as pool:
                return set(pool.map(one, range(count)))

        assert roles() == {"maintainer"}  # both workers have looked the token up by now
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            # A change behind the triggers' back: the workers go on answering from memory.
            conn.execute("ALTER TABLE users DISABLE TRIGGER users_auth_changed")
            conn.execute("UPDATE users SET role = 'viewer'")
            conn.execute("ALTER TABLE users ENABLE TRIGGER users_auth_changed")
            # (A worker that happened to get none of the first requests looks it up now.)
            assert "maintainer" in roles()
            conn.execute("UPDATE api_tokens SET revoked_at = 1")
        time.sleep(1.0)
        assert roles() == {401}


def _pipelined_counts(url: str, connections: int, seconds: float) -> list[int]:
    """Responses per connection when each keeps two requests in flight for `seconds`:
    the server always finds the next request waiting on every connection."""
    import selectors
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    socks = []
    for index in range(connections):
        sock = socket.create_connection((parts.hostname, parts.port))
        sock.sendall(request * 2)
        selector.register(sock, selectors.EVENT_READ, index)
        socks.append(sock)
    buffers, counts = [b""] * connections, [0] * connections
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.1):
                index = key.data
                buffers[index] += key.fileobj.recv(65536)
                while b"\r\n\r\n" in buffers[index]:
                    head, rest = buffers[index].split(b"\r\n\r\n", 1)
                    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length")))
                    if len(rest) < length:
                        break
                    buffers[index] = rest[length:]
                    counts[index] += 1
                    key.fileobj.sendall(request)
    finally:
        for sock in socks:
            sock.close()
    return counts


def test_no_keep_alive_connection_keeps_a_gevent_worker_to_itself(tmp_path):
    # Without the post_request yield, the first connection is served thousands of times
    # while the others get nothing for the whole run.
    with run_service("ui", tmp_path, workers=1) as service:
        counts = _pipelined_counts(service.url + "/healthz", connections=8, seconds=2)
    assert min(counts) > 0, f"starved connections: {counts}"
    assert min(counts) * 4 >= max(counts), f"unfair service: {counts}"

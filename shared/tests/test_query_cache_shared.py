"""The query cache's shared Redis tier and its single-flight computation.

Two `QueryCache` instances over one store and one Redis stand for two worker processes.
Redis is a throwaway redis-server of the test (never the shared one), so a test may stop,
pause and restart it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
from ades.metrics.instruments import REGISTRY
from ades.optimizer import LRUCache, QueryCache, SharedTier
from ades.optimizer.blocking_redis import BLOCKING_TIMEOUT_SECONDS
from ades.storage import open_store
from ades.storage.repositories import record_ingest, register_repository
from pgserver import free_port
from service_runner import wait_until

CLIENT_TIMEOUT = 0.3
BREAKER = 1.0


class RedisServer:
    """A redis-server on its own port that keeps the port across stop() and start()."""

    def __init__(self, directory) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = self.client()
        try:
            wait_until(lambda: _pings(probe), 20, "redis-server answers")
        finally:
            probe.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # in case a test left it paused
            self.process.terminate()
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=CLIENT_TIMEOUT,
                           socket_connect_timeout=CLIENT_TIMEOUT)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(backend, tmp_path, request):
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'ades.db'}"


@pytest.fixture
def store(database_url):
    opened = open_store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def repo_id(store):
    repo = register_repository(store, "payments", "/srv/payments")
    record_ingest(store, repo.id, head="a" * 40, branch="main", commit_count=10, seconds=1.0)
    return repo.id


class Counted:
    """A computation that records how often it ran."""

    def __init__(self, value, *, delay: float = 0.0) -> None:
        self.value, self.delay, self.calls = value, delay, 0
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        return self.value


def _process(store, server: RedisServer, prefix: str, *, name: str = "t",
             freshness: float = 0.0, max_value_bytes: int = 1_000_000) -> QueryCache:
    """One 'worker process': its own LRU and Redis client, the shared store and Redis."""
    client = server.client()
    shared = SharedTier(lambda: client, key_prefix=prefix, ttl_seconds=60, name=name,
                        breaker_seconds=BREAKER, max_value_bytes=max_value_bytes)
    return QueryCache(LRUCache(100, ttl_seconds=60, name=name), lambda: store,
                      freshness_seconds=freshness, shared=shared)


def _sample(metric: str, **labels) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


@pytest.fixture
def prefix():
    return f"test-{uuid.uuid4().hex[:8]}:"


RESULTS = [{"commit": "abc", "score": 1.5, "tags": ["x"], "matched": {"title": ["pay"]}}]


def test_a_value_computed_by_one_process_is_found_by_another_without_computing(
        store, repo_id, redis_server, prefix):
    name = f"share-{uuid.uuid4().hex[:6]}"
    first, second = (_process(store, redis_server, prefix, name=name) for _ in range(2))
    computed, never = Counted(RESULTS), Counted("not this")

    assert first.get_or_compute("search", computed, repo_id=repo_id, shared=True) == RESULTS
    assert second.get_or_compute("search", never, repo_id=repo_id, shared=True) == RESULTS
    assert (computed.calls, never.calls) == (1, 0)

    keys = redis_server.client().keys(f"{prefix}qc:*")
    assert len(keys) == 1 and len(keys[0]) == len(f"{prefix}qc:") + 64
    assert 0 < redis_server.client().ttl(keys[0]) <= 60
    # The shared hit is still a local miss; the next lookup is a local hit.
    assert (second.stats().hits, second.stats().misses) == (0, 1)
    assert second.get_or_compute("search", never, repo_id=repo_id, shared=True) == RESULTS
    assert second.stats().hits == 1
    assert _sample("ades_cache_hits_total", cache=f"{name}-shared") == 1
    assert _sample("ades_cache_misses_total", cache=f"{name}-shared") == 1


def test_only_calls_that_opt_in_are_shared(store, repo_id, redis_server, prefix):
    first, second = (_process(store, redis_server, prefix) for _ in range(2))
    first.get_or_compute("local", Counted(RESULTS), repo_id=repo_id)
    again = Counted(RESULTS)
    second.get_or_compute("local", again, repo_id=repo_id)
    assert again.calls == 1
    assert redis_server.client().keys(f"{prefix}*") == []


def test_a_cache_without_a_store_never_uses_the_shared_tier(redis_server, prefix):
    client = redis_server.client()
    blind = QueryCache(LRUCache(10), shared=SharedTier(lambda: client, key_prefix=prefix))
    assert blind.get_or_compute("k", Counted([1]), shared=True) == [1]
    assert client.keys(f"{prefix}*") == []


def test_an_ingest_anywhere_makes_both_processes_recompute(store, repo_id, redis_server, prefix):
    first, second = (_process(store, redis_server, prefix) for _ in range(2))
    first.get_or_compute("count", Counted([10]), repo_id=repo_id, shared=True)
    assert second.get_or_compute("count", Counted([0]), repo_id=repo_id, shared=True) == [10]

    record_ingest(store, repo_id, head="b" * 40, branch="main", commit_count=13, seconds=1.0)
    recount = Counted([13])
    assert first.get_or_compute("count", recount, repo_id=repo_id, shared=True) == [13]
    assert recount.calls == 1
    # The second process finds the new value under the new fingerprint, never the old one.
    assert second.get_or_compute("count", Counted([0]), repo_id=repo_id, shared=True) == [13]
    # Everything-scoped results move too.
    assert first.get_or_compute("all", Counted(["new"]), shared=True) == ["new"]


def test_an_in_process_invalidation_does_not_read_the_old_shared_value(
        store, repo_id, redis_server, prefix):
    # A long freshness window: only `invalidate_repository` (called after an ingest in
    # this process) can tell the cache, and it must not then find the old entry in Redis.
    first = _process(store, redis_server, prefix, freshness=3600)
    first.get_or_compute("count", Counted([10]), repo_id=repo_id, shared=True)
    record_ingest(store, repo_id, head="c" * 40, branch="main", commit_count=20, seconds=1.0)
    first.invalidate_repository(repo_id)
    recount = Counted([20])
    assert first.get_or_compute("count", recount, repo_id=repo_id, shared=True) == [20]
    assert recount.calls == 1


@pytest.mark.parametrize("value", [(1, 2), {1: "a"}, {"a"}, [float("nan")], object()],
                         ids=["tuple", "int-keys", "set", "nan", "object"])
def test_a_value_that_is_not_plain_json_is_cached_locally_but_not_shared(
        store, repo_id, redis_server, prefix, value):
    name = f"nonjson-{uuid.uuid4().hex[:6]}"
    first, second = (_process(store, redis_server, prefix, name=name) for _ in range(2))
    assert first.get_or_compute("odd", lambda: value, repo_id=repo_id, shared=True) is value
    assert first.get_or_compute("odd", lambda: "again", repo_id=repo_id, shared=True) is value
    other = Counted("computed here")
    assert second.get_or_compute("odd", other, repo_id=repo_id, shared=True) == "computed here"
    assert other.calls == 1
    assert _sample("ades_cache_shared_skipped_total", cache=f"{name}-shared",
                   reason="not_json") == 1
    assert redis_server.client().keys(f"{prefix}qc:*") != []  # only "computed here"


def test_a_value_larger_than_the_cap_is_not_shared(store, repo_id, redis_server, prefix):
    first, second = (_process(store, redis_server, prefix, max_value_bytes=100)
                     for _ in range(2))
    big = ["x" * 200]
    first.get_or_compute("big", lambda: big, repo_id=repo_id, shared=True)
    again = Counted(big)
    second.get_or_compute("big", again, repo_id=repo_id, shared=True)
    assert again.calls == 1
    assert first.shared.stats()["skipped"] == 1


def test_computations_go_on_while_redis_is_down_and_sharing_resumes_after(
        store, repo_id, redis_server, prefix, caplog):
    first, second = (_process(store, redis_server, prefix) for _ in range(2))
    redis_server.stop()
    with caplog.at_level(logging.INFO, logger="ades.optimizer"):
        for n in range(5):
            assert first.get_or_compute(n, Counted([n]), repo_id=repo_id, shared=True) == [n]
        # Inside the breaker window only the first lookup reached Redis.
        assert first.shared.stats()["errors"] == 1
        assert first.shared.stats()["breaker_open"]
        time.sleep(BREAKER + 0.1)
        assert first.get_or_compute("later", Counted([9]), repo_id=repo_id, shared=True) == [9]
        assert first.shared.stats()["errors"] == 2

        redis_server.start()
        time.sleep(BREAKER + 0.1)
        assert first.get_or_compute("back", Counted(["b"]), repo_id=repo_id, shared=True) == ["b"]
        never = Counted("not this")
        assert second.get_or_compute("back", never, repo_id=repo_id, shared=True) == ["b"]
        assert never.calls == 0

    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis failed" in m for m in messages) == 1  # once per outage
    assert sum("sharing resumed" in m for m in messages) == 1


def test_a_hung_redis_costs_one_client_timeout_per_breaker_window(
        store, repo_id, redis_server, prefix):
    first = _process(store, redis_server, prefix)
    first.get_or_compute("warm", Counted([0]), repo_id=repo_id, shared=True)  # connected
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        durations = []
        for n in range(6):
            started = time.monotonic()
            assert first.get_or_compute(n, Counted([n]), repo_id=repo_id, shared=True) == [n]
            durations.append(time.monotonic() - started)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    # The tier's own sockets wait at most BLOCKING_TIMEOUT_SECONDS (shorter than the client's).
    assert durations[0] >= BLOCKING_TIMEOUT_SECONDS * 0.9
    assert durations[0] < CLIENT_TIMEOUT
    assert max(durations[1:]) < BLOCKING_TIMEOUT_SECONDS / 3
    assert first.shared.stats()["errors"] == 1


def test_concurrent_callers_of_one_key_share_a_single_computation():
    queries = QueryCache(LRUCache(10))
    slow = Counted(["value"], delay=0.3)
    results, start = [], threading.Barrier(8)

    def ask():
        start.wait()
        results.append(queries.get_or_compute("k", slow))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert slow.calls == 1
    assert len(results) == 8 and all(r is slow.value for r in results)


def test_waiters_compute_themselves_when_the_first_computation_fails():
    queries = QueryCache(LRUCache(10))
    calls, lock = [], threading.Lock()

    def flaky():
        with lock:
            calls.append(None)
            first = len(calls) == 1
        time.sleep(0.2)
        if first:
            raise RuntimeError("database hiccup")
        return "value"

    outcomes, start = [], threading.Barrier(5)

    def ask():
        start.wait()
        try:
            outcomes.append(queries.get_or_compute("k", flaky))
        except RuntimeError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(outcomes) == ["database hiccup"] + ["value"] * 4


def test_a_waiter_stops_waiting_after_the_single_flight_limit():
    queries = QueryCache(LRUCache(10), single_flight_seconds=0.1)
    slow, quick = Counted("slow", delay=1.0), Counted("quick")
    leader = threading.Thread(target=lambda: queries.get_or_compute("k", slow))
    leader.start()
    wait_until(lambda: slow.calls == 1, 5, "the first computation started")
    started = time.monotonic()
    assert queries.get_or_compute("k", quick) == "quick"
    assert time.monotonic() - started < 0.5
    leader.join(5)


GEVENT_SINGLE_FLIGHT = """
from gevent import monkey
monkey.patch_all()
import time
import gevent
from ades.optimizer import LRUCache, QueryCache

queries = QueryCache(LRUCache(10))
calls = []

def slow():
    calls.append(1)
    time.sleep(0.3)  # patched: yields to the other greenlets
    return ["value"]

started = time.monotonic()
jobs = [gevent.spawn(queries.get_or_compute, "k", slow) for _ in range(20)]
gevent.joinall(jobs, timeout=10)
assert all(job.successful() and job.value == ["value"] for job in jobs), jobs
print(len(calls), round(time.monotonic() - started, 2))
"""


def test_single_flight_works_between_greenlets_under_gevent():
    done = subprocess.run([sys.executable, "-c", GEVENT_SINGLE_FLIGHT], capture_output=True,
                          text=True, timeout=60, check=True)
    calls, seconds = done.stdout.split()
    assert calls == "1"
    assert float(seconds) < 2


GEVENT_BLOCKING_TIER = """
from gevent import monkey
monkey.patch_all()
import os, signal, sys, time
import gevent
import redis
from ades.optimizer import SharedTier

port, pid = int(sys.argv[1]), int(sys.argv[2])
client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0, socket_connect_timeout=2.0)
tier = SharedTier(lambda: client, key_prefix=sys.argv[3], breaker_seconds=60)
assert tier.store(tier.key_prefix + "k", ["v"])  # connected
assert tier.lookup(tier.key_prefix + "k") == (True, ["v"])
ticks = []

def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.002)

ticker = gevent.spawn(tick)
gevent.sleep(0.05)
os.kill(pid, signal.SIGSTOP)
try:
    started = time.monotonic()
    found = tier.lookup(tier.key_prefix + "k")
    ended = time.monotonic()
finally:
    os.kill(pid, signal.SIGCONT)
gevent.sleep(0.05)
ticker.kill()
during = sum(started < t < ended for t in ticks)
print(found[0], round(ended - started, 3), during, len(ticks))
"""


def test_under_gevent_a_shared_tier_call_waits_in_place_not_behind_other_greenlets(
        redis_server, prefix):
    # Redis paused mid-call: the worker's other greenlets must not run while the tier waits
    # (a cooperative socket would let the 2 ms ticker run ~50 times), and the wait ends at
    # the tier's short timeout, not the client's 2 s.
    done = subprocess.run([sys.executable, "-c", GEVENT_BLOCKING_TIER, str(redis_server.port),
                           str(redis_server.process.pid), prefix],
                          capture_output=True, text=True, timeout=60, check=True)
    found, seconds, during, total = done.stdout.split()
    assert found == "False"  # the timeout is a miss, never an error to the caller
    assert BLOCKING_TIMEOUT_SECONDS * 0.9 <= float(seconds) < 1.0
    assert int(during) == 0
    assert int(total) >= 20  # the ticker did run before and after

"""The LRU cache and the query cache that ingests invalidate, in this and other processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from ades.optimizer import LRUCache, QueryCache, cached_query, invalidate_repository
from ades.storage import open_store
from ades.storage.repositories import get_repository
from gitrepos import RepoBuilder, make_linear_repo


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_after_its_ttl():
    clock = FakeClock()
    cache = LRUCache(10, ttl_seconds=5, clock=clock)
    cache.set("k", "v")
    clock.now += 4.9
    assert cache.get("k") == "v"
    clock.now += 0.2
    assert cache.get("k") is None
    assert cache.stats().expirations == 1
    assert len(cache) == 0


def test_a_per_entry_ttl_overrides_the_default():
    clock = FakeClock()
    cache = LRUCache(10, ttl_seconds=60, clock=clock)
    cache.set("short", 1, ttl_seconds=1)
    clock.now += 2
    assert "short" not in cache
    assert cache.purge_expired() == 1


def test_the_least_recently_used_entry_is_evicted_first():
    cache = LRUCache(2, ttl_seconds=60)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # a is now more recent than b
    cache.set("c", 3)
    assert "b" not in cache
    assert cache.get("a") == 1 and cache.get("c") == 3
    assert cache.stats().evictions == 1


def test_stats_count_hits_misses_and_the_hit_ratio():
    cache = LRUCache(4, ttl_seconds=60, name="stats-test")
    cache.set("x", None)
    assert cache.lookup("x") == (True, None)  # a cached None is a hit, not a miss
    assert cache.lookup("y") == (False, None)
    cache.get("x")
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size, stats.max_size) == (2, 1, 1, 4)
    assert stats.hit_ratio == pytest.approx(2 / 3)
    assert stats.to_dict()["hit_ratio"] == round(2 / 3, 4)


def test_a_cache_of_size_zero_stores_nothing():
    cache = LRUCache(0, ttl_seconds=60)
    cache.set("a", 1)
    assert cache.get("a") is None
    assert len(cache) == 0


@pytest.mark.parametrize("size, ttl", [(-1, 10), (1, 0), (1, -5)])
def test_bad_sizes_and_ttls_are_refused(size, ttl):
    with pytest.raises(ValueError):
        LRUCache(size, ttl_seconds=ttl)


def test_concurrent_writers_never_exceed_the_size():
    cache = LRUCache(50, ttl_seconds=60)

    def hammer(offset: int) -> None:
        for i in range(2000):
            cache.set((offset, i), i)
            cache.get((offset, i - 1))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert len(cache) == 50
    assert stats.evictions == 8 * 2000 - 50


def test_invalidating_a_repository_drops_only_its_results():
    queries = QueryCache(LRUCache(100, ttl_seconds=60))
    calls = []

    def compute(tag):
        def run():
            calls.append(tag)
            return tag
        return run

    assert cached_query(queries, "k", compute("r1"), repo_id=1) == "r1"
    assert cached_query(queries, "k", compute("r2"), repo_id=2) == "r2"
    assert cached_query(queries, "k", compute("again"), repo_id=1) == "r1"
    invalidate_repository(1)
    assert cached_query(queries, "k", compute("r1-new"), repo_id=1) == "r1-new"
    assert cached_query(queries, "k", compute("unused"), repo_id=2) == "r2"
    assert calls == ["r1", "r2", "r1-new"]
    assert queries.generation(1) == 1 and queries.generation(2) == 0


def test_results_spanning_all_repositories_are_invalidated_by_any_ingest():
    queries = QueryCache(LRUCache(100, ttl_seconds=60))
    assert cached_query(queries, "list", lambda: "old") == "old"
    queries.invalidate_repository(7)
    assert cached_query(queries, "list", lambda: "new") == "new"


@pytest.fixture
def database_url(backend, tmp_path, request):
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'data' / 'ades.db'}"


def _ingest_in_subprocess(repo, database_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    if database_url.startswith("sqlite:///"):
        env["GAIT_DATA_DIR"] = os.path.dirname(database_url.removeprefix("sqlite:///"))
    else:
        env["GAIT_DATA_DIR"] = str(tmp_path / "data")
        env["GAIT_POSTGRES_URL"] = database_url
    subprocess.run([sys.executable, "-m", "ades", "ingest", str(repo), "--name", "r",
                    "--no-progress"], env=env, check=True, capture_output=True, timeout=120)


def test_a_cached_result_is_invalidated_by_an_ingest_in_another_process(
        database_url, tmp_path):
    repo = make_linear_repo(tmp_path / "repo", commits=5)
    _ingest_in_subprocess(repo, database_url, tmp_path)
    store = open_store(database_url)
    try:
        repo_id = get_repository(store, "r").id

        def count_commits():
            return store.query_one("SELECT COUNT(*) FROM commits WHERE repo_id = ?",
                                   (repo_id,))[0]

        watching = QueryCache(LRUCache(100, ttl_seconds=3600), lambda: store,
                              freshness_seconds=0)
        blind = QueryCache(LRUCache(100, ttl_seconds=3600))
        for cache in (watching, blind):
            assert cached_query(cache, "commits", count_commits, repo_id=repo_id) == 5

        builder = RepoBuilder(repo)
        for n in range(3):
            builder.write(f"later_{n}.txt", f"line {n}\n")
            builder.commit(f"Add later file {n}")
        _ingest_in_subprocess(repo, database_url, tmp_path)

        assert cached_query(watching, "commits", count_commits, repo_id=repo_id) == 8
        # Without the database fingerprint a cache cannot know (the control case).
        assert cached_query(blind, "commits", count_commits, repo_id=repo_id) == 5
        assert cached_query(watching, "everything", lambda: "all") == "all"
    finally:
        store.close()

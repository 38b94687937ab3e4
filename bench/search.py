"""make bench-search REPO=path — search latency over a large ingested repository.

Ingests REPO into a fresh SQLite and a fresh PostgreSQL database (reusing the SQLite one
left by bench-ingest when it holds the same HEAD), then runs two-word queries warm, in
process, through the same `search_experiences` call the CLI and the services make, and
prints median and p95 per backend, next to the cost of the cheapest query the database can
answer (SELECT 1) as the baseline measured in the same run.

On PostgreSQL it also runs one-word queries for common words twice: as users get them (a
page read from the impact lists, `ades.storage.search_impacts`) and with the lists switched
off (ts_rank_cd over every match, as before they existed), checks that both give the same
results, and prints the ratio; and it times a rebuild of the lists.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from ades.search import search_experiences
from ades.storage import open_store
from common import PYTHON, WORK, fresh_postgres_database

QUERIES = ["memory leak", "fix crash", "packed refs", "diff color", "interactive rebase",
           "submodule update", "commit graph", "pack bitmap", "config parsing", "merge conflict",
           "retry backoff", "signal handler", "path traversal", "error message", "test failure",
           "performance regression", "unicode filename", "shallow clone", "http proxy",
           "index lock"]
# Words common in most projects' history; on git/git each is in 1,500-26,000 experiences.
COMMON_WORDS = ["use", "test", "add", "fix", "file", "make", "error", "update", "change",
                "remove", "support", "function", "option", "code", "command", "config",
                "message", "check", "allow", "new"]
ROUNDS = 15


def _ingest(repo: str, env: dict[str, str]) -> None:
    import os

    subprocess.run([PYTHON, "-m", "ades", "ingest", repo, "--name", "bench", "--no-progress"],
                   env={**os.environ, **env}, check=True, capture_output=True)


def _measure(url: str, queries: list[str] = QUERIES) -> dict:
    store = open_store(url)
    try:
        for q in queries:  # warm-up: caches, statistics, pages
            search_experiences(store, q, limit=10)
        timings, base, hits = [], [], 0
        for _ in range(ROUNDS):
            for q in queries:
                t = time.perf_counter()
                hits += len(search_experiences(store, q, limit=10))
                timings.append(time.perf_counter() - t)
                t = time.perf_counter()
                store.query("SELECT 1")
                base.append(time.perf_counter() - t)
        timings.sort()
        return {"median": statistics.median(timings), "p95": timings[int(len(timings) * 0.95)],
                "base": statistics.median(base), "hits": hits / (ROUNDS * len(queries)),
                "experiences": store.query_one("SELECT COUNT(*) FROM experiences")[0]}
    finally:
        store.close()


def _common_words(url: str) -> tuple[dict, dict, float]:
    """One common word per query, with and without the impact lists; and a rebuild's time."""
    from unittest import mock

    from ades import search
    from ades.storage import search_impacts

    store = open_store(url)
    try:
        started = time.perf_counter()
        build = search_impacts.rebuild(store)
        rebuild_seconds = time.perf_counter() - started
        with mock.patch.object(search, "_may_use_impacts", return_value=False):
            expected = [search_experiences(store, w, limit=10) for w in COMMON_WORDS]
        if [search_experiences(store, w, limit=10) for w in COMMON_WORDS] != expected:
            raise SystemExit("bench-search: the impact lists answered differently")
        heavy = store.query_one("SELECT COUNT(*) FROM search_heavy_lexemes")[0]
        print(f"impact lists: {heavy} heavy words, depth {build.depth}, rebuilt in "
              f"{rebuild_seconds:.1f} s over {build.experiences:,} experiences")
    finally:
        store.close()
    with_lists = _measure(url, COMMON_WORDS)
    with mock.patch.object(search, "_may_use_impacts", return_value=False):
        ranked = _measure(url, COMMON_WORDS)
    return with_lists, ranked, rebuild_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    repo = str(Path(args.repo).resolve())
    data = WORK / "sqlite-data"
    _ingest(repo, {"GAIT_DATA_DIR": str(data)})  # incremental: instant when already ingested
    results = {"SQLite (FTS5)": _measure(f"sqlite:///{data}/ades.db")}
    if not args.skip_postgres:
        url, drop = fresh_postgres_database()
        try:
            _ingest(repo, {"GAIT_DATA_DIR": str(WORK / "pg-data"), "GAIT_POSTGRES_URL": url})
            results["PostgreSQL (tsvector+GIN)"] = _measure(url)
            lists, ranked, _ = _common_words(url)
            results["PostgreSQL, one common word, every match ranked"] = ranked
            results["PostgreSQL, one common word, impact lists"] = lists
        finally:
            drop()
    print(f"{'backend':50s} {'experiences':>11s} {'median ms':>10s} {'p95 ms':>8s} "
          f"{'SELECT 1 ms':>12s} {'x SELECT 1':>10s} {'avg hits':>8s}")
    for name, r in results.items():
        print(f"{name:50s} {r['experiences']:11d} {r['median'] * 1e3:10.2f} {r['p95'] * 1e3:8.2f} "
              f"{r['base'] * 1e3:12.3f} {r['median'] / r['base']:10.0f} {r['hits']:8.1f}")
    if "PostgreSQL, one common word, impact lists" in results:
        ranked = results["PostgreSQL, one common word, every match ranked"]
        lists = results["PostgreSQL, one common word, impact lists"]
        print(f"one common word: impact lists {ranked['median'] / lists['median']:.1f}x faster "
              f"at the median, {ranked['p95'] / lists['p95']:.1f}x at p95 (same results)")


if __name__ == "__main__":
    main()

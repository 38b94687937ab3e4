"""make bench-search REPO=path — search latency over a large ingested repository.

Ingests REPO into a fresh SQLite and a fresh PostgreSQL database (reusing the SQLite one
left by bench-ingest when it holds the same HEAD), then runs two-word queries warm, in
process, through the same `search_experiences` call the CLI and the services make, and
prints median and p95 per backend, next to the cost of the cheapest query the database can
answer (SELECT 1) as the baseline measured in the same run.
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
ROUNDS = 15


def _ingest(repo: str, env: dict[str, str]) -> None:
    import os

    subprocess.run([PYTHON, "-m", "ades", "ingest", repo, "--name", "bench", "--no-progress"],
                   env={**os.environ, **env}, check=True, capture_output=True)


def _measure(url: str) -> dict:
    store = open_store(url)
    try:
        for q in QUERIES:  # warm-up: caches, statistics, pages
            search_experiences(store, q, limit=10)
        timings, base, hits = [], [], 0
        for _ in range(ROUNDS):
            for q in QUERIES:
                t = time.perf_counter()
                hits += len(search_experiences(store, q, limit=10))
                timings.append(time.perf_counter() - t)
                t = time.perf_counter()
                store.query("SELECT 1")
                base.append(time.perf_counter() - t)
        timings.sort()
        return {"median": statistics.median(timings), "p95": timings[int(len(timings) * 0.95)],
                "base": statistics.median(base), "hits": hits / (ROUNDS * len(QUERIES)),
                "experiences": store.query_one("SELECT COUNT(*) FROM experiences")[0]}
    finally:
        store.close()


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
        finally:
            drop()
    print(f"{'backend':28s} {'experiences':>11s} {'median ms':>10s} {'p95 ms':>8s} "
          f"{'SELECT 1 ms':>12s} {'x SELECT 1':>10s} {'avg hits':>8s}")
    for name, r in results.items():
        print(f"{name:28s} {r['experiences']:11d} {r['median'] * 1e3:10.2f} {r['p95'] * 1e3:8.2f} "
              f"{r['base'] * 1e3:12.3f} {r['median'] / r['base']:10.0f} {r['hits']:8.1f}")


if __name__ == "__main__":
    main()

"""make bench-viz [REPO=name] — latency of every /viz/api endpoint on a large repository.

Opens the SQLite database that bench-ingest leaves in bench/.work/sqlite-data (git/git,
82k commits, ingested as "bench"), builds the viz app over it and requests each data
endpoint through the whole Flask stack (auth, RBAC, cache, JSON) with several filter sets:
once cold (the SQL runs), then ROUNDS times warm (served from the query cache that an
ingest invalidates). Prints cold time and warm p50/p95 per endpoint, next to the uncached
SQL time of each view. Creates a viewer `bench-viz` in that database if it is missing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import ROOT, WORK

sys.path.insert(0, str(ROOT))
FILTERS = [{}, {"path": "builtin/"}, {"author": "gitster@pobox.com"},
           {"since": "2020-01-01", "until": "2023-12-31"}, {"category": "bugfix"}]
ROUNDS = 40
PASSWORD = "bench-viz-password-not-secret"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", default="bench", help="repository name in the database")
    args = parser.parse_args()
    data_dir = WORK / "sqlite-data"
    if not (data_dir / "ades.db").exists():
        print(f"no database at {data_dir}/ades.db: run `make bench-ingest REPO=<git/git clone>` first")
        return 2
    for name in [n for n in os.environ if n.startswith("GAIT_")]:
        del os.environ[name]
    from ades import viz_data
    from ades.hardening import users
    from ades.service import service_context
    from ades.storage.repositories import get_repository

    from services.viz import create_app

    app = create_app({"server": {"data_dir": str(data_dir), "redis_url": None},
                      "security": {"secret_key": "bench-viz-secret", "rate_limit": "100000/minute"}})
    store = service_context(app).stores.get().inner
    repo = get_repository(store, args.repo)
    if repo is None:
        print(f"no repository {args.repo!r} in {data_dir}/ades.db")
        return 2
    if users.get_user(store, "bench-viz") is None:
        users.create_user(store, "bench-viz", PASSWORD, "viewer")
    client = app.test_client()
    response = client.post("/api/auth/login", json={"username": "bench-viz", "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    print(f"{args.repo}: {repo.commit_count} commits; {len(FILTERS)} filter sets x {ROUNDS} warm rounds")
    print(f"{'endpoint':<22}{'sql p50':>10}{'sql max':>10}{'cold max':>10}{'warm p50':>10}{'warm p95':>10}")
    worst = 0.0
    for view, compute in viz_data.VIEWS.items():
        sql, cold, warm = [], [], []
        for flt in FILTERS:
            filters = viz_data.parse_filters(flt)
            started = time.perf_counter()
            compute(store, repo.id, filters)
            sql.append(time.perf_counter() - started)
            query = {"repo": args.repo, **flt}
            for rounds, sink in ((1, cold), (ROUNDS, warm)):
                for _ in range(rounds):
                    started = time.perf_counter()
                    response = client.get(f"/viz/api/{view}", query_string=query)
                    sink.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.get_data(as_text=True)
        p95 = statistics.quantiles(warm, n=20)[18]
        worst = max(worst, p95)
        print(f"/viz/api/{view:<13}{statistics.median(sql) * 1000:>8.1f}ms{max(sql) * 1000:>8.1f}ms"
              f"{max(cold) * 1000:>8.1f}ms{statistics.median(warm) * 1000:>8.1f}ms{p95 * 1000:>8.1f}ms")
    print(f"worst warm p95: {worst * 1000:.1f} ms (target < 200 ms)")
    service_context(app).close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`/ide/context` latency on a large ingested repository, under real gunicorn (`make bench-ide`).

Uses a SQLite data directory that already holds the repository (default: the one
`make bench-ingest` fills, name "bench"); creates a viewer and a read token there, starts the
ide service with two gevent workers, and asks for the context of N files: the most changed
ones and a deterministic sample of the rest. Reports the first request per file (cold:
per-file queries run, repository-wide aggregates already cached) and, after two warm-up
passes, the warm latency over several rounds. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "shared" / "tests"), str(ROOT)]

from ades.analytics import file_change_counts  # noqa: E402
from ades.hardening import tokens, users  # noqa: E402
from ades.storage import open_store  # noqa: E402
from ades.storage.repositories import get_repository  # noqa: E402
from service_runner import http, run_service  # noqa: E402

BENCH_USER = "ide-bench"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _row(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"| {label:<34} | {len(ms):>6} | {statistics.median(ms):>7.1f} | "
            f"{_percentile(ms, 0.95):>7.1f} | {_percentile(ms, 0.99):>7.1f} | {max(ms):>7.1f} |")


def main() -> int:
    """Set up the token, run the service, time the requests, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / ".work" / "sqlite-data"),
                        help="GAIT_DATA_DIR holding ades.db with the repository")
    parser.add_argument("--name", default="bench", help="repository name")
    parser.add_argument("--files", type=int, default=200, help="files to ask about")
    parser.add_argument("--rounds", type=int, default=5, help="warm rounds over all files")
    args = parser.parse_args()

    store = open_store(f"sqlite:///{Path(args.data_dir) / 'ades.db'}")
    try:
        repo = get_repository(store, args.name)
        if repo is None:
            print(f"no repository {args.name!r} in {args.data_dir}; run make bench-ingest first",
                  file=sys.stderr)
            return 2
        if users.get_user(store, BENCH_USER) is None:
            users.create_user(store, BENCH_USER, secrets.token_urlsafe(24), "viewer")
        meta, token = tokens.create_token(store, BENCH_USER, "read", "ide latency benchmark")
        counts = file_change_counts(store, repo.id)
    finally:
        store.close()
    top = [p for p, _ in counts[: args.files // 2]]
    rest = [p for p, n in counts[args.files // 2:] if n >= 2]
    paths = top + random.Random(5).sample(rest, min(len(rest), args.files - len(top)))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def ask(url: str, path: str) -> float:
        body = json.dumps({"repo": repo.name, "path": path}).encode()
        started = time.perf_counter()
        response = http("POST", f"{url}/ide/context", headers=headers, body=body, timeout=60)
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"/ide/context {path}: {response.status} {response.body[:200]!r}")
        return elapsed

    with tempfile.TemporaryDirectory() as tmp, run_service(
            "ide", Path(tmp), workers=2,
            # The benchmark is one client sending thousands of requests: lift the limiter.
            env={"GAIT_DATA_DIR": args.data_dir, "GAIT_RATE_LIMIT": "1000000/minute"}) as service:
        ask(service.url, paths[0])  # opens both stores' caches of repository-wide numbers
        ask(service.url, paths[0])
        cold = [ask(service.url, p) for p in paths]
        for _ in range(2):
            for p in paths:
                ask(service.url, p)
        warm = [ask(service.url, p) for _ in range(args.rounds) for p in paths]
    store = open_store(f"sqlite:///{Path(args.data_dir) / 'ades.db'}")
    try:
        tokens.revoke_token(store, meta.id)
    finally:
        store.close()

    print(f"\n/ide/context on {repo.name}: {repo.commit_count} commits, {len(counts)} files; "
          f"{len(paths)} files asked about (gunicorn, 2 gevent workers, SQLite)\n")
    print(f"| {'requests':<34} | {'n':>6} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} | "
          f"{'max ms':>7} |")
    print(f"|{'-' * 36}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    print(_row("first request per file (cold)", cold))
    print(_row(f"warm ({args.rounds} rounds)", warm))
    print(f"\nwarm p95 {_percentile(warm, 0.95) * 1000:.1f} ms (floor: < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

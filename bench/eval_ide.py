"""Replay evaluation of `/ide/context`'s co-change predictions (`make eval-ide REPO=path`).

The repository is ingested (or brought up to date) once. Then its last 10% of commits are
replayed in commit order: for each replayed non-merge commit changing 2 to 50 files, and
each file f in it, the files that actually changed with f are the truth, and three
predictors name 5 files using only the history stored before that commit:

- ades: the `co_changes` section of `/ide/context` (`ades.assist.context.coupled_files`,
  the same function, restricted to commit ids below the replayed one);
- most-changed: the files changed most often so far (baseline 1);
- same-directory: the files of f's directory changed most often so far (baseline 2).

recall@5 = |predicted ∩ truth| / |truth| and precision@5 = |predicted ∩ truth| / 5, averaged
over all (commit, file) queries. The floor: ades recall@5 >= 1.5x the better baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))

from ades.analytics import MAX_COUPLING_COMMIT_FILES  # noqa: E402
from ades.assist.context import coupled_files  # noqa: E402
from ades.mining.ingest import ingest_repository  # noqa: E402
from ades.storage import open_store  # noqa: E402
from ades.storage.repositories import get_repository  # noqa: E402

K = 5
FLOOR = 1.5


def _directory(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _top(counter: Counter, exclude: str) -> list[str]:
    return [p for p, _ in counter.most_common(K + 1) if p != exclude][:K]


def evaluate(store, repo_id: int, replay_share: float = 0.1,
             max_commits: int | None = None) -> dict[str, dict[str, float]]:
    """Replay the last `replay_share` of the commits; returns per-method mean recall@5,
    precision@5 and the number of queries."""
    ids = [i for (i,) in store.query("SELECT id FROM commits WHERE repo_id = ? ORDER BY id",
                                     (repo_id,))]
    first = ids[int(len(ids) * (1 - replay_share))]
    files_of: dict[int, list[str]] = defaultdict(list)
    overall: Counter = Counter()
    by_directory: dict[str, Counter] = defaultdict(Counter)
    for commit_id, path in store.query(
            "SELECT commit_id, path FROM file_changes WHERE repo_id = ? ORDER BY commit_id",
            (repo_id,)):
        if commit_id < first:
            overall[path] += 1
            by_directory[_directory(path)][path] += 1
        else:
            files_of[commit_id].append(path)
    merges = {i for (i,) in store.query(
        "SELECT id FROM commits WHERE repo_id = ? AND id >= ? AND is_merge = 1", (repo_id, first))}
    sums = {m: {"recall": 0.0, "precision": 0.0} for m in ("ades", "most-changed", "same-directory")}
    queries = replayed = 0
    started = time.monotonic()
    for commit_id in (i for i in ids if i >= first):
        files = sorted(set(files_of.get(commit_id, ())))
        if commit_id not in merges and 2 <= len(files) <= MAX_COUPLING_COMMIT_FILES:
            replayed += 1
            for path in files:
                truth = set(files) - {path}
                predictions = {
                    "ades": [c["path"] for c in coupled_files(store, repo_id, path, limit=K,
                                                              before=commit_id)],
                    "most-changed": _top(overall, path),
                    "same-directory": _top(by_directory[_directory(path)], path),
                }
                for method, predicted in predictions.items():
                    hits = len(truth.intersection(predicted[:K]))
                    sums[method]["recall"] += hits / len(truth)
                    sums[method]["precision"] += hits / K
                queries += 1
            if max_commits and replayed >= max_commits:
                break
        for path in files:
            overall[path] += 1
            by_directory[_directory(path)][path] += 1
    seconds = time.monotonic() - started
    return {method: {"recall@5": s["recall"] / max(queries, 1),
                     "precision@5": s["precision"] / max(queries, 1),
                     "queries": queries, "commits": replayed, "seconds": seconds}
            for method, s in sums.items()}


def main() -> int:
    """Parse arguments, ingest, replay, print the table; exit 1 when the floor is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repo", help="path to the git repository to evaluate on")
    parser.add_argument("--database", default=f"sqlite:///{ROOT}/bench/.work/ide-eval/ades.db",
                        help="database URL (default: a SQLite file under bench/.work/ide-eval)")
    parser.add_argument("--name", default=None, help="repository name in the database")
    parser.add_argument("--no-ingest", action="store_true",
                        help="use the repository as already stored under --name")
    parser.add_argument("--max-commits", type=int, default=None,
                        help="stop after this many replayed commits (quick runs)")
    args = parser.parse_args()
    if args.database.startswith("sqlite:///"):
        Path(args.database.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(args.database)
    try:
        if not args.no_ingest:
            started = time.monotonic()
            result = ingest_repository(store, args.repo, name=args.name)
            print(f"ingest: {result.repository} up to date ({result.new_commits} new commits) "
                  f"in {time.monotonic() - started:.1f} s")
            name = result.repository
        else:
            name = args.name or Path(args.repo.rstrip("/")).name.removesuffix(".git")
        repo = get_repository(store, name)
        if repo is None:
            print(f"no repository named {name!r} in {args.database}", file=sys.stderr)
            return 2
        table = evaluate(store, repo.id, max_commits=args.max_commits)
    finally:
        store.close()
    ades = table["ades"]
    best_name, best = max(((m, r) for m, r in table.items() if m != "ades"),
                          key=lambda item: item[1]["recall@5"])
    print(f"\nrepository {repo.name}: {repo.commit_count} commits; replayed the last 10%: "
          f"{ades['commits']} commits with 2-{MAX_COUPLING_COMMIT_FILES} files, "
          f"{ades['queries']} (commit, file) queries in {ades['seconds']:.1f} s\n")
    print(f"| {'method':<16} | {'recall@5':>8} | {'precision@5':>11} |")
    print(f"|{'-' * 18}|{'-' * 10}|{'-' * 13}|")
    for method, row in table.items():
        print(f"| {method:<16} | {row['recall@5']:>8.3f} | {row['precision@5']:>11.3f} |")
    ratio = ades["recall@5"] / best["recall@5"] if best["recall@5"] else float("inf")
    met = ratio >= FLOOR
    print(f"\nades recall@5 / best baseline ({best_name}) = {ratio:.2f}x "
          f"(floor {FLOOR}x: {'met' if met else 'MISSED'})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

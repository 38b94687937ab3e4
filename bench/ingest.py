"""make bench-ingest REPO=path — ingest throughput against git's own floor and PyDriller.

In one run, on the same repository: `git log -p` alone (the physical floor: git producing
every patch, read and discarded), `ades ingest` into a fresh SQLite database, `ades ingest`
into a fresh PostgreSQL database, a re-ingest of the up-to-date repository, and PyDriller
traversing commits with their modified files. PyDriller is installed only for this benchmark
in its own virtualenv under bench/.work; being 20-30x slower than git, it is timed on the
first --pydriller-commits commits of the same history and compared in commits/s.
Prints commits/s and the ratios; it is a benchmark, not a test, and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import PYTHON, WORK, fresh_postgres_database, mb, run_measured


def git_log_floor(repo: str) -> float:
    """Seconds for `git log -p` over the whole history, its output read and discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(["git", "-C", repo, "log", "-p"], stdout=subprocess.PIPE)
    while proc.stdout.read(1 << 20):
        pass
    proc.wait()
    return time.perf_counter() - started


PYDRILLER_SCRIPT = """
import sys, time
from pydriller import Repository
repo, limit = sys.argv[1], int(sys.argv[2])
started = time.perf_counter(); n = 0
for commit in Repository(repo, order="reverse").traverse_commits():
    for m in commit.modified_files:
        m.added_lines, m.deleted_lines, m.filename
    n += 1
    if n >= limit:
        break
print(n, time.perf_counter() - started)
"""


def pydriller_rate(repo: str, limit: int) -> tuple[int, float] | None:
    """(commits, seconds) for PyDriller over the first `limit` commits of `repo`, or None
    (with the reason printed) when PyDriller cannot read it (a bare mirror, for one)."""
    venv = WORK / "venv-pydriller"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "pydriller"], check=True)
    bare = subprocess.run(["git", "-C", repo, "rev-parse", "--is-bare-repository"],
                          capture_output=True, text=True).stdout.strip() == "true"
    if bare:  # GitPython, under PyDriller, reads only repositories with a .git directory
        clone = WORK / "pydriller-clone"
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", repo, str(clone)],
                       check=True)
        repo = str(clone)
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", PYDRILLER_SCRIPT, repo, str(limit)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        reason = ([line.strip() for line in proc.stderr.splitlines() if line.strip()]
                  or ["no output"])[-1]
        print(f"  PyDriller: could not read the repository ({reason}); its column is left out",
              flush=True)
        return None
    out = proc.stdout.split()
    return int(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo")
    parser.add_argument("--pydriller-commits", type=int, default=2000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    repo = str(Path(args.repo).resolve())
    commits = int(subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"],
                                 check=True, capture_output=True, text=True).stdout)
    print(f"repository: {repo} ({commits} commits)", flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []

    floor = git_log_floor(repo)
    rows.append(("git log -p (floor)", commits, floor, None))
    print(f"  git log -p: {floor:.1f}s", flush=True)

    data = WORK / "sqlite-data"
    shutil.rmtree(data, ignore_errors=True)
    cmd = [PYTHON, "-m", "ades", "ingest", repo, "--name", "bench", "--json"]
    sqlite = run_measured(cmd, {"GAIT_DATA_DIR": str(data)})
    rows.append(("ades ingest → SQLite", commits, sqlite["seconds"], sqlite["peak_rss"]))
    print(f"  sqlite: {sqlite['seconds']:.1f}s", flush=True)
    again = run_measured(cmd, {"GAIT_DATA_DIR": str(data)})
    rows.append(("ades re-ingest, up to date (SQLite)", 0, again["seconds"], again["peak_rss"]))
    assert json.loads(again["stdout"])["new_commits"] == 0

    if not args.skip_postgres:
        url, drop = fresh_postgres_database()
        try:
            pg = run_measured(cmd, {"GAIT_DATA_DIR": str(WORK / "pg-data"), "GAIT_POSTGRES_URL": url})
            rows.append(("ades ingest → PostgreSQL", commits, pg["seconds"], pg["peak_rss"]))
            print(f"  postgres: {pg['seconds']:.1f}s", flush=True)
            again = run_measured(cmd, {"GAIT_DATA_DIR": str(WORK / "pg-data"),
                                       "GAIT_POSTGRES_URL": url})
            rows.append(("ades re-ingest, up to date (PostgreSQL)", 0, again["seconds"],
                         again["peak_rss"]))
        finally:
            drop()

    pydriller = pydriller_rate(repo, args.pydriller_commits)
    if pydriller is not None:
        n, secs = pydriller
        rows.append((f"PyDriller (first {n} commits)", n, secs, None))

    floor_rate = commits / floor
    pyd_rate = pydriller[0] / pydriller[1] if pydriller else None
    print()
    print(f"{'run':42s} {'commits':>8s} {'seconds':>9s} {'commits/s':>10s} "
          f"{'x git log -p':>12s} {'x PyDriller':>11s} {'peak RSS (py)':>14s}")
    for name, count, seconds, rss in rows:
        rate = count / seconds if count else 0.0
        ratio = f"{rate / floor_rate:.2f}" if count else "-"
        vs_pyd = f"{rate / pyd_rate:.1f}" if count and pyd_rate else "-"
        peak = f"{mb(rss['python'])}" if rss else "-"
        print(f"{name:42s} {count:8d} {seconds:9.2f} {rate:10.0f} {ratio:>12s} {vs_pyd:>11s} "
              f"{peak:>14s}")


if __name__ == "__main__":
    main()

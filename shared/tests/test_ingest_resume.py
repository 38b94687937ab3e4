"""Ingestion survives kill -9 at any moment: a re-run ends equal to a clean ingest."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from ades.storage import open_store
from ades.storage.locks import repository_lock
from ades.storage.repositories import register_repository
from gitrepos import make_linear_repo
from history_snapshot import snapshot_history


def _database_url(env: dict[str, str]) -> str:
    if "GAIT_POSTGRES_URL" in env:
        return env["GAIT_POSTGRES_URL"]
    return f"sqlite:///{env['GAIT_DATA_DIR']}/ades.db"


def _ingest(repo, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "ades", "ingest", str(repo), "--name", "r",
                             "--no-progress"], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


# Above ades.mining.ingest.PARALLEL_THRESHOLD, so the worker-process path is killed too.
COMMITS = 6000


@pytest.fixture(scope="module")
def linear_repo(tmp_path_factory):
    return make_linear_repo(tmp_path_factory.mktemp("linear") / "repo", commits=COMMITS)


@pytest.fixture(scope="module")
def clean_snapshot(linear_repo, tmp_path_factory):
    data = tmp_path_factory.mktemp("clean")
    env = {"GAIT_DATA_DIR": str(data)}
    proc = _ingest(linear_repo, env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    with open_store(f"sqlite:///{data}/ades.db") as store:
        return snapshot_history(store, "r")


def _stored(url: str) -> int:
    try:
        with open_store(url, migrate=False) as store:
            return store.query_one("SELECT COUNT(*) FROM commits")[0]
    except Exception:  # the database or its tables may not exist yet
        return 0


def _kill_when(proc, url: str, target: int, jitter: float) -> bool:
    """SIGKILL `proc` once `target` commits are stored (plus a random delay); False if it
    finished first."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _stored(url) >= target:
            time.sleep(jitter)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                return True
            return False
        time.sleep(0.01)
    return False


def test_kill_9_at_random_moments_then_rerun_equals_a_clean_ingest(
        linear_repo, clean_snapshot, ades_env):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = {**ades_env, "GAIT_INGEST_BATCH_SIZE": "40"}
    url = _database_url(ades_env)
    kills = []
    # One kill before anything can be stored, then kills at random points of the history.
    proc = _ingest(linear_repo, env)
    time.sleep(rng.uniform(0.0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    for _ in range(4):
        stored = _stored(url)
        target = stored + rng.randint(1, max(1, (COMMITS - stored) // 3))
        proc = _ingest(linear_repo, env)
        if _kill_when(proc, url, target, rng.uniform(0.0, 0.05)):
            kills.append(_stored(url))
        proc.communicate(timeout=60)
    proc = _ingest(linear_repo, env)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"seed={seed}: {err.decode()}"
    assert len(kills) >= 3, f"seed={seed}: only {len(kills)} kills landed mid-ingest"
    assert 0 < kills[0] < COMMITS, f"seed={seed}: kills at {kills}"
    with open_store(url) as store:
        snap = snapshot_history(store, "r")
    for table, rows in clean_snapshot.items():
        if table.startswith("search_index") and table not in snap:
            continue
        assert len(snap[table]) == len(rows), f"seed={seed}: {table} row count differs"
        assert snap[table] == rows, f"seed={seed}: {table} differs"


def test_an_ingest_is_refused_while_another_holds_the_repository(linear_repo, ades_env):
    with open_store(_database_url(ades_env)) as store:
        repo = register_repository(store, "r", str(linear_repo))
        with repository_lock(store, repo.id):
            result = subprocess.run(
                [sys.executable, "-m", "ades", "ingest", str(linear_repo), "--name", "r"],
                env={**os.environ, **ades_env}, capture_output=True, timeout=120)
        assert result.returncode != 0
        assert result.stderr.decode().count("\n") == 1
        assert "another ingest" in result.stderr.decode()
        assert store.query("SELECT COUNT(*) FROM commits") == [(0,)]


def test_a_cancelled_parallel_ingest_leaves_no_thread_or_process_behind(linear_repo, tmp_path):
    """A long-running `ades worker` runs many ingests in one process: one that ends early
    (cancelled here; failing is the same path) must not leave a queue feeder thread blocked
    on a pipe nobody reads, nor a shard process."""
    import multiprocessing
    import threading

    from ades.mining.ingest import IngestCancelled, ingest_repository

    before = {t.ident for t in threading.enumerate()}
    with open_store(f"sqlite:///{tmp_path}/ades.db") as store, pytest.raises(IngestCancelled):
        ingest_repository(store, str(linear_repo), name="r", shards=2, batch_size=50,
                          should_stop=lambda: True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not left and not multiprocessing.active_children():
            break
        time.sleep(0.1)
    assert [t.name for t in left] == []
    assert multiprocessing.active_children() == []

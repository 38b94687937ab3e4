"""Ingest jobs and `ades worker`: claiming, leases, cancellation, two workers at once, and a
worker killed mid-job whose job another worker finishes with the same data as a clean ingest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from ades import jobs
from ades.storage import open_store
from ades.storage.repositories import register_repository
from gitrepos import make_linear_repo, make_realistic_repo
from service_runner import wait_until

ADES = [sys.executable, "-m", "ades"]


@pytest.fixture
def store(backend, tmp_path, request):
    url = (request.getfixturevalue("postgres_url") if backend == "postgres"
           else f"sqlite:///{tmp_path / 'ades.db'}")
    with open_store(url) as opened:
        yield opened


def test_a_queued_job_is_claimed_once_and_its_lease_is_renewed(store):
    repo = register_repository(store, "r", "/nowhere")
    job = jobs.enqueue_ingest(store, repo.id)
    assert jobs.enqueue_ingest(store, repo.id).id == job.id  # a waiting job is reused
    claimed = jobs.claim_job(store, "w1", lease_seconds=30)
    assert claimed.id == job.id and claimed.status == "running" and claimed.attempts == 1
    assert jobs.claim_job(store, "w2", lease_seconds=30) is None
    assert jobs.renew_lease(store, job.id, "w1") and not jobs.renew_lease(store, job.id, "w2")
    jobs.record_progress(store, job.id, "w1", 5, 10)
    assert jobs.get_job(store, job.id).to_dict()["progress"] == {"done": 5, "total": 10, "percent": 50.0}
    assert jobs.finish_job(store, job.id, "w1", "succeeded", result={"new_commits": 10})
    assert not jobs.finish_job(store, job.id, "w1", "failed")
    assert jobs.get_job(store, job.id).result == {"new_commits": 10}


def test_a_job_whose_lease_ran_out_is_claimed_again_by_another_worker(store):
    repo = register_repository(store, "r", "/nowhere")
    job = jobs.enqueue_ingest(store, repo.id)
    jobs.claim_job(store, "dead", lease_seconds=0.01)
    time.sleep(0.05)
    again = jobs.claim_job(store, "alive", lease_seconds=30)
    assert again.id == job.id and again.worker == "alive" and again.attempts == 2
    assert not jobs.finish_job(store, job.id, "dead", "succeeded")


def test_cancelling_a_queued_job_ends_it_and_a_running_one_is_asked_to_stop(store):
    repo = register_repository(store, "r", "/nowhere")
    queued = jobs.enqueue_ingest(store, repo.id)
    assert jobs.cancel_job(store, queued.id).status == "cancelled"
    running = jobs.enqueue_ingest(store, repo.id)
    jobs.claim_job(store, "w1")
    assert jobs.cancel_job(store, running.id).cancel_requested
    assert not jobs.renew_lease(store, running.id, "w1")


def test_the_worker_fails_a_job_for_a_path_that_is_no_repository(store, tmp_path):
    from ades.config import load_config
    from ades.worker import run_worker

    repo = register_repository(store, "r", str(tmp_path))
    job = jobs.enqueue_ingest(store, repo.id)
    config = load_config(overrides={"server": {"data_dir": str(tmp_path / "data")}}, environ={})
    assert run_worker(store, config, once=True) == 1
    ended = jobs.get_job(store, job.id)
    assert ended.status == "failed" and "not a git repository" in ended.error


def _snapshot(store, name: str) -> dict:
    repo_id = store.query_one("SELECT id FROM repositories WHERE name = ?", (name,))[0]
    commits = sorted(store.query(
        "SELECT hash, parents, category, files_changed, lines_added, lines_deleted FROM commits "
        "WHERE repo_id = ?", (repo_id,)))
    counts = {t: store.query_one(f"SELECT COUNT(*) FROM {t} WHERE repo_id = ?", (repo_id,))[0]
              for t in ("file_changes", "experiences", "pattern_occurrences")}
    return {"commits": commits, **counts}


def _clean_snapshot(tmp_path, path, name) -> dict:
    from ades.mining.ingest import ingest_repository

    with open_store(f"sqlite:///{tmp_path / 'clean.db'}") as clean:
        ingest_repository(clean, str(path), name=name, shards=1)
        return _snapshot(clean, name)


def _worker(env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*ADES, "worker", "--poll-seconds", "0.1", *extra],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_two_workers_ingest_two_repositories_at_once(postgres_url, tmp_path):
    env = {"GAIT_POSTGRES_URL": postgres_url, "GAIT_DATA_DIR": str(tmp_path / "data"),
           "GAIT_INGEST_BATCH_SIZE": "25", "GAIT_INGEST_SHARDS": "1"}
    paths = {"one": make_linear_repo(tmp_path / "one", 400, seed=1),
             "two": make_realistic_repo(tmp_path / "two")}
    with open_store(postgres_url) as store:
        queued = {name: jobs.enqueue_ingest(store, register_repository(store, name, str(p)).id)
                  for name, p in paths.items()}
        workers = [_worker(env), _worker(env)]
        try:
            ended = wait_until(lambda: all(jobs.get_job(store, j.id).finished for j in queued.values())
                          and [jobs.get_job(store, j.id) for j in queued.values()], 120)
        finally:
            for proc in workers:
                _stop(proc)
        assert [j.status for j in ended] == ["succeeded", "succeeded"]
        assert ended[0].worker != ended[1].worker
        for name, path in paths.items():
            assert _snapshot(store, name) == _clean_snapshot(tmp_path / name, path, name)


def test_a_worker_killed_mid_job_leaves_it_to_another_that_finishes_it_like_a_clean_ingest(
        postgres_url, tmp_path):
    env = {"GAIT_POSTGRES_URL": postgres_url, "GAIT_DATA_DIR": str(tmp_path / "data"),
           "GAIT_INGEST_BATCH_SIZE": "20", "GAIT_INGEST_SHARDS": "1"}
    path = make_linear_repo(tmp_path / "big", 1500, seed=3)
    with open_store(postgres_url) as store:
        job = jobs.enqueue_ingest(store, register_repository(store, "big", str(path)).id)
        first = _worker(env, "--lease-seconds", "2")
        try:
            wait_until(lambda: jobs.get_job(store, job.id).done >= 100, 120)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        killed_at = jobs.get_job(store, job.id)
        assert killed_at.status == "running" and killed_at.done < 1500
        second = _worker(env, "--lease-seconds", "2")
        try:
            ended = wait_until(lambda: (j := jobs.get_job(store, job.id)).finished and j, 120)
        finally:
            _stop(second)
        assert ended.status == "succeeded" and ended.attempts == 2 and ended.worker != killed_at.worker
        assert ended.result["new_commits"] < 1500  # the second worker resumed, it did not start over
        assert _snapshot(store, "big") == _clean_snapshot(tmp_path, path, "big")


def test_the_worker_publishes_progress_and_the_end_of_an_ingest_on_the_repository_channel(
        store, tmp_path):
    import json

    import redis
    from ades.config import load_config
    from ades.worker import run_worker

    url = os.environ.get("ADES_TEST_REDIS_URL")
    if not url:
        pytest.fail("ADES_TEST_REDIS_URL is not set: this test needs a real Redis")
    client = redis.Redis.from_url(url)
    name = f"events-{os.getpid()}-{store.dialect}"
    path = make_realistic_repo(tmp_path / name)
    job = jobs.enqueue_ingest(store, register_repository(store, name, str(path)).id)
    subscription = client.pubsub()
    subscription.subscribe(jobs.event_channel(name))
    try:
        assert subscription.get_message(timeout=5)["type"] == "subscribe"
        config = load_config(overrides={"server": {"data_dir": str(tmp_path / "data")},
                                        "performance": {"ingest_batch_size": 10}}, environ={})
        run_worker(store, config, redis_client=client, once=True)
        events = []
        while (message := subscription.get_message(timeout=2)) is not None:
            events.append(json.loads(message["data"]))
    finally:
        subscription.close()
        client.close()
    assert {e["type"] for e in events} == {"ingest.progress", "ingest.finished"}
    assert all(e["v"] == 1 and e["repo"] == name and e["job"] == job.id for e in events)
    assert events[-1]["type"] == "ingest.finished" and events[-1]["done"] == events[-1]["total"]
    assert {"done", "total"} <= set(events[0])


def test_sigterm_stops_the_worker_between_batches_and_puts_its_job_back_in_the_queue(
        postgres_url, tmp_path):
    env = {"GAIT_POSTGRES_URL": postgres_url, "GAIT_DATA_DIR": str(tmp_path / "data"),
           "GAIT_INGEST_BATCH_SIZE": "20", "GAIT_INGEST_SHARDS": "1"}
    path = make_linear_repo(tmp_path / "big", 1500, seed=5)
    with open_store(postgres_url) as store:
        job = jobs.enqueue_ingest(store, register_repository(store, "big", str(path)).id)
        worker = _worker(env)
        try:
            wait_until(lambda: jobs.get_job(store, job.id).done >= 40, 120)
            os.killpg(worker.pid, signal.SIGTERM)
            assert worker.wait(30) == 0
        finally:
            _stop(worker)
        stopped = jobs.get_job(store, job.id)
        assert stopped.status == "queued" and stopped.worker is None and stopped.done < 1500
        assert jobs.claim_job(store, "next").id == job.id

"""`ades worker` serves its own /metrics: the ingest metrics of the jobs it ran, its memory
and process metrics, and nothing the services own. A real worker process ingests a real
repository; the listener is scraped over HTTP, with and without a multiprocess directory.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from ades import jobs
from ades.storage import open_store
from ades.storage.repositories import register_repository
from gitrepos import make_linear_repo
from pgserver import free_port

COMMITS = 30


def _env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GAIT_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(GAIT_DATA_DIR=str(tmp_path / "data"), GAIT_INGEST_SHARDS="1", **extra)
    return env


def _start(env: dict[str, str], *extra: str, log=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ades", "worker", "--poll-seconds", "0.1", *extra],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def _scrape(port: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _get(f"http://127.0.0.1:{port}/metrics")[1]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _sample(text: str, name: str, labels: str = "") -> float | None:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, flags=re.M)
    return float(match.group(1)) if match else None


def _register(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'data' / 'ades.db'}"
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    repo_path = make_linear_repo(tmp_path / "repo", COMMITS, files=10)
    with open_store(url) as store:
        register_repository(store, "metered", str(repo_path))
    return url


def _enqueue(url: str) -> int:
    with open_store(url) as store:
        repo_id = store.query_one("SELECT id FROM repositories WHERE name = 'metered'")[0]
        return jobs.enqueue_ingest(store, repo_id).id


def _queue_ingest(tmp_path) -> tuple[str, int]:
    url = _register(tmp_path)
    return url, _enqueue(url)


def _wait_for_job(url: str, job_id: int, timeout: float = 120) -> jobs.Job:
    deadline = time.monotonic() + timeout
    with open_store(url) as store:
        while time.monotonic() < deadline:
            job = jobs.get_job(store, job_id)
            if job.finished:
                return job
            time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


@pytest.mark.parametrize("multiprocess", [False, True], ids=["own-registry", "multiprocess-dir"])
def test_the_worker_serves_the_ingest_metrics_of_its_jobs(tmp_path, multiprocess):
    url = _register(tmp_path)
    port = free_port()
    extra = {"GAIT_METRICS_PORT": str(port)}
    if multiprocess:
        (tmp_path / "multiproc").mkdir()
        extra["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "multiproc")
    worker = _start(_env(tmp_path, **extra))
    try:
        assert _sample(_scrape(port), "ades_commits_analyzed_total") == 0
        assert _wait_for_job(url, _enqueue(url)).status == "succeeded"
        text = _scrape(port)
        with open_store(url) as store:
            patterns = store.query_one("SELECT COUNT(*) FROM pattern_occurrences")[0]
        assert _sample(text, "ades_commits_analyzed_total") == COMMITS
        assert _sample(text, "ades_patterns_extracted_total") == patterns
        assert _sample(text, "ades_ingest_duration_seconds_count", '{outcome="succeeded"}') == 1
        assert 0 < _sample(text, "ades_memory_used_percent") <= 100
        assert _sample(text, "process_resident_memory_bytes") > 0
        # Gauges only the services set are not exported as misleading zeros.
        assert "ades_active_user_sessions" not in text and "ades_db_pool_size" not in text

        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, '{"status": "ok"}')
        status, body = _get(f"http://127.0.0.1:{port}/api/health")
        assert status == 404 and "error" in json.loads(body)
        if multiprocess:
            assert list((tmp_path / "multiproc").glob("*.db"))
    finally:
        assert _stop(worker) == 0
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/metrics")  # the listener stopped with the worker


def test_a_taken_port_is_reported_and_the_worker_still_runs_its_jobs(tmp_path):
    url, job_id = _queue_ingest(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 -- closed below
        try:
            worker = _start(_env(tmp_path, GAIT_METRICS_PORT=str(port)), "--once", log=log)
            assert worker.wait(120) == 0
        finally:
            log.close()
    output = (tmp_path / "worker.log").read_text()
    assert f"worker metrics listener not started on 127.0.0.1:{port}" in output
    assert "GAIT_METRICS_PORT" in output
    assert _wait_for_job(url, job_id, timeout=5).status == "succeeded"


def test_metrics_can_be_switched_off(tmp_path):
    url, job_id = _queue_ingest(tmp_path)
    port = free_port()
    worker = _start(_env(tmp_path, GAIT_METRICS_PORT=str(port), GAIT_ENABLE_METRICS="false"))
    try:
        # Once the worker has run a job it is fully started, and still nothing listens.
        assert _wait_for_job(url, job_id).status == "succeeded"
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        assert _stop(worker) == 0

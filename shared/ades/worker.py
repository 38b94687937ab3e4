"""`ades worker`: the process that runs ingest jobs outside the web workers.

The loop claims a job (see `ades.jobs`), runs it, and polls again; any number of workers
may share a PostgreSQL database (on SQLite, run one). While a job runs, a heartbeat thread
renews its lease and notices cancellation; a worker killed outright simply stops renewing,
and another worker resumes the job once the lease expires. SIGTERM and SIGINT stop the
worker between two batches and put its job back in the queue.

Losing the database does not end the worker: a job whose database goes away mid-ingest is
neither failed nor abandoned — the worker waits for the database to answer again, puts the
job back in the queue and claims it again, and the ingest resumes after its last committed
batch. An idle worker likewise waits out an outage instead of exiting.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from . import jobs
from .config import Config
from .storage import DatabaseUnavailable, StorageError, Store

log = logging.getLogger("ades.worker")

PROGRESS_INTERVAL_SECONDS = 0.5
# Waiting for a lost database: first retry after this long, doubling up to the maximum.
DATABASE_RETRY_SECONDS = 0.5
DATABASE_RETRY_MAX_SECONDS = 5.0


class _JobRun:
    """The state of one job in progress: its heartbeat, throttled progress and stop flag."""

    def __init__(self, store: Store, job: jobs.Job, worker: str, redis_client: Any,
                 lease_seconds: float, shutdown: threading.Event) -> None:
        self.store, self.job, self.worker = store, job, worker
        self.redis, self.lease_seconds, self.shutdown = redis_client, lease_seconds, shutdown
        self.lost = threading.Event()      # the lease is gone or cancellation was asked
        self.finished = threading.Event()
        self.last_write = 0.0
        self.done, self.total = job.done, job.total
        self.heartbeat = threading.Thread(target=self._beat, name=f"lease-{job.id}", daemon=True)

    def _beat(self) -> None:
        interval = max(0.2, self.lease_seconds / 3)
        while not self.finished.wait(interval):
            try:
                if not jobs.renew_lease(self.store, self.job.id, self.worker,
                                        lease_seconds=self.lease_seconds):
                    self.lost.set()
            except Exception as exc:  # noqa: BLE001 — a missed beat is retried next interval
                log.warning("cannot renew the lease of job %s: %s", self.job.id, exc)

    def should_stop(self) -> bool:
        """Polled by the ingest between batches."""
        return self.lost.is_set() or self.shutdown.is_set()

    def progress(self, done: int, total: int) -> None:
        """Record progress in the job row (at most twice a second) and publish it."""
        self.done, self.total = done, total
        now = time.monotonic()
        if now - self.last_write < PROGRESS_INTERVAL_SECONDS and done < total:
            return
        self.last_write = now
        jobs.record_progress(self.store, self.job.id, self.worker, done, total)
        jobs.publish_event(self.redis, self.job.repository, "ingest.progress", self.job.id,
                           done, total)


def run_job(store: Store, config: Config, job: jobs.Job, worker: str, *, redis_client: Any = None,
            lease_seconds: float = jobs.DEFAULT_LEASE_SECONDS,
            shutdown: threading.Event | None = None) -> str:
    """Run one claimed job to its end; returns the status it ended with, `released` when it
    was handed back (shutdown, lost lease, or another ingest of the repository), or
    `requeued` when the database went away and the job waits in the queue to be resumed."""
    from .metrics import observe_ingest_duration, record_commits_analyzed, record_patterns_extracted
    from .mining.gitrepo import open_repository
    from .mining.ingest import IngestCancelled, ingest_repository
    from .mining.remote import mirror_repository
    from .optimizer import invalidate_repository
    from .storage.locks import IngestBusy

    run = _JobRun(store, job, worker, redis_client, lease_seconds, shutdown or threading.Event())
    run.heartbeat.start()
    started = time.monotonic()
    try:
        row = store.query_one("SELECT path, url FROM repositories WHERE id = ?", (job.repo_id,))
        path, url = row if row else (None, None)
        if path is None:
            jobs.finish_job(store, job.id, worker, "failed", error="the repository was deleted")
            return "failed"
        if url:
            mirror_repository(url, config.data_dir / "repos" / f"{job.repository}.git",
                              config.server.allowed_url_schemes)
        git = open_repository(path)
        patterns_before = _pattern_count(store, job.repo_id)
        result = ingest_repository(store, git.path, name=job.repository, url=url, repo=git,
                                   progress=run.progress, should_stop=run.should_stop,
                                   batch_size=config.performance.ingest_batch_size,
                                   shards=config.performance.ingest_shards)
    except IngestCancelled:
        return _stopped(run, time.monotonic() - started)
    except IngestBusy as exc:
        _release(store, job.id, worker)
        log.info("job %s handed back: %s", job.id, exc)
        return "released"
    except DatabaseUnavailable as exc:
        log.warning("job %s (%s): the database went away (%s); resuming once it is back",
                    job.id, job.repository, exc)
        run.finished.set()  # no lease renewals against a database that is not there
        if wait_for_database(store, run.shutdown):
            _release(store, job.id, worker)
        return "requeued"
    except Exception as exc:  # noqa: BLE001 — any failure ends the job with its message
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("job %s (%s) failed: %s", job.id, job.repository, message)
        jobs.finish_job(store, job.id, worker, "failed", error=message)
        jobs.publish_event(redis_client, job.repository, "ingest.failed", job.id, run.done,
                           run.total, error=message)
        observe_ingest_duration(time.monotonic() - started, "failed")
        return "failed"
    finally:
        run.finished.set()
        run.heartbeat.join()
    invalidate_repository(job.repo_id)
    record_commits_analyzed(result.new_commits)
    record_patterns_extracted(_pattern_count(store, job.repo_id) - patterns_before)
    observe_ingest_duration(result.seconds, "succeeded")
    jobs.record_progress(store, job.id, worker, result.new_commits, result.new_commits)
    jobs.finish_job(store, job.id, worker, "succeeded", result=result.to_dict())
    jobs.publish_event(redis_client, job.repository, "ingest.finished", job.id,
                       result.new_commits, result.new_commits, head=result.head,
                       commits=result.total_commits)
    return "succeeded"


def _stopped(run: _JobRun, seconds: float) -> str:
    current = jobs.get_job(run.store, run.job.id)
    if current is not None and current.cancel_requested and current.worker == run.worker:
        from .metrics import observe_ingest_duration

        jobs.finish_job(run.store, run.job.id, run.worker, "cancelled")
        jobs.publish_event(run.redis, run.job.repository, "ingest.failed", run.job.id, run.done,
                           run.total, error="cancelled")
        observe_ingest_duration(seconds, "cancelled")
        return "cancelled"
    _release(run.store, run.job.id, run.worker)
    return "released"


def _release(store: Store, job_id: int, worker: str) -> None:
    """Put a job this worker holds back in the queue (its progress so far is kept)."""
    with store.transaction() as tx:
        tx.execute("UPDATE ingest_jobs SET status = 'queued', worker = NULL, lease_until = NULL "
                   "WHERE id = ? AND worker = ? AND status = 'running'", (job_id, worker))


def wait_for_database(store: Store, shutdown: threading.Event) -> bool:
    """Block until the database answers again (True) or `shutdown` is set (False),
    retrying with a growing pause."""
    pause = DATABASE_RETRY_SECONDS
    while not shutdown.wait(pause):
        try:
            store.ping()
        except StorageError as exc:
            log.info("the database is still unavailable: %s", exc)
            pause = min(pause * 2, DATABASE_RETRY_MAX_SECONDS)
            continue
        log.info("the database is back")
        return True
    return False


def _pattern_count(store: Store, repo_id: int) -> int:
    row = store.query_one("SELECT COUNT(*) FROM pattern_occurrences WHERE repo_id = ?", (repo_id,))
    return int(row[0]) if row else 0


def run_worker(store: Store, config: Config, *, redis_client: Any = None, once: bool = False,
               lease_seconds: float = jobs.DEFAULT_LEASE_SECONDS, poll_seconds: float = 1.0,
               shutdown: threading.Event | None = None,
               on_job: Callable[[jobs.Job, str], None] | None = None) -> int:
    """Claim and run jobs until `shutdown` is set (or, with `once`, until the queue is
    empty). Returns the number of jobs run. `on_job(job, status)` is told of each."""
    shutdown = shutdown or threading.Event()
    worker = jobs.worker_identity()
    count = 0
    log.info("worker %s started", worker)
    while not shutdown.is_set():
        try:
            job = jobs.claim_job(store, worker, lease_seconds=lease_seconds)
        except DatabaseUnavailable as exc:
            log.warning("worker %s: the database is unavailable (%s); waiting", worker, exc)
            wait_for_database(store, shutdown)
            continue
        if job is None:
            if once:
                break
            shutdown.wait(poll_seconds)
            continue
        log.info("job %s: ingesting %s (attempt %s)", job.id, job.repository, job.attempts)
        try:
            status = run_job(store, config, job, worker, redis_client=redis_client,
                             lease_seconds=lease_seconds, shutdown=shutdown)
        except DatabaseUnavailable as exc:  # lost while recording the job's end
            log.warning("job %s: the database went away (%s); it will be resumed", job.id, exc)
            if wait_for_database(store, shutdown):
                _release(store, job.id, worker)
            status = "requeued"
        count += 1
        log.info("job %s: %s", job.id, status)
        if status == "released":
            if once:
                break
            # Another process holds the repository (a CLI ingest, say): do not spin on it.
            shutdown.wait(poll_seconds)
        if on_job is not None:
            on_job(job, status)
    return count


def install_signal_handlers(shutdown: threading.Event) -> None:
    """Make SIGTERM and SIGINT set `shutdown` (the worker stops between batches)."""
    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the current batch", signum)
        shutdown.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def redis_for(config: Config) -> Any:
    """A Redis client for `config` (None without `server.redis_url`)."""
    if not config.server.redis_url:
        return None
    import redis

    timeout = config.server.redis_timeout_seconds
    return redis.Redis.from_url(config.server.redis_url, socket_timeout=timeout,
                                socket_connect_timeout=timeout)

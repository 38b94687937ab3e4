"""Ingest jobs: rows in `ingest_jobs` that `ades worker` processes claim, lease and finish.

A job is `queued` until a worker claims it (PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`,
so several workers never take the same row; SQLite: the claim runs inside one
`BEGIN IMMEDIATE` transaction, the database's single writer). A claimed job is `running` and
holds a lease that its worker renews while it works; a worker that dies stops renewing, and
once the lease has run out any worker claims the job again and resumes it — ingestion keeps
what was committed, so the second worker only mines what the first did not store. A job ends
`succeeded`, `failed` (with its error) or `cancelled` (on request, between two batches).

Progress is always written to the job row; with Redis configured it is also published on
`ades:events:repo:<name>` as `{"type": "ingest.progress"|"ingest.finished"|"ingest.failed",
"v": 1, "repo", "job", "done", "total"}` for the collab service to relay.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

from .storage import Store

log = logging.getLogger("ades.jobs")

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")
EVENT_VERSION = 1
DEFAULT_LEASE_SECONDS = 30.0

_COLUMNS = ("j.id, r.name, j.repo_id, j.status, j.reason, j.requested_by, j.created_at, "
            "j.started_at, j.finished_at, j.worker, j.lease_until, j.attempts, "
            "j.cancel_requested, j.done, j.total, j.error, j.result")
_FROM = "FROM ingest_jobs j JOIN repositories r ON r.id = j.repo_id"


@dataclass(frozen=True)
class Job:
    """One ingest job and where it stands."""

    id: int
    repository: str
    repo_id: int
    status: str
    reason: str
    requested_by: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    lease_until: float | None
    attempts: int
    cancel_requested: bool
    done: int
    total: int | None
    error: str | None
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: tuple) -> Job:
        """Build a Job from a row selected with this module's column list."""
        values = list(row)
        values[12] = bool(values[12])
        values[16] = json.loads(values[16]) if values[16] else None
        return cls(*values)

    @property
    def finished(self) -> bool:
        """True once the job can no longer change."""
        return self.status not in ACTIVE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The JSON view served by `GET /api/jobs/<id>`."""
        data = asdict(self)
        data.pop("lease_until")
        percent = (round(100.0 * self.done / self.total, 1) if self.total else
                   (100.0 if self.status == "succeeded" else 0.0))
        data["progress"] = {"done": self.done, "total": self.total, "percent": percent}
        return data


def event_channel(repository: str) -> str:
    """The Redis channel of a repository's room (shared with the collab service's bus)."""
    from .events import channel_for

    return channel_for(repository)


def worker_identity() -> str:
    """A name for this worker process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue_ingest(store: Store, repo_id: int, *, reason: str = "api",
                   requested_by: str | None = None) -> Job:
    """Queue an ingest of `repo_id`, or return the one already waiting for it.

    A job that is already queued will see every commit pushed so far when it runs, so a
    second one would find nothing new; a running job may have passed its `git rev-list`
    already, so a new push does queue one more.
    """
    now = time.time()
    with store.transaction() as tx:
        if store.dialect == "postgres":
            # Serialise enqueuers of one repository (not the ingest lock, which a running
            # ingest holds for minutes).
            tx.execute("SELECT id FROM repositories WHERE id = ? FOR UPDATE", (repo_id,))
        waiting = tx.fetchall("SELECT id FROM ingest_jobs WHERE repo_id = ? AND status = 'queued' "
                              "ORDER BY id LIMIT 1", (repo_id,))
        if waiting:
            job_id = waiting[0][0]
        else:
            job_id = tx.fetchall(
                "INSERT INTO ingest_jobs (repo_id, status, reason, requested_by, created_at) "
                "VALUES (?, 'queued', ?, ?, ?) RETURNING id",
                (repo_id, reason, requested_by, now))[0][0]
    job = get_job(store, job_id)
    assert job is not None
    return job


def get_job(store: Store, job_id: int) -> Job | None:
    """The job `job_id`, or None."""
    row = store.query_one(f"SELECT {_COLUMNS} {_FROM} WHERE j.id = ?", (job_id,))
    return Job.from_row(row) if row else None


def list_jobs(store: Store, *, repo_id: int | None = None, status: str | None = None,
              limit: int = 50, before_id: int | None = None) -> list[Job]:
    """Jobs newest first, optionally of one repository or status; `before_id` pages."""
    where, params = [], []
    if repo_id is not None:
        where.append("j.repo_id = ?")
        params.append(repo_id)
    if status is not None:
        where.append("j.status = ?")
        params.append(status)
    if before_id is not None:
        where.append("j.id < ?")
        params.append(before_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = store.query(f"SELECT {_COLUMNS} {_FROM} {clause} ORDER BY j.id DESC LIMIT ?",
                       (*params, limit))
    return [Job.from_row(row) for row in rows]


def claim_job(store: Store, worker: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Job | None:
    """Claim the oldest runnable job for `worker`, or None when there is nothing to do.

    Runnable: queued, or running under a lease that has expired (its worker died). A
    repository whose job is running under a live lease is skipped, so one repository is
    never ingested by two workers at once while other repositories' jobs proceed.
    """
    now = time.time()
    candidates = ("SELECT c.id FROM ingest_jobs c WHERE (c.status = 'queued' OR "
                  "(c.status = 'running' AND c.lease_until < ?)) AND NOT EXISTS ("
                  "SELECT 1 FROM ingest_jobs o WHERE o.repo_id = c.repo_id AND o.id <> c.id "
                  "AND o.status = 'running' AND o.lease_until >= ?) ORDER BY c.id LIMIT 1")
    if store.dialect == "postgres":
        candidates += " FOR UPDATE SKIP LOCKED"
    with store.transaction() as tx:
        rows = tx.fetchall(candidates, (now, now))
        if not rows:
            return None
        job_id = rows[0][0]
        tx.execute("UPDATE ingest_jobs SET status = 'running', worker = ?, lease_until = ?, "
                   "started_at = COALESCE(started_at, ?), attempts = attempts + 1 WHERE id = ?",
                   (worker, now + lease_seconds, now, job_id))
    return get_job(store, job_id)


def renew_lease(store: Store, job_id: int, worker: str, *,
                lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Extend `worker`'s lease on `job_id`; False when the job is no longer its own (it was
    re-claimed after a stall, or cancelled) or cancellation has been requested."""
    with store.transaction() as tx:
        tx.execute("UPDATE ingest_jobs SET lease_until = ? WHERE id = ? AND worker = ? "
                   "AND status = 'running'", (time.time() + lease_seconds, job_id, worker))
        rows = tx.fetchall("SELECT worker, status, cancel_requested FROM ingest_jobs WHERE id = ?",
                           (job_id,))
    return bool(rows) and rows[0][0] == worker and rows[0][1] == "running" and not rows[0][2]


def record_progress(store: Store, job_id: int, worker: str, done: int, total: int) -> None:
    """Store how far `worker` has come with `job_id`."""
    with store.transaction() as tx:
        tx.execute("UPDATE ingest_jobs SET done = ?, total = ? WHERE id = ? AND worker = ?",
                   (done, total, job_id, worker))


def finish_job(store: Store, job_id: int, worker: str, status: str, *,
               error: str | None = None, result: dict[str, Any] | None = None) -> bool:
    """Mark `worker`'s job as ended with `status`; False when the job was not its own."""
    if status not in ("succeeded", "failed", "cancelled"):
        raise ValueError(f"not a final job status: {status!r}")
    with store.transaction() as tx:
        cur = tx.execute(
            "UPDATE ingest_jobs SET status = ?, finished_at = ?, lease_until = NULL, error = ?, "
            "result = ? WHERE id = ? AND worker = ? AND status = 'running'",
            (status, time.time(), error, json.dumps(result) if result is not None else None,
             job_id, worker))
        changed = cur.rowcount
    return changed == 1


def cancel_job(store: Store, job_id: int) -> Job | None:
    """Cancel `job_id`: a queued job at once, a running one at its next batch. Returns the
    job as it now stands (None if unknown); a finished job is left as it was."""
    with store.transaction() as tx:
        tx.execute("UPDATE ingest_jobs SET status = 'cancelled', finished_at = ? "
                   "WHERE id = ? AND status = 'queued'", (time.time(), job_id))
        tx.execute("UPDATE ingest_jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'",
                   (job_id,))
    return get_job(store, job_id)


def publish_event(redis_client: Any, repository: str, event_type: str, job_id: int,
                  done: int, total: int | None, **extra: Any) -> None:
    """Publish one ingest event for `repository` (no-op without Redis; Redis errors are
    logged, never raised: the job row stays the source of truth)."""
    if redis_client is None:
        return
    message = {"type": event_type, "v": EVENT_VERSION, "repo": repository, "job": job_id,
               "done": done, "total": total, **extra}
    try:
        redis_client.publish(event_channel(repository), json.dumps(message))
    except Exception as exc:  # noqa: BLE001 — any Redis failure must not fail the ingest
        log.warning("cannot publish %s for %s: %s", event_type, repository, exc)

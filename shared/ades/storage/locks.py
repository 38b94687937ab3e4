"""One ingest at a time per repository, across processes and machines sharing a database."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from .base import Store
from .errors import StorageError


class IngestBusy(StorageError):
    """Another process is ingesting the same repository right now."""


@contextlib.contextmanager
def repository_lock(store: Store, repo_id: int) -> Iterator[None]:
    """Hold the repository's ingest lock for the block, or raise IngestBusy at once.

    PostgreSQL: a session advisory lock on a dedicated pooled connection (released even if
    the process dies, when its connection drops). SQLite: an flock on a file beside the
    database (released by the kernel when the process dies).
    """
    if store.dialect == "postgres":
        with _advisory_lock(store, repo_id):
            yield
        return
    path = f"{store.path}.ingest-{repo_id}.lock"  # type: ignore[attr-defined]
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IngestBusy("another ingest of this repository is running") from exc
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _advisory_lock(store: Store, repo_id: int) -> Iterator[None]:
    import psycopg

    from .errors import DatabaseUnavailable

    try:
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            conn.autocommit = True
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (0x4ADE5, repo_id)).fetchone()
            if not got[0]:
                raise IngestBusy("another ingest of this repository is running")
            try:
                yield
            finally:
                # A server that went away took the lock with the session: nothing to release,
                # and the error that brought us here is the one to report.
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (0x4ADE5, repo_id))
                    conn.autocommit = False
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"PostgreSQL unavailable: {exc}".splitlines()[0]) from exc

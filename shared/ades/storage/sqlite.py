"""The embedded backend: one SQLite file in WAL mode with FTS5 for search."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .base import Store, Transaction
from .errors import StorageError, StorageFull

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=15000",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
)


def _storage_error(exc: sqlite3.Error, path: str) -> StorageError:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        full = _disk_full_error(path, certain=code == sqlite3.SQLITE_FULL)
        if full is not None:
            return full
    return StorageError(f"SQLite database {path}: {exc}")


def _disk_full_error(path: str, *, certain: bool) -> StorageError | None:
    """The error of a write that failed for want of space (None when, not `certain`, the
    disk has room after all).

    SQLite says "database or disk is full" (or, when its shared-memory file cannot grow,
    "disk I/O error"): name the disk, the space left and what to do. The failed
    transaction was rolled back, so what was committed before it is intact.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    free_kib = stats.f_bavail * stats.f_frsize // 1024
    if not certain and free_kib > 1024:
        return None
    return StorageFull(f"SQLite database {path}: the disk is full ({free_kib} KiB free in {directory}); "
                        "free some space and run again (everything stored before is kept)")


class SQLiteTransaction(Transaction):
    """A BEGIN IMMEDIATE transaction on one SQLite connection."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cursor.executemany(sql, rows)

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        marks = ",".join("?" * len(columns))
        self.cursor.executemany(
            f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows)

    def allocate_ids(self, table: str, count: int) -> list[int]:
        # BEGIN IMMEDIATE holds the write lock, so MAX(id) cannot move under us.
        (top,) = self.cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
        return list(range(top + 1, top + 1 + count))


class SQLiteStore(Store):
    """A store in one SQLite file; connections are pooled per process and thread-safe."""

    dialect = "sqlite"

    def __init__(self, path: str):
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create data directory {directory}: {exc.strerror}") from exc
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._lock_fd: int | None = None
        self._held = threading.local()
        with self._connection():
            pass

    @property
    def database_url(self) -> str:
        """The URL `open_store` takes to reach this database again (e.g. from a worker)."""
        return f"sqlite:///{os.path.abspath(self.path)}"

    def _open(self) -> sqlite3.Connection:
        # Switching a new file to WAL needs an exclusive lock and can fail with "database is
        # locked" without waiting when several processes open it at once: hold the write lock.
        try:
            with self._write_lock():
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=15.0)
                for pragma in _PRAGMAS:
                    conn.execute(pragma)
        except sqlite3.Error as exc:
            raise _storage_error(exc, self.path) from exc
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StorageError("store is closed")
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()
            with self._lock:
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Queue writers of this file across processes with an flock polled every
        millisecond: SQLite's own busy handler backs off to 100 ms sleeps, which leaves
        concurrent ingest workers idle. Polling keeps it cooperative under gevent.
        Re-entrant within a thread; without a writable lock file, SQLite's own locking
        (busy timeout) is all there is."""
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        if self._lock_fd is None:
            try:
                self._lock_fd = os.open(f"{self.path}.write-lock", os.O_CREAT | os.O_RDWR, 0o600)
            except OSError:
                yield
                return
        deadline = time.monotonic() + 15.0
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break  # fall back on SQLite's busy timeout
                time.sleep(0.001)
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SQLiteTransaction]:
        with self._write_lock(), self._connection() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield SQLiteTransaction(self, conn.cursor())
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise _storage_error(exc, self.path) from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection() as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _storage_error(exc, self.path) from exc

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._connection() as conn:
            try:
                cur = conn.execute(sql, params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            except sqlite3.Error as exc:
                raise _storage_error(exc, self.path) from exc

    def executescript(self, script: str) -> None:
        """Run a multi-statement script atomically (used by migrations)."""
        with self._connection() as conn:
            try:
                conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise _storage_error(exc, self.path) from exc

    def ping(self, timeout: float = 2.0) -> None:
        self.query("SELECT 1")

    def backup_to(self, target: str) -> None:
        """Copy the live database to `target` with SQLite's online backup API."""
        with self._connection() as conn:
            dest = sqlite3.connect(target)
            try:
                conn.backup(dest)
            finally:
                dest.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

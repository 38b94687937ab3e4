"""The production backend: PostgreSQL through psycopg 3 and a psycopg_pool pool.

The pool is opened when the store is created, which services do inside `create_app` (after
gunicorn forks), never at import time.

A server that goes away (restart, failover, network) must cost each request milliseconds,
not the pool's whole wait: once a connection fails and a direct connection attempt is
refused too, the store marks the server down and answers `DatabaseUnavailable` at once,
re-probing it directly at most every `PROBE_INTERVAL_SECONDS`. The pool gives up its own
reconnection attempts after `RECONNECT_SECONDS` (rather than backing off for minutes), so
the first request after the server is back grows it again at once.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import psycopg
import psycopg_pool

from .base import Store, Transaction
from .errors import DatabaseUnavailable, InvalidText, StorageError

# While the server is known to be down, one caller re-probes it this often; the others
# fail at once.
PROBE_INTERVAL_SECONDS = 0.5
# How long the pool keeps retrying a lost connection in the background before leaving it
# to the next request (psycopg_pool's default is five minutes of growing backoff).
RECONNECT_SECONDS = 2.0
# A pooled connection given back less than this long ago is handed out without a check.
CHECK_AFTER_IDLE_SECONDS = 1.0


@lru_cache(maxsize=1024)
def _translate(sql: str) -> str:
    """Rewrite the engine's `?` placeholders into psycopg's `%s` (escaping literal %)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _describe(exc: psycopg.Error) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _storage_error(exc: psycopg.Error) -> StorageError:
    if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
        return DatabaseUnavailable(f"PostgreSQL unavailable: {_describe(exc)}")
    if isinstance(exc, psycopg.DataError) and "NUL (0x00)" in str(exc):
        # psycopg refuses such text before it reaches the server; SQLite would accept it.
        return InvalidText(f"PostgreSQL: {_describe(exc)}")
    return StorageError(f"PostgreSQL: {_describe(exc)}")


_REDACT = re.compile(r"(://[^:/@]*:)[^@]*@")


def redact_url(url: str) -> str:
    """A database URL with its password replaced, safe to print or log."""
    return _REDACT.sub(r"\1***@", url)


class PostgresTransaction(Transaction):
    """A transaction on one pooled connection."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.cursor.execute(_translate(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cursor.executemany(_translate(sql), list(rows))

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self.cursor.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def allocate_ids(self, table: str, count: int) -> list[int]:
        if count == 0:
            return []
        rows = self.cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table, count)).fetchall()
        return [r[0] for r in rows]

    def lock_repository(self, repo_id: int) -> None:
        self.cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x4ADE5, repo_id))


class PostgresStore(Store):
    """A store in a PostgreSQL database, several repositories side by side."""

    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10,
                 statement_timeout_ms: int = 15000, connect_timeout: float = 5.0,
                 synchronous_commit: bool = True):
        self.url = url
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StorageError(f"invalid PostgreSQL URL {redact_url(url)}: {_describe(exc)}") from exc
        # One direct attempt first: it fails fast with the server's own reason, where the
        # pool would only retry in the background and report a timeout.
        try:
            psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))).close()
        except psycopg.Error as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {redact_url(url)}: {_describe(exc)}") from exc
        options = f"-c statement_timeout={int(statement_timeout_ms)}"
        if not synchronous_commit:
            options += " -c synchronous_commit=off"
        self._connect_timeout = connect_timeout
        self._down_reason: str | None = None
        self._next_probe = 0.0
        self._probe_lock = threading.Lock()
        # id(connection) -> when it was last given back; ids of discarded connections only
        # cost one skipped check of a brand-new connection.
        self._last_used: dict[int, float] = {}
        # Connections are checked in `_connection`, not by the pool's `check`, so that a
        # dead server is noticed by the first request instead of after the pool's wait.
        self._pool = psycopg_pool.ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, timeout=connect_timeout,
            # Autocommit: a read is one round trip instead of BEGIN, the query and COMMIT;
            # writes still run in explicit transactions (`transaction()`).
            kwargs={"connect_timeout": max(1, int(connect_timeout)), "options": options,
                    "application_name": "ades", "autocommit": True},
            reconnect_timeout=RECONNECT_SECONDS, name="ades")
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            self._pool.close(timeout=0)
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {redact_url(url)}: {_describe(exc)}") from exc

    @property
    def database_url(self) -> str:
        """The URL `open_store` takes to reach this database again (e.g. from a worker)."""
        return self.url

    @property
    def pool(self) -> psycopg_pool.ConnectionPool:
        """The underlying connection pool (for metrics and health checks)."""
        return self._pool

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A checked pooled connection; DatabaseUnavailable at once while the server is down."""
        self._refuse_while_down()
        try:
            conn = self._checked_connection()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._unavailable(exc) from exc
        try:
            with conn:  # commits a read's implicit transaction, rolls back on error
                yield conn
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise (self._unavailable(exc) if conn.broken else _storage_error(exc)) from exc
        finally:
            self._note_used(conn)
            self._pool.putconn(conn)

    def _note_used(self, conn: psycopg.Connection) -> None:
        now = time.monotonic()
        if len(self._last_used) > 4 * self._pool.max_size:  # forget replaced connections
            self._last_used = {k: t for k, t in self._last_used.items()
                               if now - t < CHECK_AFTER_IDLE_SECONDS}
        self._last_used[id(conn)] = now

    def _checked_connection(self) -> psycopg.Connection:
        # Every pooled connection may have died with a restarted server: try each once, then
        # a fresh one, before concluding anything. A connection that worked moments ago is
        # not checked again: under load that round trip was a third of a cached request.
        for _ in range(self._pool.max_size + 1):
            conn = self._pool.getconn()
            if time.monotonic() - self._last_used.get(id(conn), -CHECK_AFTER_IDLE_SECONDS) \
                    < CHECK_AFTER_IDLE_SECONDS and not conn.broken:
                return conn
            try:
                psycopg_pool.ConnectionPool.check_connection(conn)
            except psycopg.Error:
                self._pool.putconn(conn)  # the pool discards it and schedules a replacement
                if not self._server_answers():
                    raise
                continue
            return conn
        raise psycopg.OperationalError("no working connection in the pool")

    def _server_answers(self) -> bool:
        """True when a direct connection succeeds (a refused one fails in milliseconds)."""
        try:
            psycopg.connect(self.url, connect_timeout=max(1, int(self._connect_timeout))).close()
        except psycopg.Error as exc:
            self._next_probe = time.monotonic() + PROBE_INTERVAL_SECONDS
            self._down_reason = _describe(exc)
            return False
        return True

    def _unavailable(self, exc: psycopg.Error | psycopg_pool.PoolTimeout) -> StorageError:
        """The error for a lost connection, marking the server down when it is."""
        error = _storage_error(exc)
        if isinstance(error, DatabaseUnavailable) and self._down_reason is None \
                and not self._server_answers():
            return DatabaseUnavailable(f"PostgreSQL unavailable: {self._down_reason}")
        return error

    def _refuse_while_down(self) -> None:
        """Raise DatabaseUnavailable while the server is marked down, except for the one
        caller per probe interval that checks whether it is back."""
        reason = self._down_reason
        if reason is None:
            return
        with self._probe_lock:
            probe = time.monotonic() >= self._next_probe
            if probe:
                self._next_probe = time.monotonic() + PROBE_INTERVAL_SECONDS
        if probe and self._server_answers():
            self._down_reason = None
            self._pool.check()  # replace the dead idle connections now
            return
        raise DatabaseUnavailable(f"PostgreSQL unavailable: {self._down_reason or reason}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield PostgresTransaction(self, cur)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection() as conn:
            return conn.execute(_translate(sql), params).fetchall()

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._connection() as conn:
            cur = conn.execute(_translate(sql), params)
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def executescript(self, script: str) -> None:
        """Run a multi-statement script in one transaction (used by migrations)."""
        with self._connection() as conn, conn.transaction():
            conn.execute(script)

    def ping(self, timeout: float = 2.0) -> None:
        try:
            with psycopg.connect(self.url, connect_timeout=max(1, int(timeout))) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise _storage_error(exc) from exc

    def close(self) -> None:
        self._pool.close()

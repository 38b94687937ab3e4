"""The production backend: PostgreSQL through psycopg 3 and a psycopg_pool pool.

The pool is opened when the store is created, which services do inside `create_app` (after
gunicorn forks), never at import time.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import psycopg
import psycopg_pool

from .base import Store, Transaction
from .errors import DatabaseUnavailable, StorageError


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
        self._pool = psycopg_pool.ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, timeout=connect_timeout,
            kwargs={"connect_timeout": max(1, int(connect_timeout)), "options": options,
                    "application_name": "ades"},
            check=psycopg_pool.ConnectionPool.check_connection, name="ades")
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
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise _storage_error(exc) from exc

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

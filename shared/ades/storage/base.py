"""The storage interface shared by the SQLite and PostgreSQL backends.

SQL in the engine is written once, with `?` placeholders; each backend translates it to its
driver's style. Writes go through `transaction()`, reads through `query()`; bulk inserts use
the fastest path each backend has (executemany on SQLite, COPY on PostgreSQL).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the engine relies on."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchall(self) -> list[tuple]: ...
    def fetchone(self) -> tuple | None: ...


class Store:
    """A database holding any number of repositories' mined history.

    Subclasses implement connection handling and the handful of dialect differences.
    """

    dialect: str = ""

    # --- connection handling (backend specific) -------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: committed when the block ends, rolled back on error."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a read-only statement and return all rows."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""
        raise NotImplementedError

    def ping(self, timeout: float = 2.0) -> None:
        """Raise StorageError unless the database answers within `timeout` seconds."""
        raise NotImplementedError

    # --- conveniences built on the above ----------------------------------------------------
    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        """The first row of a read-only statement, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        raise NotImplementedError

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transaction:
    """An open write transaction on one connection."""

    def __init__(self, store: Store, cursor: Any):
        self.store = store
        self.cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the cursor for fetching."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row."""
        raise NotImplementedError

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many rows into `table` as fast as the backend allows."""
        raise NotImplementedError

    def allocate_ids(self, table: str, count: int) -> list[int]:
        """Reserve `count` new primary-key values for `table` inside this transaction."""
        raise NotImplementedError

    def lock_repository(self, repo_id: int) -> None:
        """Serialise writers of one repository until this transaction ends."""

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a statement inside the transaction and return its rows."""
        return self.execute(sql, params).fetchall()

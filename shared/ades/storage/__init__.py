"""Storage: one interface (`Store`) over two real backends, SQLite and PostgreSQL."""

from __future__ import annotations

from .base import Store, Transaction
from .errors import DatabaseUnavailable, InvalidText, StorageError, StorageFull
from .migrations import is_current, upgrade


def open_store(database_url: str, *, pool_min: int = 1, pool_max: int = 10,
               statement_timeout_ms: int = 15000, migrate: bool = True,
               bulk_writes: bool = False, connect_timeout: float = 5.0) -> Store:
    """Open the store at `database_url` (`sqlite:///path` or `postgresql://...`).

    With `migrate` (the default) pending schema migrations are applied first, so a new
    database is usable at once. `bulk_writes` tunes a connection for ingestion: on
    PostgreSQL commits do not wait for the WAL flush (a crash can lose the last batches,
    which the idempotent ingest simply mines again; it cannot corrupt anything).
    `connect_timeout` bounds the wait for a free pooled connection or a new one (PostgreSQL).
    Raises StorageError with a one-line reason on failure.
    """
    if database_url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        store: Store = SQLiteStore(database_url.removeprefix("sqlite:///"))
    elif database_url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        store = PostgresStore(database_url, min_size=pool_min, max_size=pool_max,
                              statement_timeout_ms=statement_timeout_ms,
                              connect_timeout=connect_timeout,
                              synchronous_commit=not bulk_writes)
    else:
        raise StorageError("database URL must start with sqlite:/// or postgresql://")
    if migrate:
        try:
            upgrade(store)
        except BaseException:
            store.close()
            raise
    return store


__all__ = ["DatabaseUnavailable", "InvalidText", "StorageError", "StorageFull", "Store", "Transaction",
           "is_current", "open_store", "upgrade"]

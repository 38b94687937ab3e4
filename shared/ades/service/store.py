"""The store of one service worker: opened in the app factory, reopened if it was down.

A database that is unreachable when a worker starts must not stop the worker from
booting — the process is alive (`/healthz`) but not ready (`/readyz` answers 503) — so
`StoreHolder.get()` retries the opening, at most every `retry_seconds`, and raises
`DatabaseUnavailable` meanwhile. Any other storage error (a malformed URL, a failed
migration) is a configuration problem and fails the factory at once.
"""

from __future__ import annotations

import logging
import threading
import time

from ..config import Config
from ..optimizer import MonitoredStore, SlowQueryLog
from ..storage import DatabaseUnavailable, StorageError, Store, is_current, open_store, upgrade

log = logging.getLogger("ades.service")


class StoreHolder:
    """Holds the worker's `MonitoredStore`, opening (and migrating) it on demand."""

    def __init__(self, config: Config, slow_log: SlowQueryLog, *,
                 retry_seconds: float = 2.0) -> None:
        self.config = config
        self.slow_log = slow_log
        self.retry_seconds = retry_seconds
        self.last_error: str | None = None
        self._store: MonitoredStore | None = None
        self._next_attempt = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True once the store has been opened."""
        return self._store is not None

    def open(self) -> MonitoredStore | None:
        """Try to open the store now; None (and `last_error`) when the database is down."""
        try:
            return self.get(retry_now=True)
        except DatabaseUnavailable as exc:
            log.warning("database unavailable at start; will retry: %s", exc)
            return None

    def get(self, *, retry_now: bool = False) -> MonitoredStore:
        """The open store; raises DatabaseUnavailable while it cannot be opened."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is not None:
                return self._store
            now = time.monotonic()
            if not retry_now and now < self._next_attempt:
                raise DatabaseUnavailable(self.last_error or "database unavailable")
            self._next_attempt = now + self.retry_seconds
            try:
                raw = _open_migrated(self.config)
            except DatabaseUnavailable as exc:
                self.last_error = str(exc)
                raise
            self.last_error = None
            self._store = MonitoredStore(raw, self.slow_log)
            return self._store

    def close(self) -> None:
        """Close the store (its pool); a later `get` opens it again."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()


def _open_migrated(config: Config) -> Store:
    performance = config.performance
    store = open_store(config.database_url, pool_min=performance.pool_min_size,
                       pool_max=performance.pool_max_size,
                       statement_timeout_ms=performance.statement_timeout_ms, migrate=False,
                       connect_timeout=performance.pool_timeout_seconds)
    try:
        _migrate(store)
    except BaseException:
        store.close()
        raise
    return store


def _migrate(store: Store) -> None:
    # Every worker of every service starts at once on a fresh database; the migration
    # lock lets one win, and the others find the schema current when they retry.
    for attempt in range(5):
        if is_current(store):
            return
        try:
            upgrade(store)
            return
        except DatabaseUnavailable:
            raise
        except StorageError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))

"""Health of the connection pool each worker opens (psycopg_pool on PostgreSQL).

The pool itself belongs to the store (`ades.storage.postgres`), opened inside the app
factory after gunicorn forks, one per worker. Here it is only observed: its statistics
become gauges and part of `/api/health/detailed`, and `check_pool` replaces connections
the server has dropped.
"""

from __future__ import annotations

from typing import Any

from ..metrics import instruments
from ..storage import Store


def pool_stats(store: Store) -> dict[str, Any]:
    """The pool's size and usage counters; `{"pooled": False}` for stores without a pool."""
    pool = getattr(store, "pool", None)
    if pool is None:
        return {"backend": store.dialect, "pooled": False}
    stats = pool.get_stats()
    return {"backend": store.dialect, "pooled": True, "name": pool.name,
            "closed": pool.closed, **stats}


def check_pool(store: Store) -> dict[str, Any]:
    """Test every idle pooled connection, replacing broken ones; returns fresh stats."""
    pool = getattr(store, "pool", None)
    if pool is not None and not pool.closed:
        pool.check()
    return pool_stats(store)


def update_pool_gauges(store: Store) -> None:
    """Publish the pool's size, idle connections, maximum and queue as gauges."""
    stats = pool_stats(store)
    if not stats["pooled"]:
        return
    instruments.DB_POOL_SIZE.set(stats.get("pool_size", 0))
    instruments.DB_POOL_AVAILABLE.set(stats.get("pool_available", 0))
    instruments.DB_POOL_MAX.set(stats.get("pool_max", 0))
    instruments.DB_POOL_WAITING.set(stats.get("requests_waiting", 0))

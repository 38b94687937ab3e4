"""Performance: query-result caching, slow-query detection, pool health, GC tuning.

The pieces work on their own (an `LRUCache` needs nothing else); `init_app` binds them to
a service: one `QueryCache` and one `SlowQueryLog` per app (so per worker), gauges for the
cache and the pool refreshed before every scrape, and the GC thresholds from the config.
The chassis wraps the app's store in a `MonitoredStore`, so every read a service makes is
timed without the service doing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, current_app

from ..config import Config
from ..metrics import add_refresher, instruments
from ..storage import StorageError, Store
from .cache import (
    CacheStats,
    LRUCache,
    QueryCache,
    SharedTier,
    cached_query,
    invalidate_repository,
)
from .gc_tuning import GcSettings, apply_gc_settings, thresholds_for
from .pool import check_pool, pool_stats, update_pool_gauges
from .slow_queries import (
    IndexRecommendation,
    MonitoredStore,
    SlowQuery,
    SlowQueryLog,
    explain,
)

if TYPE_CHECKING:
    import redis

T = TypeVar("T")
_EXTENSION = "ades.optimizer"


@dataclass
class Optimizer:
    """What `init_app` bound to one app."""

    query_cache: QueryCache
    slow_log: SlowQueryLog
    store_getter: Callable[[], Store]

    def report(self, *, min_rows: int = 10_000) -> dict[str, Any]:
        """Cache and pool statistics, recent slow queries and index recommendations."""
        store = self.store_getter()
        return {
            "cache": self.query_cache.stats().to_dict(),
            "shared_cache": self.query_cache.shared.stats() if self.query_cache.shared else None,
            "pool": pool_stats(store),
            "slow_query_threshold_ms": self.slow_log.threshold_ms,
            "slow_queries_total": self.slow_log.total,
            "slow_queries": [q.to_dict() for q in self.slow_log.entries()[:50]],
            "index_recommendations": [r.to_dict() for r in
                                      self.slow_log.index_recommendations(
                                          store, min_rows=min_rows)],
        }


def init_app(app: Flask, store_getter: Callable[[], Store], config: Config, *,
             slow_log: SlowQueryLog | None = None, name: str = "queries",
             redis_getter: Callable[[], redis.Redis | None] | None = None) -> Optimizer:
    """Create the app's query cache (and slow-query log, unless given); register gauges.

    `name` labels the cache's metrics. With `server.redis_url` configured the cache gets a
    shared Redis tier; its client comes from `redis_getter` (default: the app's hardening
    client, looked up on first use) and its keys use the hardening key prefix.
    """
    performance = config.performance
    cache = LRUCache(performance.cache_size, performance.cache_ttl_seconds, name=name)
    shared = None
    if config.server.redis_url:
        shared = SharedTier(redis_getter or (lambda: _hardening_redis(app)),
                            key_prefix=_redis_key_prefix(app),
                            ttl_seconds=performance.cache_ttl_seconds, name=name)
    bound = Optimizer(QueryCache(cache, store_getter, shared=shared),
                      slow_log or SlowQueryLog(performance.slow_query_ms), store_getter)
    app.extensions[_EXTENSION] = bound

    def refresh_gauges() -> None:
        instruments.CACHE_ENTRIES.labels(cache=cache.name).set(len(cache))
        try:
            store = store_getter()
        except StorageError:
            return  # no pool to report while the database is down; readiness says so
        update_pool_gauges(store)

    if _has_metrics(app):
        add_refresher(app, refresh_gauges)
    return bound


def _hardening_redis(app: Flask) -> redis.Redis | None:
    # The hardening extension owns the app's client; an app without it has no Redis.
    from ..hardening.context import EXTENSION_KEY

    hardening = app.extensions.get(EXTENSION_KEY)
    return hardening.redis if hardening is not None else None


def _redis_key_prefix(app: Flask) -> str:
    from ..hardening.context import EXTENSION_KEY, HardeningOptions

    hardening = app.extensions.get(EXTENSION_KEY)
    return (hardening.options if hardening is not None else HardeningOptions()).redis_key_prefix


def _has_metrics(app: Flask) -> bool:
    return "ades.metrics" in app.extensions


def optimizer(app: Flask | None = None) -> Optimizer:
    """The `Optimizer` bound to `app` (default: the current app)."""
    return (app or current_app).extensions[_EXTENSION]


def query_cache(app: Flask | None = None) -> QueryCache:
    """The current app's query cache."""
    return optimizer(app).query_cache


def cached(key: Hashable, fn: Callable[[], T], *, repo_id: int | None = None,
           shared: bool = False) -> T:
    """`cached_query` on the current app's query cache.

    `shared=True` (for JSON values only) also shares the result with the service's other
    workers and pods through Redis, when Redis is configured.
    """
    return cached_query(query_cache(), key, fn, repo_id=repo_id, shared=shared)


__all__ = ["CacheStats", "GcSettings", "IndexRecommendation", "LRUCache", "MonitoredStore",
           "Optimizer", "QueryCache", "SharedTier", "SlowQuery", "SlowQueryLog", "apply_gc_settings",
           "cached", "cached_query", "check_pool", "explain", "init_app",
           "invalidate_repository", "optimizer", "pool_stats", "query_cache",
           "thresholds_for", "update_pool_gauges"]

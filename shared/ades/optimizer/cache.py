"""An LRU cache with TTL, and query-result caching that an ingest invalidates.

`LRUCache` is a plain bounded mapping with expiry and statistics. `QueryCache` puts it in
front of the database: every cached result is filed under its repository's *generation*,
and a new generation starts when that repository is ingested. In the same process that is
`invalidate_repository(repo_id)`; other workers and pods notice through the database,
because an ingest changes the repository row (`last_ingest_at`, `commit_count`,
`head_commit`) and a `QueryCache` compares that fingerprint at most once per
`freshness_seconds` before answering from memory.

A `SharedTier` (Redis) can sit behind the in-process LRU, so a result one worker or pod
computed is found by the others: calls that opt in (`shared=True`, JSON values only) are
looked up there by scope, database fingerprint and key, so an ingest anywhere moves them to
new keys. Concurrent callers of one key in a process wait for a single computation.

Both are safe across threads and greenlets: locks are held only around dictionary work,
never across I/O or the computation of a value.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..metrics import instruments
from ..storage import Store
from .blocking_redis import BLOCKING_TIMEOUT_SECONDS, blocking_connection_class

if TYPE_CHECKING:
    import redis

log = logging.getLogger("ades.optimizer")

T = TypeVar("T")
_MISSING = object()
# The scope of results that depend on every repository (lists, cross-repository search).
ALL_REPOSITORIES = "*"


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of one cache's size and counters since it was created."""

    name: str
    size: int
    max_size: int
    ttl_seconds: float
    hits: int
    misses: int
    evictions: int
    expirations: int
    invalidations: int

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups, 0.0 before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, including `hit_ratio`."""
        return {**asdict(self), "hit_ratio": round(self.hit_ratio, 4)}


class LRUCache:
    """At most `max_size` entries, each valid for `ttl_seconds`, least recently used out first.

    `max_size=0` disables the cache: nothing is stored and every lookup misses. `clock`
    is injectable for tests. Hits, misses and evictions are also Prometheus counters
    labelled with `name`.
    """

    def __init__(self, max_size: int = 1024, ttl_seconds: float = 300.0, *,
                 name: str = "default", clock: Callable[[], float] = time.monotonic) -> None:
        if max_size < 0:
            raise ValueError("max_size must be at least 0")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.name = name
        self.max_size = max_size
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = self._expirations = 0
        self._invalidations = 0

    def lookup(self, key: Hashable) -> tuple[bool, Any]:
        """`(True, value)` for a live entry (which becomes most recent), else `(False, None)`."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key, _MISSING)
            if entry is not _MISSING and entry[0] <= now:
                del self._entries[key]
                self._expirations += 1
                entry = _MISSING
                expired = True
            else:
                expired = False
            if entry is _MISSING:
                self._misses += 1
            else:
                self._entries.move_to_end(key)
                self._hits += 1
        if expired:
            instruments.CACHE_EVICTIONS.labels(cache=self.name, reason="expired").inc()
        if entry is _MISSING:
            instruments.CACHE_MISSES.labels(cache=self.name).inc()
            return False, None
        instruments.CACHE_HITS.labels(cache=self.name).inc()
        return True, entry[1]

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The live value for `key`, else `default`."""
        found, value = self.lookup(key)
        return value if found else default

    def set(self, key: Hashable, value: Any, ttl_seconds: float | None = None) -> None:
        """Store `value`, evicting the least recently used entries beyond `max_size`."""
        if self.max_size == 0:
            return
        expires = self._clock() + (self.ttl_seconds if ttl_seconds is None else ttl_seconds)
        evicted = 0
        with self._lock:
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)
                evicted += 1
            self._evictions += evicted
        if evicted:
            instruments.CACHE_EVICTIONS.labels(cache=self.name, reason="capacity").inc(evicted)

    def delete(self, key: Hashable) -> bool:
        """Remove `key`; True if it was present."""
        with self._lock:
            return self._entries.pop(key, _MISSING) is not _MISSING

    def delete_where(self, predicate: Callable[[Hashable], bool]) -> int:
        """Remove every entry whose key satisfies `predicate`; returns how many."""
        with self._lock:
            doomed = [key for key in self._entries if predicate(key)]
            for key in doomed:
                del self._entries[key]
            self._invalidations += len(doomed)
        if doomed:
            instruments.CACHE_EVICTIONS.labels(cache=self.name,
                                               reason="invalidated").inc(len(doomed))
        return len(doomed)

    def clear(self) -> None:
        """Remove every entry (the counters are kept)."""
        with self._lock:
            self._invalidations += len(self._entries)
            self._entries.clear()

    def purge_expired(self) -> int:
        """Drop entries past their TTL now rather than on their next lookup."""
        now = self._clock()
        with self._lock:
            doomed = [key for key, (expires, _) in self._entries.items() if expires <= now]
            for key in doomed:
                del self._entries[key]
            self._expirations += len(doomed)
        if doomed:
            instruments.CACHE_EVICTIONS.labels(cache=self.name, reason="expired").inc(len(doomed))
        return len(doomed)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        entry = self._entries.get(key, _MISSING)
        return entry is not _MISSING and entry[0] > self._clock()

    def stats(self) -> CacheStats:
        """Current size and counters."""
        with self._lock:
            return CacheStats(self.name, len(self._entries), self.max_size, self.ttl_seconds,
                              self._hits, self._misses, self._evictions, self._expirations,
                              self._invalidations)


class SharedTier:
    """A second cache tier in Redis, shared by every worker and pod, for JSON values only.

    Values are stored as JSON (never pickle: what comes back from Redis is data, not code)
    under `<key_prefix>qc:<sha256>` for `ttl_seconds`; a value whose JSON exceeds
    `max_value_bytes`, or that would not come back equal from JSON (tuples, non-string
    keys, sets), is not shared. Redis failures never reach the caller: they are counted,
    logged once per outage, and the tier is skipped for `breaker_seconds` afterwards so a
    dead or hung Redis costs one client timeout per window, not one per request.
    `client_getter` returns the app's Redis client (None: no Redis) and is called on first
    use; the tier talks through a sibling pool with the same settings but no retries,
    because redis-py's default retries with backoff turn one timeout into several seconds.
    """

    def __init__(self, client_getter: Callable[[], redis.Redis | None], *,
                 key_prefix: str = "ades:", ttl_seconds: float = 300.0,
                 max_value_bytes: int = 1_000_000, breaker_seconds: float = 5.0,
                 name: str = "queries", clock: Callable[[], float] = time.monotonic) -> None:
        import redis

        self._client_getter = client_getter
        self._client: redis.Redis | None = None
        self.key_prefix = key_prefix
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.max_value_bytes = max_value_bytes
        self.breaker_seconds = breaker_seconds
        self.name = f"{name}-shared"
        self._clock = clock
        self._errors_caught = (redis.RedisError, OSError)
        self._lock = threading.Lock()
        self._open_until: float | None = None  # set while the breaker is open
        self._outage = False
        self._counts = dict.fromkeys(("hits", "misses", "errors", "writes", "skipped"), 0)

    def redis_key(self, scope: Hashable, fingerprint: tuple, key: Hashable) -> str:
        """The Redis key of `key` in `scope` as of the database `fingerprint`."""
        canonical = json.dumps([scope, fingerprint, key], sort_keys=True, default=str,
                               separators=(",", ":"))
        return f"{self.key_prefix}qc:{hashlib.sha256(canonical.encode()).hexdigest()}"

    def lookup(self, redis_key: str) -> tuple[bool, Any]:
        """`(True, value)` when Redis holds `redis_key`, else `(False, None)` (also on errors)."""
        client = self._usable_client()
        if client is None:
            return False, None
        try:
            data = client.get(redis_key)
        except self._errors_caught as exc:
            self._failed(exc)
            return False, None
        self._recovered()
        try:
            value = json.loads(data) if data is not None else _MISSING
        except ValueError:
            value = _MISSING  # not written by us: treat as absent, the next write replaces it
        if value is _MISSING:
            self._count("misses")
            instruments.CACHE_MISSES.labels(cache=self.name).inc()
            return False, None
        self._count("hits")
        instruments.CACHE_HITS.labels(cache=self.name).inc()
        return True, value

    def store(self, redis_key: str, value: Any) -> bool:
        """Write `value` for the tier's TTL; False when it is not shareable or Redis failed."""
        data = self._encode(value)
        if data is None:
            return False
        client = self._usable_client()
        if client is None:
            return False
        try:
            client.set(redis_key, data, px=self.ttl_ms)
        except self._errors_caught as exc:
            self._failed(exc)
            return False
        self._recovered()
        self._count("writes")
        return True

    def stats(self) -> dict[str, Any]:
        """Counters since creation and whether the breaker is open now."""
        with self._lock:
            return {"name": self.name, **self._counts, "ttl_seconds": self.ttl_ms / 1000,
                    "breaker_open": self._open_until is not None
                    and self._clock() < self._open_until}

    def _encode(self, value: Any) -> bytes | None:
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
            # Only values that come back equal may be shared: a tuple would return a list.
            reason = "too_large" if len(text) > self.max_value_bytes else (
                None if json.loads(text) == value else "not_json")
        except (TypeError, ValueError):
            reason = "not_json"
        if reason is None:
            return text.encode()
        self._count("skipped")
        instruments.CACHE_SHARED_SKIPPED.labels(cache=self.name, reason=reason).inc()
        if reason == "not_json":
            log.debug("query cache %s: a %s value is not plain JSON, not shared",
                      self.name, type(value).__name__)
        return None

    def _usable_client(self) -> redis.Redis | None:
        with self._lock:
            if self._open_until is not None and self._clock() < self._open_until:
                return None
            if self._client is None:
                base = self._client_getter()
                self._client = _single_attempt(base) if base is not None else None
            return self._client

    def close(self) -> None:
        """Close the tier's own connections (the app's client is left to its owner)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _failed(self, exc: BaseException) -> None:
        instruments.CACHE_SHARED_ERRORS.labels(cache=self.name).inc()
        with self._lock:
            self._counts["errors"] += 1
            self._open_until = self._clock() + self.breaker_seconds
            first, self._outage = not self._outage, True
        if first:
            log.warning("query cache %s: Redis failed (%s); skipping the shared tier for "
                        "%.0f s at a time until it answers", self.name, exc,
                        self.breaker_seconds)

    def _recovered(self) -> None:
        if not self._outage:
            return
        with self._lock:
            was, self._outage, self._open_until = self._outage, False, None
        if was:
            log.info("query cache %s: Redis answers again, sharing resumed", self.name)

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1


def _single_attempt(client: redis.Redis) -> redis.Redis:
    """A client on a new pool with `client`'s connection settings but without retries,
    on blocking sockets whose timeout is at most `BLOCKING_TIMEOUT_SECONDS` (see
    `ades.optimizer.blocking_redis`: under gevent, waiting in place for a cache command is
    cheaper than queueing behind every other request of the worker)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pool = client.connection_pool
    settings = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
    connection_class = blocking_connection_class(pool.connection_class)
    if connection_class is not pool.connection_class:
        for name in ("socket_timeout", "socket_connect_timeout"):
            configured = settings.get(name)
            settings[name] = (BLOCKING_TIMEOUT_SECONDS if configured is None
                              else min(configured, BLOCKING_TIMEOUT_SECONDS))
    return redis.Redis(connection_pool=type(pool)(connection_class=connection_class,
                                                  max_connections=pool.max_connections,
                                                  **settings))


class _Flight:
    """One computation in progress, which other callers of the same key wait for."""

    __slots__ = ("done", "failed", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failed = True  # until the computation returns: a killed greenlet counts as failed
        self.value: Any = None


_REPO_FINGERPRINT = ("SELECT last_ingest_at, commit_count, head_commit FROM repositories "
                     "WHERE id = ?")
_ALL_FINGERPRINT = ("SELECT COUNT(*), MAX(id), MAX(last_ingest_at), SUM(commit_count) "
                    "FROM repositories")

# Every QueryCache in this process, so one `invalidate_repository` reaches them all.
_live_caches: weakref.WeakSet[QueryCache] = weakref.WeakSet()


class QueryCache:
    """Query results cached per repository generation, kept fresh across processes.

    `store_getter` returns the store whose `repositories` table is the source of truth;
    without one only in-process invalidation applies. `freshness_seconds` bounds how stale
    a result can be after an ingest in another process (0 checks on every lookup).
    `shared` is the optional Redis tier behind the local cache (used only with a
    `store_getter`, whose fingerprints key it); a caller waits at most
    `single_flight_seconds` for another caller's computation of the same key.
    """

    def __init__(self, cache: LRUCache, store_getter: Callable[[], Store] | None = None, *,
                 freshness_seconds: float = 1.0, shared: SharedTier | None = None,
                 single_flight_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cache = cache
        self.shared = shared
        self._store_getter = store_getter
        self.freshness_seconds = freshness_seconds
        self.single_flight_seconds = single_flight_seconds
        self._clock = clock
        self._generations: dict[Hashable, int] = {}
        self._fingerprints: dict[Hashable, tuple] = {}
        self._checked_at: dict[Hashable, float] = {}
        self._flights: dict[Hashable, _Flight] = {}
        self._lock = threading.Lock()
        _live_caches.add(self)

    def generation(self, repo_id: int | None = None) -> int:
        """The current generation of `repo_id` (None: of the all-repositories scope)."""
        scope = ALL_REPOSITORIES if repo_id is None else repo_id
        with self._lock:
            return self._generations.get(scope, 0)

    def invalidate_repository(self, repo_id: int | None) -> None:
        """Start a new generation for `repo_id` and for results spanning all repositories."""
        scopes = {ALL_REPOSITORIES} if repo_id is None else {repo_id, ALL_REPOSITORIES}
        self._new_generation(scopes)
        # The ingest changed the fingerprints too: read them again before the next lookup,
        # or the shared tier would still be asked under the old ones.
        with self._lock:
            for scope in scopes:
                self._fingerprints.pop(scope, None)
                self._checked_at.pop(scope, None)

    def _new_generation(self, scopes: set[Hashable]) -> None:
        with self._lock:
            for scope in scopes:
                self._generations[scope] = self._generations.get(scope, 0) + 1
        self.cache.delete_where(lambda key: isinstance(key, tuple) and len(key) == 3
                                and key[0] in scopes)

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], *,
                       repo_id: int | None = None, shared: bool = False) -> T:
        """The cached result for `key` in `repo_id`'s current generation, else `compute()`.

        With `shared` (for JSON values: lists, dicts, strings, numbers) a local miss asks
        the shared tier before computing, and a computed value is written there for other
        processes; a value that does not survive JSON unchanged is only cached locally.
        Concurrent callers of the same key wait for the first caller's computation (up to
        `single_flight_seconds`); if it fails or takes longer, they compute themselves.
        """
        scope = ALL_REPOSITORIES if repo_id is None else repo_id
        self._sync(scope)
        with self._lock:
            generation = self._generations.get(scope, 0)
            fingerprint = self._fingerprints.get(scope)
        full_key = (scope, generation, key)
        found, value = self.cache.lookup(full_key)
        if found:
            return value
        shared_key = None
        if shared and self.shared is not None and fingerprint is not None:
            shared_key = self.shared.redis_key(scope, fingerprint, key)
        with self._lock:
            flight = self._flights.get(full_key)
            leading = flight is None
            if leading:
                flight = self._flights[full_key] = _Flight()
        if not leading:
            if flight.done.wait(self.single_flight_seconds) and not flight.failed:
                return flight.value
            return self._fill(full_key, shared_key, compute)
        try:
            flight.value = self._fill(full_key, shared_key, compute)
            flight.failed = False
            return flight.value
        finally:
            with self._lock:
                if self._flights.get(full_key) is flight:
                    del self._flights[full_key]
            flight.done.set()

    def _fill(self, full_key: Hashable, shared_key: str | None, compute: Callable[[], T]) -> T:
        if shared_key is not None:
            found, value = self.shared.lookup(shared_key)
            if found:
                self.cache.set(full_key, value)
                return value
        value = compute()
        # An invalidation while computing makes this result stale: file it under the old
        # generation, where nothing will look for it.
        self.cache.set(full_key, value)
        if shared_key is not None:
            self.shared.store(shared_key, value)
        return value

    def _sync(self, scope: Hashable) -> None:
        if self._store_getter is None:
            return
        now = self._clock()
        with self._lock:
            checked = self._checked_at.get(scope)
            if checked is not None and now - checked < self.freshness_seconds:
                return
            self._checked_at[scope] = now
        store = self._store_getter()
        if scope == ALL_REPOSITORIES:
            row = store.query_one(_ALL_FINGERPRINT)
        else:
            row = store.query_one(_REPO_FINGERPRINT, (scope,))
        fingerprint = tuple(row) if row else ("absent",)
        with self._lock:
            previous = self._fingerprints.get(scope)
            self._fingerprints[scope] = fingerprint
            changed = previous is not None and previous != fingerprint
        if changed:
            self._new_generation({scope} if scope == ALL_REPOSITORIES else {scope, ALL_REPOSITORIES})

    def stats(self) -> CacheStats:
        """The underlying cache's statistics."""
        return self.cache.stats()


def cached_query(cache: QueryCache, key: Hashable, fn: Callable[[], T], *,
                 repo_id: int | None = None, shared: bool = False) -> T:
    """`fn()`'s result, cached under `key` until `repo_id` (None: any repository) changes.

    `shared` also shares it with other processes through the cache's Redis tier, if any
    (JSON values only; see `QueryCache.get_or_compute`).
    """
    return cache.get_or_compute(key, fn, repo_id=repo_id, shared=shared)


def invalidate_repository(repo_id: int | None) -> None:
    """Drop cached results of `repo_id` in every QueryCache of this process.

    Call it after an ingest or deletion; other processes notice by themselves.
    """
    for cache in list(_live_caches):
        cache.invalidate_repository(repo_id)

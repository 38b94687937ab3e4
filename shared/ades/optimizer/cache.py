"""An LRU cache with TTL, and query-result caching that an ingest invalidates.

`LRUCache` is a plain bounded mapping with expiry and statistics. `QueryCache` puts it in
front of the database: every cached result is filed under its repository's *generation*,
and a new generation starts when that repository is ingested. In the same process that is
`invalidate_repository(repo_id)`; other workers and pods notice through the database,
because an ingest changes the repository row (`last_ingest_at`, `commit_count`,
`head_commit`) and a `QueryCache` compares that fingerprint at most once per
`freshness_seconds` before answering from memory.

Both are safe across threads and greenlets: locks are held only around dictionary work,
never across I/O or the computation of a value.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from ..metrics import instruments
from ..storage import Store

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
    """

    def __init__(self, cache: LRUCache, store_getter: Callable[[], Store] | None = None, *,
                 freshness_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.cache = cache
        self._store_getter = store_getter
        self.freshness_seconds = freshness_seconds
        self._clock = clock
        self._generations: dict[Hashable, int] = {}
        self._fingerprints: dict[Hashable, tuple] = {}
        self._checked_at: dict[Hashable, float] = {}
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
        with self._lock:
            for scope in scopes:
                self._generations[scope] = self._generations.get(scope, 0) + 1
        self.cache.delete_where(lambda key: isinstance(key, tuple) and len(key) == 3
                                and key[0] in scopes)

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], *,
                       repo_id: int | None = None) -> T:
        """The cached result for `key` in `repo_id`'s current generation, else `compute()`."""
        scope = ALL_REPOSITORIES if repo_id is None else repo_id
        self._sync(scope)
        with self._lock:
            generation = self._generations.get(scope, 0)
        full_key = (scope, generation, key)
        found, value = self.cache.lookup(full_key)
        if found:
            return value
        value = compute()
        # An invalidation while computing makes this result stale: file it under the old
        # generation, where nothing will look for it.
        self.cache.set(full_key, value)
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
            self.invalidate_repository(None if scope == ALL_REPOSITORIES else scope)

    def stats(self) -> CacheStats:
        """The underlying cache's statistics."""
        return self.cache.stats()


def cached_query(cache: QueryCache, key: Hashable, fn: Callable[[], T], *,
                 repo_id: int | None = None) -> T:
    """`fn()`'s result, cached under `key` until `repo_id` (None: any repository) changes."""
    return cache.get_or_compute(key, fn, repo_id=repo_id)


def invalidate_repository(repo_id: int | None) -> None:
    """Drop cached results of `repo_id` in every QueryCache of this process.

    Call it after an ingest or deletion; other processes notice by themselves.
    """
    for cache in list(_live_caches):
        cache.invalidate_repository(repo_id)

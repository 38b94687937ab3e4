"""Resolved API tokens kept in memory, forgotten the moment PostgreSQL says they changed.

Every request with a bearer token used to cost a PostgreSQL round trip to find the token and
its account: about a sixth of a worker's time on a cached search. A `TokenCache` keeps what
`resolve_token` found, for this process only, and a listener (a thread, a greenlet under
gevent) holds a connection that LISTENs on channel `ades_auth`, which a trigger notifies on
every revocation, scope, role or disabled change and deletion (migration 0007). On a
notification the cache is emptied, so a revoked token is refused everywhere within the time
PostgreSQL takes to deliver it (milliseconds).

The cache serves nothing unless the listener is connected: while it is not (PostgreSQL
restarting, the first request of a process), every lookup goes to the database, as before.
Entries also expire after `max_age` seconds, whatever happens. SQLite has no notifications;
stores on it get no cache (their lookups are local anyway).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ades.hardening")

CHANNEL = "ades_auth"
# An upper bound on how long an entry is trusted even if a notification were lost.
DEFAULT_MAX_AGE_SECONDS = 30.0
MAX_ENTRIES = 10_000
_RECONNECT_SECONDS = (0.5, 1, 2, 5, 5)


class TokenCache:
    """Token hash -> what `resolve_token` found, valid while the listener is connected.

    `connect` opens the listening connection (psycopg, autocommit). Lookups and stores are
    safe from any thread or greenlet of the process; after a fork the child starts empty and
    starts its own listener.
    """

    def __init__(self, connect: Callable[[], Any], *, max_age: float = DEFAULT_MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._connect = connect
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Any]] = {}
        self._generation = 0
        self._listening = False
        self._pid: int | None = None
        self._stop = threading.Event()

    @property
    def listening(self) -> bool:
        """Whether notifications are being received (only then is anything served)."""
        return self._listening and self._pid == os.getpid()

    def generation(self) -> int:
        """A number that changes whenever the cache is emptied; pass it back to `put`."""
        self._ensure_listener()
        return self._generation

    def get(self, key: str) -> Any | None:
        """The value stored under `key`, if the listener is up and it is not too old."""
        self._ensure_listener()
        if not self.listening:
            return None
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] > self._max_age:
            return None
        return entry[1]

    def put(self, key: str, value: Any, generation: int) -> None:
        """Keep `value`, read from the database after `generation()` returned `generation`.

        Nothing is kept when the cache was emptied in between: the value may predate the
        change that emptied it.
        """
        with self._lock:
            if not self.listening or generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (self._clock(), value)

    def forget(self) -> None:
        """Empty the cache (a change was notified, or this process made one)."""
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def close(self) -> None:
        """Stop the listener (it exits within a second) and empty the cache."""
        self._stop.set()
        self._listening = False
        self.forget()

    def _ensure_listener(self) -> None:
        if self._pid == os.getpid() or self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child inherits the parent's entries but not its listener thread.
            self._pid = os.getpid()
            self._listening = False
            self._entries.clear()
            self._generation += 1
            threading.Thread(target=self._listen, name="ades-token-cache", daemon=True).start()

    def _listen(self) -> None:
        pid, attempt = os.getpid(), 0
        while not self._stop.is_set() and self._pid == pid:
            if attempt == len(_RECONNECT_SECONDS):
                # The database is gone or refuses us; the next lookup starts a new listener.
                with self._lock:
                    if self._pid == pid:
                        self._pid = None
                return
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Whatever changed before LISTEN took effect is not in a notification.
                    self.forget()
                    self._listening, attempt = True, 0
                    while not self._stop.is_set() and self._pid == pid:
                        for _ in conn.notifies(timeout=1.0):
                            self.forget()
            except Exception as exc:  # noqa: BLE001 - any failure means: serve nothing, retry
                if self._listening:
                    log.warning("token cache: lost the %s listener (%s); looking tokens up "
                                "until it is back", CHANNEL, exc)
            finally:
                self._listening = False
                self.forget()
            self._stop.wait(_RECONNECT_SECONDS[attempt])
            attempt += 1


_caches: dict[str, TokenCache] = {}
_caches_lock = threading.Lock()


def cache_for(store: Any, max_age: float) -> TokenCache | None:
    """The token cache of `store`'s database in this process; None on SQLite or when
    `max_age` is 0 (the cache is switched off)."""
    if max_age <= 0 or getattr(store, "dialect", "") != "postgres":
        return None
    url = store.url
    with _caches_lock:
        cache = _caches.get(url)
        if cache is None:
            cache = _caches[url] = TokenCache(lambda: _listen_connection(url), max_age=max_age)
        return cache


def _listen_connection(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def forget_everywhere() -> None:
    """Empty every token cache of this process: it has just revoked or changed something
    (the notification would do it too, a few milliseconds later)."""
    with _caches_lock:
        caches = list(_caches.values())
    for cache in caches:
        cache.forget()


def close_for(url: str) -> None:
    """Stop the listener of `url`'s cache and drop the cache (the store is closing)."""
    with _caches_lock:
        cache = _caches.pop(url, None)
    if cache is not None:
        cache.close()

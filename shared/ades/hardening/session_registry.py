"""The record of live login sessions, which the active-sessions gauge counts.

A session is live from login until its deadline (idle or absolute timeout, whichever is
first) or its logout. The sessions module reports each login (`opened`), each time a
session's deadline moves (`touched`, at most once a minute per session) and each logout
(`closed`); `count(now)` says how many are live.

Where the record lives follows where the sessions live:

- with Redis (server-side sessions), a sorted set `<prefix>sessions:live`: one member per
  session, scored by its deadline, so sessions that vanish with Redis vanish from the
  count too;
- without Redis (signed-cookie sessions, of which the server otherwise keeps nothing),
  the `login_sessions` table of the database every service shares.

A session is known by a hash of the random nonce set at login (both modes keep it in the
session data), never by its cookie. Recording is best effort: a failing write is logged
and never fails the login or request that caused it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..storage import StorageError, Store

if TYPE_CHECKING:
    import redis

log = logging.getLogger("ades.hardening")

# Ended and expired rows are deleted this long after they stopped counting.
_RETENTION_SECONDS = 86_400


def session_key(nonce: str) -> str:
    """The registry's name for the session whose nonce is `nonce`."""
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()[:40]


class SessionRegistry:
    """Where live sessions are recorded; see the module docstring."""

    def opened(self, key: str, user_id: int, deadline: float) -> None:
        """A session `key` of `user_id` began and lasts until `deadline` unless used."""
        raise NotImplementedError

    def touched(self, key: str, deadline: float) -> None:
        """Session `key` was used: its deadline is now `deadline` (ended ones stay ended)."""
        raise NotImplementedError

    def closed(self, key: str) -> None:
        """Session `key` ended (logout)."""
        raise NotImplementedError

    def count(self, now: float) -> int:
        """Sessions neither ended nor past their deadline at `now`."""
        raise NotImplementedError


class RedisSessionRegistry(SessionRegistry):
    """Live sessions as a Redis sorted set scored by deadline."""

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self.client = client
        self.key = f"{key_prefix}sessions:live"

    def opened(self, key: str, user_id: int, deadline: float) -> None:
        """Add the session with its deadline."""
        self.client.zadd(self.key, {key: deadline})

    def touched(self, key: str, deadline: float) -> None:
        """Move the deadline of a session still in the set (XX: never re-adds one)."""
        self.client.zadd(self.key, {key: deadline}, xx=True)

    def closed(self, key: str) -> None:
        """Remove the session."""
        self.client.zrem(self.key, key)

    def count(self, now: float) -> int:
        """Drop the members whose deadline passed, then count the rest."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(self.key, "-inf", now)
        pipe.zcard(self.key)
        return int(pipe.execute()[1])


class StoreSessionRegistry(SessionRegistry):
    """Live sessions as rows of `login_sessions` in the shared database."""

    def __init__(self, store_getter: Callable[[], Store]) -> None:
        self.store_getter = store_getter

    def opened(self, key: str, user_id: int, deadline: float) -> None:
        """Insert the session's row, and delete rows that stopped counting a day ago."""
        now = time.time()
        with self.store_getter().transaction() as tx:
            tx.execute("DELETE FROM login_sessions WHERE expires_at < ? OR ended_at < ?",
                       (now - _RETENTION_SECONDS, now - _RETENTION_SECONDS))
            tx.execute("INSERT INTO login_sessions (id, user_id, created_at, expires_at) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                       (key, user_id, now, deadline))

    def touched(self, key: str, deadline: float) -> None:
        """Move the deadline of a session not ended."""
        with self.store_getter().transaction() as tx:
            tx.execute("UPDATE login_sessions SET expires_at = ? "
                       "WHERE id = ? AND ended_at IS NULL", (deadline, key))

    def closed(self, key: str) -> None:
        """Mark the session ended now."""
        with self.store_getter().transaction() as tx:
            tx.execute("UPDATE login_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                       (time.time(), key))

    def count(self, now: float) -> int:
        """Rows neither ended nor expired."""
        row = self.store_getter().query_one(
            "SELECT COUNT(*) FROM login_sessions WHERE ended_at IS NULL AND expires_at > ?",
            (now,))
        return int(row[0]) if row else 0


def record_quietly(action: Callable[[], object], what: str) -> None:
    """Run a registry write; a storage or Redis failure is logged, never raised."""
    import redis

    try:
        action()
    except (StorageError, redis.RedisError) as exc:
        log.warning("cannot record %s in the session registry: %s", what, exc)

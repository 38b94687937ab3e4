"""Who is in each room: one entry per open websocket, shared by workers and pods.

With Redis the entries of a room live in the hash `ades:collab:presence:<room>` (field = the
connection's id, value = JSON with an expiry time); each worker refreshes its own entries
periodically, so a worker that dies without saying goodbye drops out after
`ENTRY_TTL_SECONDS`. Without Redis the entries live in this process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any

log = logging.getLogger("ades.collab")

ENTRY_TTL_SECONDS = 60
KEY_PREFIX = "ades:collab:presence:"
_STATUS_RANK = {"active": 0, "idle": 1, "away": 2}


class LocalPresence:
    """Presence entries of this process only."""

    backend = "in-process"

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def put(self, room: str, connection_id: str, entry: dict[str, Any]) -> None:
        """Add or refresh one connection's entry."""
        with self._lock:
            self._rooms.setdefault(room, {})[connection_id] = entry

    def remove(self, room: str, connection_id: str) -> None:
        """Forget one connection's entry."""
        with self._lock:
            entries = self._rooms.get(room, {})
            entries.pop(connection_id, None)
            if not entries:
                self._rooms.pop(room, None)

    def entries(self, room: str) -> list[dict[str, Any]]:
        """The live entries of `room`."""
        with self._lock:
            return list(self._rooms.get(room, {}).values())


class RedisPresence(LocalPresence):
    """Presence entries in Redis; this process's own entries are also kept locally, so a
    Redis outage shrinks the list to this worker's clients instead of failing."""

    backend = "redis"

    def __init__(self, client: Any) -> None:
        super().__init__()
        self._client = client

    def put(self, room: str, connection_id: str, entry: dict[str, Any]) -> None:
        """Add or refresh one connection's entry, with its expiry."""
        import redis

        super().put(room, connection_id, entry)
        value = json.dumps({**entry, "expires_at": time.time() + ENTRY_TTL_SECONDS})
        try:
            pipe = self._client.pipeline()
            pipe.hset(KEY_PREFIX + room, connection_id, value)
            pipe.expire(KEY_PREFIX + room, ENTRY_TTL_SECONDS * 2)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("presence: Redis unavailable (%s); room %s is shown per worker", exc, room)

    def remove(self, room: str, connection_id: str) -> None:
        """Forget one connection's entry."""
        import redis

        super().remove(room, connection_id)
        try:
            self._client.hdel(KEY_PREFIX + room, connection_id)
        except (redis.RedisError, OSError) as exc:
            log.warning("presence: Redis unavailable (%s)", exc)

    def entries(self, room: str) -> list[dict[str, Any]]:
        """The unexpired entries of `room` from every worker (expired ones are removed)."""
        import redis

        try:
            raw = self._client.hgetall(KEY_PREFIX + room)
        except (redis.RedisError, OSError):
            return super().entries(room)
        now, live, stale = time.time(), [], []
        for field, value in raw.items():
            try:
                entry = json.loads(value)
            except ValueError:
                stale.append(field)
                continue
            if entry.get("expires_at", 0) < now:
                stale.append(field)
            else:
                entry.pop("expires_at", None)
                live.append(entry)
        if stale:
            with contextlib.suppress(redis.RedisError, OSError):
                self._client.hdel(KEY_PREFIX + room, *stale)
        return live


def summarize(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per user, sorted by name: their most present status, the focus of their
    most recently active connection, and how many connections they have open."""
    users: dict[str, dict[str, Any]] = {}
    for entry in sorted(entries, key=lambda e: e.get("active_at", 0)):
        name = entry["username"]
        user = users.setdefault(name, {"username": name, "status": "away", "focus": None,
                                       "connections": 0, "active_at": 0})
        user["connections"] += 1
        if _STATUS_RANK.get(entry["status"], 2) < _STATUS_RANK[user["status"]]:
            user["status"] = entry["status"]
        user["focus"] = entry.get("focus")
        user["active_at"] = entry.get("active_at", 0)
    return [users[name] for name in sorted(users)]

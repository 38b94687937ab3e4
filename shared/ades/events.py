"""The event bus: JSON messages per room (one room per repository), across workers and pods.

With Redis, each room is the channel `ades:events:repo:<name>`. A process publishes with
PUBLISH and receives through one subscriber connection (a pattern subscription on
`ades:events:repo:*`, so rooms need no per-room SUBSCRIBE), run by one background thread
(a greenlet under gevent) that reconnects with exponential backoff and jitter when Redis
goes away. Other services (the ui's ingest jobs) publish on the same channels.

Without Redis, `LocalEventBus` delivers inside the process only, and says so in `status()`.

Messages are JSON objects with `type` and `v`; anything else read from a channel is dropped
and counted. Delivery is at-most-once: listeners that need every change keep a cursor (see
`ades.annotations`).
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ades.events")

CHANNEL_PREFIX = "ades:events:repo:"
Listener = Callable[[str, dict[str, Any]], None]


def channel_for(room: str) -> str:
    """The Redis channel of `room` (a repository name)."""
    return CHANNEL_PREFIX + room


def decode_message(data: Any) -> dict[str, Any] | None:
    """The message in `data` (bytes or str of a JSON object with `type` and `v`), or None."""
    try:
        message = json.loads(data)
    except (TypeError, ValueError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str) \
            or not isinstance(message.get("v"), int):
        return None
    return message


class EventBus:
    """Room-based publish/subscribe; listeners are called as `listener(room, message)`.

    Listeners run on the bus's delivery thread and must not block (queue the message).
    """

    backend = "none"

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._lock = threading.Lock()
        self.delivered = 0
        self.dropped = 0

    def subscribe(self, room: str, listener: Listener) -> Callable[[], None]:
        """Call `listener` for every message in `room`; returns the function that stops it."""
        with self._lock:
            self._listeners[room].append(listener)

        def unsubscribe() -> None:
            with self._lock:
                listeners = self._listeners.get(room, [])
                if listener in listeners:
                    listeners.remove(listener)
                if not listeners:
                    self._listeners.pop(room, None)

        return unsubscribe

    def publish(self, room: str, message: dict[str, Any]) -> None:
        """Send `message` (a JSON object with `type` and `v`) to everyone in `room`."""
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        """What `/api/health/detailed` reports about this bus."""
        return {"backend": self.backend, "delivered": self.delivered, "dropped": self.dropped}

    def close(self) -> None:
        """Stop delivering; listeners are forgotten."""
        with self._lock:
            self._listeners.clear()

    def _deliver(self, room: str, message: dict[str, Any]) -> None:
        with self._lock:
            listeners = list(self._listeners.get(room, ()))
        for listener in listeners:
            try:
                listener(room, message)
            except Exception:  # one broken listener must not starve the others
                log.exception("event listener failed in room %s", room)
        self.delivered += 1


class LocalEventBus(EventBus):
    """Delivery inside this process only: clients of other workers and pods miss it."""

    backend = "in-process"

    def publish(self, room: str, message: dict[str, Any]) -> None:
        """Deliver `message` to this process's listeners of `room`, synchronously."""
        self._deliver(room, message)

    def status(self) -> dict[str, Any]:
        """The in-process bus is always up, but reaches only this worker's clients."""
        return {**super().status(), "connected": True, "scope": "this worker process only"}


class RedisEventBus(EventBus):
    """Delivery through Redis pub/sub: every process subscribed to the room's channel gets it.

    `client_factory()` returns a new `redis.Redis`; the publisher and the subscriber use
    separate clients because a subscribed connection can do nothing else.
    """

    backend = "redis"
    MIN_BACKOFF_SECONDS = 0.1
    MAX_BACKOFF_SECONDS = 5.0

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        super().__init__()
        self._factory = client_factory
        self._publisher = client_factory()
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self.connected = False
        self.reconnects = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="ades-event-bus", daemon=True)
        self._thread.start()

    def wait_until_subscribed(self, timeout: float) -> bool:
        """Block until the subscriber listens (True) or `timeout` seconds pass (False)."""
        return self._subscribed.wait(timeout)

    def publish(self, room: str, message: dict[str, Any]) -> None:
        """PUBLISH `message` on the room's channel; raises redis.RedisError when Redis is down."""
        self._publisher.publish(channel_for(room), json.dumps(message, separators=(",", ":")))

    def status(self) -> dict[str, Any]:
        """Connection state, reconnect count and the last error of the subscriber."""
        return {**super().status(), "connected": self.connected, "reconnects": self.reconnects,
                "last_error": self.last_error, "channel_pattern": CHANNEL_PREFIX + "*"}

    def close(self) -> None:
        """Stop the subscriber thread and close both connections."""
        self._stopping.set()
        super().close()
        self._publisher.close()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        import redis

        backoff = self.MIN_BACKOFF_SECONDS
        while not self._stopping.is_set():
            client = self._factory()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(CHANNEL_PREFIX + "*")
                self.connected = True
                self._subscribed.set()
                backoff = self.MIN_BACKOFF_SECONDS
                while not self._stopping.is_set():
                    item = pubsub.get_message(timeout=1.0)
                    if item is not None and item.get("type") == "pmessage":
                        self._dispatch(item)
            except (redis.RedisError, OSError) as exc:
                self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if not self._stopping.is_set():
                    log.warning("event bus lost Redis (%s); reconnecting in %.1f s",
                                self.last_error, backoff)
            finally:
                self.connected = False
                self._subscribed.clear()
                try:
                    pubsub.close()
                    client.close()
                except (redis.RedisError, OSError):
                    pass
            if self._stopping.wait(backoff * random.uniform(0.5, 1.0)):
                break
            self.reconnects += 1
            backoff = min(backoff * 2, self.MAX_BACKOFF_SECONDS)

    def _dispatch(self, item: dict[str, Any]) -> None:
        channel = item["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        message = decode_message(item["data"])
        if message is None:
            self.dropped += 1
            log.warning("dropped a malformed event on %s", channel)
            return
        self._deliver(channel[len(CHANNEL_PREFIX):], message)


def create_event_bus(redis_url: str | None, *, timeout: float = 2.0) -> EventBus:
    """A Redis bus for `redis_url`, or the in-process bus when it is None."""
    if not redis_url:
        return LocalEventBus()
    import redis

    def factory() -> Any:
        # No socket timeout on reads: the subscriber polls with its own timeout.
        return redis.Redis.from_url(redis_url, socket_connect_timeout=timeout,
                                    socket_timeout=timeout + 3, health_check_interval=30)

    return RedisEventBus(factory)


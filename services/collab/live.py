"""Live rooms: the websocket connections of this worker, presence, and fan-out via the bus.

One `Hub` per worker process (created on first use, after gunicorn's fork) holds the open
`Connection`s by room, one event-bus subscriber and one presence refresher. A message for a
room goes to the bus; the bus hands it to every worker's hub that has clients in that room,
which encodes it once and queues it on each connection's outbox. Each connection has its own
sender (a greenlet under gevent), so a slow client delays only itself, and one whose outbox
overflows is closed.

Presence changes are announced on the bus as `presence.changed` (never shown to clients);
every hub then re-reads the room's entries and sends its clients one `presence` message. A
burst of joins is coalesced into one refresh per `PRESENCE_COALESCE_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
import weakref
from typing import Any

from ades.events import EventBus, create_event_bus

from .presence import LocalPresence, RedisPresence, summarize

log = logging.getLogger("ades.collab")

HUB_KEY = "ades.collab.hub"
# Below any gateway's idle read timeout (nginx's default is 60 s; ours is longer).
PING_INTERVAL_SECONDS = 20
MAX_MESSAGE_BYTES = 64 * 1024
MESSAGES_PER_SECOND = 20
MESSAGE_BURST = 40
# A client whose messages keep being refused is not a client we want to keep serving.
MAX_REFUSED_MESSAGES = 200
OUTBOX_LIMIT = 5000
# Changes kept track of above a missing one, before the missing one is given up.
MAX_OUT_OF_ORDER = 1000
IDLE_AFTER_SECONDS = 120
PRESENCE_REFRESH_SECONDS = 15
PRESENCE_COALESCE_SECONDS = 0.05
CLOSE_SERVICE_RESTART = 1012
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
PROTOCOL_VERSION = 1
_INTERNAL_TYPES = frozenset({"presence.changed"})
_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()
_hub_creation = threading.Lock()


def message(kind: str, **fields: Any) -> dict[str, Any]:
    """A server message: a JSON object with `type` and `v` first."""
    return {"type": kind, "v": PROTOCOL_VERSION, **fields}


def _outbox() -> Any:
    """A bounded FIFO for one client: gevent's (no locks to take) in a gevent worker."""
    from ades.service.deadline import gevent_active

    if gevent_active():
        from gevent.queue import Queue

        return Queue(OUTBOX_LIMIT)
    return queue.Queue(OUTBOX_LIMIT)


class Connection:
    """One open websocket in a room: its user, presence state, outbox and rate limit."""

    def __init__(self, ws: Any, *, room: str, repo_id: int, username: str, role: str,
                 can_write: bool) -> None:
        self.ws = ws
        self.id = uuid.uuid4().hex
        self.room = room
        self.repo_id = repo_id
        self.username = username
        self.role = role
        self.can_write = can_write
        self.focus: dict[str, str] | None = None
        self.away = False
        self.active_at = time.time()
        self.cursor = 0  # every change up to this one has been sent
        self._sent_above: set[int] = set()  # changes after `cursor` sent out of order
        self.closed = False
        self._outbox = _outbox()
        self._tokens = float(MESSAGE_BURST)
        self._tokens_at = time.monotonic()
        self.refused = 0
        self._last_refusal_notice = 0.0
        self._held: list[tuple[int, str]] | None = None
        self._lock = threading.Lock()
        self._sender = threading.Thread(target=self._send_loop, name=f"ws-send-{self.id[:8]}",
                                         daemon=True)
        self._sender.start()

    @property
    def status(self) -> str:
        """`away` (the client said so), `idle` (no message for a while) or `active`."""
        if self.away:
            return "away"
        return "idle" if time.time() - self.active_at > IDLE_AFTER_SECONDS else "active"

    def presence_entry(self) -> dict[str, Any]:
        """This connection's presence entry."""
        return {"connection": self.id, "username": self.username, "status": self.status,
                "focus": self.focus, "active_at": self.active_at}

    def send(self, payload: dict[str, Any]) -> None:
        """Queue one message for this client."""
        self.send_text(json.dumps(payload, separators=(",", ":")))

    def send_text(self, text: str) -> None:
        """Queue one encoded message; a client too slow to keep up is disconnected."""
        self._put(("text", text))

    def deliver_change(self, cursor: int, text: str) -> None:
        """Queue an annotation change unless this client already has it (by cursor).

        Writers on different workers commit consecutive cursors but publish them
        independently, so change N+1 may arrive before N: N is still sent.
        While the connection catches up, live changes are held and sent after the replay.
        """
        with self._lock:
            if self._held is not None:
                self._held.append((cursor, text))
                return
            if cursor <= self.cursor or cursor in self._sent_above:
                return
            self._sent_above.add(cursor)
            if len(self._sent_above) > MAX_OUT_OF_ORDER:
                # A change that never arrives (a failed publish) must not grow the set: give
                # up waiting for it; the client catches up by cursor.
                self.cursor = min(self._sent_above) - 1
            while self.cursor + 1 in self._sent_above:
                self.cursor += 1
                self._sent_above.discard(self.cursor)
        self.send_text(text)

    def begin_catch_up(self) -> None:
        """Hold live annotation changes until `end_catch_up`."""
        with self._lock:
            self._held = []

    def end_catch_up(self, replayed_to: int) -> None:
        """Note that changes up to `replayed_to` were sent, then release the held ones."""
        with self._lock:
            held, self._held = self._held or [], None
            self.cursor = max(self.cursor, replayed_to)
            self._sent_above = {c for c in self._sent_above if c > self.cursor}
        for cursor, text in sorted(held):
            self.deliver_change(cursor, text)

    def allow_message(self) -> bool:
        """Token bucket: True when the client may send another message now."""
        now = time.monotonic()
        self._tokens = min(MESSAGE_BURST, self._tokens + (now - self._tokens_at) * MESSAGES_PER_SECOND)
        self._tokens_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.refused += 1
        return False

    def should_notify_refusal(self) -> bool:
        """At most one "rate limited" error frame per second, so a flood is not echoed."""
        now = time.monotonic()
        if now - self._last_refusal_notice >= 1.0:
            self._last_refusal_notice = now
            return True
        return False

    def close(self, code: int, reason: str, notice: dict[str, Any] | None = None) -> None:
        """Send `notice` (if any), then a close frame with `code` and `reason`."""
        if notice is not None:
            self.send(notice)
        self._put(("close", (code, reason)), force=True)

    def stop(self, timeout: float = 5.0) -> None:
        """Let the sender flush what is queued (a close frame included), then end it."""
        self._put(("stop", None), force=True)
        self.closed = True
        self._sender.join(timeout)

    def _put(self, item: tuple[str, Any], force: bool = False) -> None:
        if self.closed and not force:
            return
        try:
            self._outbox.put_nowait(item)
        except queue.Full:
            if force:
                self._drain_and_put(item)
                return
            log.warning("closing a websocket that cannot keep up (user %s, room %s)",
                        self.username, self.room)
            self._drain_and_put(("close", (CLOSE_TRY_AGAIN_LATER, "too slow; reconnect")))

    def _drain_and_put(self, item: tuple[str, Any]) -> None:
        while True:
            try:
                self._outbox.get_nowait()
            except queue.Empty:
                break
        self._outbox.put_nowait(item)

    def _send_loop(self) -> None:
        from simple_websocket import ConnectionClosed

        while True:
            kind, value = self._outbox.get()
            if kind == "stop":
                return
            try:
                if kind == "text":
                    self.ws.send(value)
                else:
                    self.closed = True
                    self.ws.close(reason=value[0], message=value[1])
                    return
            except (ConnectionClosed, OSError):
                self.closed = True
                return


class Hub:
    """This worker's rooms, fan-out and presence."""

    def __init__(self, bus: EventBus, presence: LocalPresence) -> None:
        self.bus = bus
        self.presence = presence
        self._rooms: dict[str, set[Connection]] = {}
        self._unsubscribe: dict[str, Any] = {}
        self._pending_refresh: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_loop, name="ades-presence",
                                           daemon=True)
        self._refresher.start()
        _hubs.add(self)

    # -- membership --------------------------------------------------------------------------
    def join(self, connection: Connection) -> None:
        """Add `connection` to its room and announce it."""
        with self._lock:
            members = self._rooms.setdefault(connection.room, set())
            members.add(connection)
            if connection.room not in self._unsubscribe:
                self._unsubscribe[connection.room] = self.bus.subscribe(connection.room,
                                                                       self._on_event)
        self.presence.put(connection.room, connection.id, connection.presence_entry())
        self.announce_presence(connection.room)

    def leave(self, connection: Connection) -> None:
        """Remove `connection` from its room, announce it, and flush its last frames."""
        with self._lock:
            members = self._rooms.get(connection.room, set())
            members.discard(connection)
            if not members:
                self._rooms.pop(connection.room, None)
                unsubscribe = self._unsubscribe.pop(connection.room, None)
                if unsubscribe is not None:
                    unsubscribe()
        self.presence.remove(connection.room, connection.id)
        self.announce_presence(connection.room)
        connection.stop()

    def update_presence(self, connection: Connection) -> None:
        """Publish a changed focus or status of `connection`."""
        self.presence.put(connection.room, connection.id, connection.presence_entry())
        self.announce_presence(connection.room)

    def connections(self, room: str | None = None) -> list[Connection]:
        """This worker's open connections (in `room`, or all)."""
        with self._lock:
            if room is not None:
                return list(self._rooms.get(room, ()))
            return [c for members in self._rooms.values() for c in members]

    # -- fan-out -----------------------------------------------------------------------------
    def publish(self, room: str, payload: dict[str, Any]) -> None:
        """Send `payload` to everyone in `room` on every worker and pod.

        When Redis is configured but unreachable, this worker's clients still get it;
        the others catch up by cursor when they reconnect.
        """
        try:
            self.bus.publish(room, payload)
        except Exception as exc:  # redis.RedisError or OSError; redis may not be installed
            log.warning("event bus publish failed (%s); delivering to this worker only", exc)
            self._on_event(room, payload)

    def announce_presence(self, room: str) -> None:
        """Tell every worker that `room`'s presence changed."""
        self.publish(room, message("presence.changed", repo=room))

    def presence_message(self, room: str) -> dict[str, Any]:
        """The `presence` message of `room` as every worker sees it now."""
        entries = self.presence.entries(room)
        return message("presence", repo=room, users=summarize(entries),
                       connections=len(entries))

    def _on_event(self, room: str, payload: dict[str, Any]) -> None:
        if payload.get("type") in _INTERNAL_TYPES:
            with self._lock:
                first = room not in self._pending_refresh
                self._pending_refresh.add(room)
            if first:
                threading.Timer(PRESENCE_COALESCE_SECONDS, self._send_presence, (room,)).start()
            return
        text = json.dumps(payload, separators=(",", ":"))
        cursor = payload.get("cursor")
        is_change = str(payload.get("type", "")).startswith("annotation.") and \
            isinstance(cursor, int)
        for connection in self.connections(room):
            if is_change:
                connection.deliver_change(cursor, text)
            else:
                connection.send_text(text)

    def _send_presence(self, room: str) -> None:
        with self._lock:
            self._pending_refresh.discard(room)
        if not self.connections(room):
            return
        text = json.dumps(self.presence_message(room), separators=(",", ":"))
        for connection in self.connections(room):
            connection.send_text(text)

    def _refresh_loop(self) -> None:
        # Keeps this worker's entries from expiring and turns quiet clients idle.
        statuses: dict[str, str] = {}
        while not self._stopping.wait(PRESENCE_REFRESH_SECONDS):
            changed_rooms = set()
            for connection in self.connections():
                self.presence.put(connection.room, connection.id, connection.presence_entry())
                if statuses.get(connection.id, connection.status) != connection.status:
                    changed_rooms.add(connection.room)
                statuses[connection.id] = connection.status
            live = {c.id for c in self.connections()}
            statuses = {k: v for k, v in statuses.items() if k in live}
            for room in changed_rooms:
                self.announce_presence(room)

    # -- lifecycle ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The bus, presence backend and this worker's open connections, for health."""
        return {**self.bus.status(), "presence": self.presence.backend,
                "rooms": len(self._rooms), "connections": len(self.connections())}

    def shutdown(self, reason: str = "server restarting") -> None:
        """Tell every client to reconnect and close its socket (code 1012)."""
        for connection in self.connections():
            connection.close(CLOSE_SERVICE_RESTART, reason,
                             notice=message("reconnect", reason=reason,
                                            retry_after_ms=1000))

    def close(self) -> None:
        """Stop the refresher and the bus (tests and app teardown)."""
        self._stopping.set()
        self.bus.close()


def hub_for(app: Any) -> Hub:
    """The app's hub, created on first use (in the worker, after the fork)."""
    hub = app.extensions.get(HUB_KEY)
    if hub is not None:
        return hub
    with _hub_creation:
        hub = app.extensions.get(HUB_KEY)
        if hub is not None:
            return hub
        from ades.service import service_context

        context = service_context(app)
        redis_url = context.config.server.redis_url
        presence = RedisPresence(context.redis_client()) if redis_url else LocalPresence()
        hub = Hub(create_event_bus(redis_url), presence)
        app.extensions[HUB_KEY] = hub
    return hub


def shutdown_all(reason: str = "server restarting") -> int:
    """Close every websocket of this process with a reconnect notice; returns how many."""
    count = 0
    for hub in list(_hubs):
        count += len(hub.connections())
        hub.shutdown(reason)
    return count


def install_sigterm_handler(worker: Any) -> None:
    """gunicorn `post_worker_init` hook: on SIGTERM also close this worker's websockets.

    gunicorn's gevent worker waits up to `graceful_timeout` for open handlers, and an open
    websocket is one: telling clients to reconnect lets the worker drain at once.
    """
    import signal

    import gevent

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        gevent.spawn(shutdown_all, "server shutting down; reconnect")

    signal.signal(signal.SIGTERM, on_term)
    worker.log.debug("collab: SIGTERM closes websockets with code %d", CLOSE_SERVICE_RESTART)


def describe_fanout(hub: Hub | None, app: Any) -> dict[str, Any]:
    """The `collaboration` section of `/api/health/detailed`: how messages reach other
    workers and pods, and (once a client connected) the bus and room state of this worker."""
    from ades.service import service_context

    uses_redis = service_context(app).config.uses_redis
    described = {"fanout": "redis" if uses_redis else "in-process",
                 "cross_process": uses_redis}
    if not uses_redis:
        described["warning"] = ("no GAIT_REDIS_URL: presence, annotations and events reach "
                                "only clients of the same worker process")
    if hub is None:
        return {**described, "started": False}
    return {**described, "started": True, **hub.status()}

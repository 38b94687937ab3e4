"""A connection sends every annotation change once, even when changes arrive out of order.

Writers on two workers commit consecutive cursors but publish them independently, so the
Redis fan-out may bring change 8 before change 7 (the load benchmark saw it happen).
"""

from __future__ import annotations

import json
import threading
import time

from services.collab.live import MAX_OUT_OF_ORDER, Connection


class RecordingSocket:
    """Stands in for the websocket: records what the connection's sender writes."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def send(self, text: str) -> None:
        with self.lock:
            self.sent.append(json.loads(text)["cursor"])

    def close(self, reason: int, message: str) -> None:
        pass


def _connection() -> tuple[Connection, RecordingSocket]:
    ws = RecordingSocket()
    return Connection(ws, room="orders", repo_id=1, username="vera", role="viewer",
                      can_write=True), ws


def _deliver(connection: Connection, *cursors: int) -> None:
    for cursor in cursors:
        connection.deliver_change(cursor, json.dumps({"type": "annotation.created", "cursor": cursor}))


def _sent(connection: Connection, ws: RecordingSocket, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while len(ws.sent) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    connection.stop()
    return ws.sent


def test_a_change_that_arrives_after_a_later_one_is_still_sent_and_none_twice():
    connection, ws = _connection()
    _deliver(connection, 1, 3, 2, 3, 1, 5, 4, 6)
    assert _sent(connection, ws, 6) == [1, 3, 2, 5, 4, 6]
    assert connection.cursor == 6


def test_changes_replayed_by_a_catch_up_are_not_sent_again_live():
    connection, ws = _connection()
    _deliver(connection, 1, 4)
    connection.begin_catch_up()
    _deliver(connection, 5, 3)
    connection.end_catch_up(4)  # the replay sent changes 2 to 4
    _deliver(connection, 3, 6, 2)
    assert _sent(connection, ws, 4) == [1, 4, 5, 6]


def test_a_change_that_never_arrives_is_given_up_after_enough_later_ones():
    connection, ws = _connection()
    _deliver(connection, *range(2, MAX_OUT_OF_ORDER + 3))  # change 1 never comes
    assert connection.cursor == MAX_OUT_OF_ORDER + 2
    _deliver(connection, 1)  # far too late: already given up on
    assert _sent(connection, ws, MAX_OUT_OF_ORDER + 1) == list(range(2, MAX_OUT_OF_ORDER + 3))

"""The event bus: in-process delivery, and Redis pub/sub across processes' subscribers with
reconnection after Redis restarts (a throwaway redis-server, never the shared one)."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess

import pytest
from ades.events import LocalEventBus, channel_for, create_event_bus, decode_message
from service_runner import wait_until as _wait


def test_the_local_bus_delivers_to_the_rooms_listeners_only_and_says_it_is_per_process():
    bus = LocalEventBus()
    got = []
    stop = bus.subscribe("payments", lambda room, m: got.append((room, m["type"])))
    bus.subscribe("search", lambda room, m: got.append((room, "wrong room")))
    bus.publish("payments", {"type": "ingest.progress", "v": 1})
    stop()
    bus.publish("payments", {"type": "ingest.finished", "v": 1})
    assert got == [("payments", "ingest.progress")]
    assert bus.status()["backend"] == "in-process"
    assert "only" in bus.status()["scope"]


@pytest.mark.parametrize("data", [b"not json", b"[1]", b'{"type": 3, "v": 1}',
                                  b'{"type": "x"}', b'{"type": "x", "v": "1"}'])
def test_messages_without_a_string_type_and_an_integer_version_are_rejected(data):
    assert decode_message(data) is None


def _start_redis(tmp_path, port):
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_redis_buses_share_rooms_drop_garbage_and_reconnect_after_redis_restarts(tmp_path):
    import redis
    from pgserver import free_port

    port = free_port()
    server = _start_redis(tmp_path, port)
    url = f"redis://127.0.0.1:{port}/0"
    raw = redis.Redis.from_url(url, socket_connect_timeout=1)
    assert _wait(lambda: _pings(raw))
    first, second = create_event_bus(url), create_event_bus(url)
    try:
        assert first.wait_until_subscribed(5) and second.wait_until_subscribed(5)
        received = queue.Queue()
        second.subscribe("payments", lambda room, m: received.put((room, m)))
        # What another service (the ui's ingest job) publishes on the fixed channel.
        raw.publish(channel_for("payments"), b"garbage")
        raw.publish(channel_for("payments"), json.dumps(
            {"type": "ingest.progress", "v": 1, "repo": "payments", "job": 7, "done": 10,
             "total": 40}))
        first.publish("payments", {"type": "annotation.created", "v": 1, "cursor": 1})
        assert received.get(timeout=5)[1]["type"] == "ingest.progress"
        assert received.get(timeout=5)[1]["type"] == "annotation.created"
        assert _wait(lambda: second.status()["dropped"] == 1)

        server.terminate()
        server.wait(10)
        assert _wait(lambda: not second.status()["connected"])
        with pytest.raises(redis.RedisError):
            first.publish("payments", {"type": "x", "v": 1})
        server = _start_redis(tmp_path, port)
        assert _wait(lambda: second.status()["connected"] and first.status()["connected"],
                     timeout=20)
        assert second.status()["reconnects"] >= 1 and second.status()["last_error"]
        first.publish("payments", {"type": "annotation.created", "v": 1, "cursor": 2})
        assert received.get(timeout=5)[1]["cursor"] == 2
    finally:
        first.close()
        second.close()
        raw.close()
        server.terminate()
        server.wait(10)


def _pings(client):
    import redis

    try:
        return client.ping()
    except redis.RedisError:
        return False

"""A websocket test client (websocket-client) that records every message with its arrival time,
and the fixtures' building blocks for running collab under gunicorn with a private Redis."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import websocket


class WsClient:
    """One websocket; a reader thread appends `(arrival, message)` to `received`."""

    def __init__(self, url: str, *, token: str | None = None, cookie: str | None = None,
                 origin: str | None = None, timeout: float = 10) -> None:
        headers = []
        if token:
            headers.append(f"Authorization: Bearer {token}")
        options = {"origin": origin} if origin else {}
        self.ws = websocket.create_connection(url, header=headers, cookie=cookie,
                                              timeout=timeout, **options)
        self.received: list[tuple[float, dict]] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = threading.Event()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                opcode, frame = self.ws.recv_data_frame(True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    data = frame.data or b""
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    self.close_reason = data[2:].decode("utf-8", "replace")
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    with self._changed:
                        self.received.append((time.monotonic(), json.loads(frame.data)))
                        self._changed.notify_all()
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            self.closed.set()
            with self._changed:
                self._changed.notify_all()

    def send(self, message: dict | str | bytes) -> None:
        """Send a JSON object (or raw text/bytes, for bad input)."""
        if isinstance(message, dict):
            self.ws.send(json.dumps(message))
        elif isinstance(message, bytes):
            self.ws.send_binary(message)
        else:
            self.ws.send(message)

    def messages(self, kind: str | None = None) -> list[dict]:
        """The messages received so far (of type `kind`)."""
        with self._changed:
            return [m for _, m in self.received if kind is None or m["type"] == kind]

    def wait_for(self, predicate, timeout: float = 10) -> dict:
        """The first received message satisfying `predicate`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for _, message in self.received:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0 or (self.closed.is_set() and not left):
                    raise AssertionError(f"no matching message within {timeout} s; got "
                                         f"{[m['type'] for _, m in self.received][-20:]}")
                self._changed.wait(min(left, 0.5))

    def arrival_of(self, predicate) -> float | None:
        """When the first message satisfying `predicate` arrived (monotonic), or None."""
        with self._changed:
            return next((at for at, m in self.received if predicate(m)), None)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with contextlib.suppress(Exception):
            self.ws.close(timeout=1)
        self._reader.join(timeout=5)
        # close() leaves the socket open when the server closed first; shutdown() never does.
        self.ws.shutdown()


@dataclass
class PrivateRedis:
    """A redis-server of this test run only, so channels and keys meet no other test."""

    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_private_redis(directory: Path) -> PrivateRedis:
    """Start redis-server on a free port without persistence; raises when it is missing."""
    import redis
    from pgserver import free_port

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(directory)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.05)
    client.close()
    return PrivateRedis(url, process)


"""Websocket traffic for `make bench-load`: N clients in one repository's room, through the gateway.

Run by bench/load.py as a separate process next to wrk (so the clients' Python work does
not share an interpreter with the measurement). Each client connects to
`/ws/repos/<name>` through the nginx gateway from its own loopback address (127.0.0.2, so
nginx counts it as another client than wrk) with the session cookie of one of the
benchmark's viewer accounts, then, until the time is up:

- every second or so (jittered) moves its presence focus to another commit, or toggles
  its status between active and away;
- every ANNOTATION_PERIOD seconds (staggered over the clients) runs one annotation's life:
  create -> edit -> resolve -> delete, each acknowledged by the server; the creation must
  reach every other client as `annotation.created` (the fan-out).

Prints one line `ADES_WS_RESULT {json}`: connections, messages sent and received, acks and
their latency, fan-out latency (creation sent -> received by each other client) and
errors (failed handshakes, `error` messages, missing acks or fan-out, unexpected closes).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import websocket  # noqa: E402

ANNOTATION_PERIOD = 10.0
ACK_TIMEOUT = 10.0
FANOUT_TIMEOUT = 10.0
RESULT_MARK = "ADES_WS_RESULT "


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


class Totals:
    """Counters shared by every client of this process (gevent: no locks needed)."""

    def __init__(self) -> None:
        self.sent = self.received = self.connected = 0
        self.errors: dict[str, int] = {}
        self.ack_ms: list[float] = []
        self.fanout_ms: list[float] = []
        self.annotations = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Client:
    """One websocket in the room, with a reader greenlet."""

    ids = itertools.count(1)

    def __init__(self, url: str, cookie: str, source_ip: str, totals: Totals) -> None:
        self.n = next(self.ids)
        self.totals = totals
        parts = urllib.parse.urlsplit(url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=30,
                                        source_address=(source_ip, 0))
        self.ws = websocket.create_connection(url, header=[f"Cookie: {cookie}"], socket=sock,
                                              timeout=30, skip_utf8_validation=True)
        self.acks: dict[str, gevent.event.AsyncResult] = {}
        self.created_seen: dict[str, float] = {}
        self.closing = False
        self.reader = gevent.spawn(self._read)

    def send(self, payload: dict) -> None:
        self.ws.send(json.dumps(payload))
        self.totals.sent += 1

    def request(self, payload: dict) -> dict | None:
        """Send a message that the server acknowledges; the ack, or None after ACK_TIMEOUT."""
        request_id = f"c{self.n}-{next(self.ids)}"
        waiter = self.acks[request_id] = gevent.event.AsyncResult()
        started = time.monotonic()
        self.send({**payload, "request_id": request_id})
        try:
            reply = waiter.get(timeout=ACK_TIMEOUT)
        except gevent.Timeout:
            self.totals.error("ack missing")
            return None
        finally:
            self.acks.pop(request_id, None)
        if reply.get("type") != "ack":
            self.totals.error(f"error reply: {reply.get('code')}")
            return None
        self.totals.ack_ms.append((time.monotonic() - started) * 1000)
        return reply

    def _read(self) -> None:
        try:
            while True:
                message = json.loads(self.ws.recv())
                self.totals.received += 1
                kind = message.get("type")
                if kind == "annotation.created":
                    self.created_seen[message["annotation"]["body"]] = time.monotonic()
                elif kind in ("ack", "error") and message.get("request_id") in self.acks:
                    self.acks[message["request_id"]].set(message)
                elif kind == "error":
                    self.totals.error(f"error message: {message.get('code')}")
                elif kind == "reconnect":
                    self.totals.error("told to reconnect")
        except (websocket.WebSocketException, OSError, ValueError):
            if not self.closing:
                self.totals.error("connection closed unexpectedly")

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self.ws.close(timeout=2)
        self.reader.kill()


def annotation_life(client: Client, others: list[Client], commit: str, totals: Totals) -> None:
    """Create, edit, resolve and delete one annotation; time the creation's fan-out."""
    body = f"load benchmark note {client.n}-{time.monotonic_ns()}"
    sent = time.monotonic()
    created = client.request({"type": "annotation.create", "v": 1,
                              "target": {"kind": "commit", "id": commit}, "body": body})
    if created is None:
        return
    totals.annotations += 1
    deadline = time.monotonic() + FANOUT_TIMEOUT
    waiting = list(others)
    while waiting and time.monotonic() < deadline:
        waiting = [c for c in waiting if body not in c.created_seen]
        gevent.sleep(0.01)
    for other in others:
        seen = other.created_seen.pop(body, None)
        if seen is None:
            totals.error("fan-out missing")
        else:
            totals.fanout_ms.append((seen - sent) * 1000)
    client.created_seen.pop(body, None)
    ident = created["annotation_id"]
    for step in ({"type": "annotation.edit", "id": ident, "body": body + " (edited)"},
                 {"type": "annotation.resolve", "id": ident, "resolved": True},
                 {"type": "annotation.delete", "id": ident}):
        if client.request({**step, "v": 1}) is None:
            return


def behave(client: Client, clients: list[Client], commits: list[str], until: float,
           totals: Totals, rng: random.Random) -> None:
    """One client's activity until `until`: presence moves and annotation lives."""
    next_annotation = time.monotonic() + rng.uniform(0, ANNOTATION_PERIOD)
    away = False
    while time.monotonic() < until:
        if time.monotonic() >= next_annotation:
            annotation_life(client, [c for c in clients if c is not client], rng.choice(commits),
                            totals)
            next_annotation += ANNOTATION_PERIOD
        elif rng.random() < 0.8:
            client.send({"type": "focus", "v": 1,
                         "target": {"kind": "commit", "id": rng.choice(commits)}})
        else:
            away = not away
            client.send({"type": "status", "v": 1, "status": "away" if away else "active"})
        gevent.sleep(rng.uniform(0.5, 1.5))


def main() -> int:
    """Connect, behave for --seconds, print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://gateway/ws/repos/<name>")
    parser.add_argument("--sessions", required=True,
                        help="JSON file: a list of Cookie header values, one per account")
    parser.add_argument("--commits", required=True, help="file of commit hashes, one a line")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--source-ip", default="127.0.0.2")
    args = parser.parse_args()
    with open(args.sessions) as f:
        cookies = json.load(f)
    with open(args.commits) as f:
        commits = [line.strip() for line in f if line.strip()]
    totals = Totals()
    clients: list[Client] = []
    for i in range(args.clients):
        try:
            clients.append(Client(args.url, cookies[i % len(cookies)], args.source_ip, totals))
            totals.connected += 1
        except (websocket.WebSocketException, OSError) as exc:
            totals.error(f"handshake failed: {str(exc)[:60]}")
    started = time.monotonic()
    until = started + args.seconds
    rng = random.Random(7)
    workers = [gevent.spawn(behave, c, clients, commits, until, totals,
                            random.Random(rng.random())) for c in clients]
    gevent.joinall(workers, timeout=args.seconds + ACK_TIMEOUT * 5 + FANOUT_TIMEOUT)
    for worker in workers:
        if not worker.successful() and worker.exception is not None:
            totals.error(f"client failed: {type(worker.exception).__name__}")
    elapsed = time.monotonic() - started
    for client in clients:
        client.close()
    result = {"clients": args.clients, "connected": totals.connected, "seconds": round(elapsed, 1),
              "sent": totals.sent, "received": totals.received, "annotations": totals.annotations,
              "acks": len(totals.ack_ms), "errors": sum(totals.errors.values()),
              "error_kinds": totals.errors,
              "ack_p50_ms": percentile(totals.ack_ms, 0.5), "ack_p95_ms": percentile(totals.ack_ms, 0.95),
              "ack_p99_ms": percentile(totals.ack_ms, 0.99),
              "fanout_n": len(totals.fanout_ms), "fanout_p50_ms": percentile(totals.fanout_ms, 0.5),
              "fanout_p95_ms": percentile(totals.fanout_ms, 0.95),
              "fanout_p99_ms": percentile(totals.fanout_ms, 0.99)}
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

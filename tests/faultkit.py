"""Throwaway data stores that fault tests may stop and start, and a recorder of HTTP traffic.

`ThrowawayPostgres` and `ThrowawayRedis` are servers of one test only (never the shared
ones on 5432 and 6379): each keeps its port and data directory across `stop()` and
`start()`, so clients configured with its URL see an outage and then the same server
back. `TrafficRecorder` sends requests from background threads and records, for each,
when it was sent, how long it took and how it ended (status, headers, body, or the
exception), so a test can judge every request that fell inside an outage window.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pgserver import free_port


def _pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("no local PostgreSQL binaries (/usr/lib/postgresql/*/bin/pg_ctl)")
    return Path(found[-1]).parent


class ThrowawayPostgres:
    """A PostgreSQL cluster in its own temporary directory on a fixed free loopback port."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.datadir = Path(tempfile.mkdtemp(prefix="ades-fault-pg-"))
        self.port = free_port()
        # initdb and the server refuse to run as root: hand the cluster to `postgres`.
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def admin_url(self) -> str:
        """The URL of the `postgres` maintenance database."""
        return self.url("postgres")

    def url(self, database: str) -> str:
        """The URL of `database` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as_owner, str(self.bindir / tool), *args], check=True,
                              capture_output=True, timeout=120)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-t", "60", "-l", str(self.datadir / "log"),
                  "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back open transactions, disconnect every client)."""
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-t", "60", "-m", mode, "stop")

    def is_running(self) -> bool:
        """True while a postmaster runs on the data directory."""
        return subprocess.run([*self._as_owner, str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                               "status"], capture_output=True).returncode == 0

    def create_database(self, name: str) -> str:
        """Create database `name`; returns its URL."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server if it runs and delete its data directory (idempotent)."""
        if self.datadir.exists():
            with contextlib.suppress(subprocess.SubprocessError):
                if self.is_running():
                    self.stop("immediate")
            shutil.rmtree(self.datadir, ignore_errors=True)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A started `ThrowawayPostgres`, destroyed when the block ends (also on failure)."""
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


class ThrowawayRedis:
    """A redis-server on a fixed free loopback port, in `directory`.

    Without `persistent` it keeps nothing on disk (a restart forgets every key); with it,
    it writes an append-only file synced on every write, as the compose and Kubernetes
    Redis do (`--appendonly yes`), so a restart keeps the keys.
    """

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The URL clients use (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        """Start the server and wait until it answers PING."""
        import redis

        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent \
            else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (its data is lost: it keeps none on disk)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def throwaway_redis(directory: Path, *, persistent: bool = False) -> Iterator[ThrowawayRedis]:
    """A started `ThrowawayRedis`, stopped when the block ends (also on failure)."""
    server = ThrowawayRedis(directory, persistent=persistent)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class Outcome:
    """How one request ended: a status with headers and body, or an exception's text."""

    name: str
    sent_at: float  # time.monotonic() when the request was sent
    seconds: float
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)  # set by the response

    def json(self) -> dict | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def request(port: int, method: str, path: str, *, name: str = "", body: dict | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> Outcome:
    """Send one request on a new connection to 127.0.0.1:`port` and record how it ended."""
    all_headers = {"Accept": "application/json", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        cookies = {}
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                cookies[cookie_name] = rest.split(";", 1)[0]
        return Outcome(name or path, started, time.monotonic() - started, response.status,
                       {k.lower(): v for k, v in response.getheaders()}, data, cookies=cookies)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(name or path, started, time.monotonic() - started,
                       error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


class TrafficRecorder:
    """Threads that each send one kind of request in a loop and record every outcome."""

    def __init__(self, senders: dict[str, Callable[[], Outcome]], pause: float = 0.05) -> None:
        self.senders = senders
        self.pause = pause
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(send,), daemon=True,
                                          name=f"traffic-{name}")
                         for name, send in senders.items()]

    def _loop(self, send: Callable[[], Outcome]) -> None:
        while not self._stop.is_set():
            outcome = send()
            with self._lock:
                self.outcomes.append(outcome)
            self._stop.wait(self.pause)

    def __enter__(self) -> TrafficRecorder:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def between(self, start: float, end: float) -> list[Outcome]:
        """The outcomes of the requests sent in [start, end) (monotonic times)."""
        with self._lock:
            return [o for o in self.outcomes if start <= o.sent_at < end]

"""`ades worker`'s own Prometheus listener: the ingest metrics on a port of the worker's.

The services serve `/metrics` through gunicorn; the worker is a plain process, so it runs
a small threaded HTTP server on `server.host` and `monitoring.metrics_port`
(GAIT_METRICS_PORT: 9090 in containers) or, when that is unset, `WORKER_METRICS_PORT`
(9094). It answers `/metrics` (prometheus_client's exposition, gzip when asked) and
`/healthz`; any other path gets a JSON 404.

It exports what the worker produces: the ingest families (commits analyzed, patterns
extracted, ingest durations), its memory use (measured at each scrape, for the memory
alert) and the standard process metrics. Gauges only the services set (sessions, pools,
request alerts) are left out, so the worker's zeros never skew a dashboard's sum or max.
With PROMETHEUS_MULTIPROC_DIR set, every value lives in that directory and the listener
serves the directory's aggregate (MultiProcessCollector); otherwise the module registry.

A port already in use is logged as an error and the worker runs on without metrics:
ingesting matters more than reporting on it, and Prometheus' AdesTargetDown alert names
the missing target.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app
from prometheus_client.core import Metric

from ..config import WORKER_METRICS_PORT, Config
from . import instruments
from .alerts import memory_percent

log = logging.getLogger("ades.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The metric families `ades worker` produces (family names, without `_total` etc.).
WORKER_FAMILIES = frozenset({"ades_commits_analyzed", "ades_patterns_extracted",
                             "ades_ingest_duration_seconds", "ades_memory_used_percent"})


class _WorkerFamilies:
    """The worker's families out of `source` (a registry or a multiprocess collector)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        instruments.MEMORY_PERCENT.set(round(memory_percent(), 2))
        for family in self.source.collect():
            if family.name in WORKER_FAMILIES:
                yield family


def worker_registry(multiproc_dir: str | None = None) -> CollectorRegistry:
    """The registry the worker's listener serves (see the module docstring)."""
    if multiproc_dir:
        from prometheus_client import multiprocess

        source: Any = CollectorRegistry()
        multiprocess.MultiProcessCollector(source, path=multiproc_dir)
    else:
        source = instruments.REGISTRY
    registry = CollectorRegistry()
    registry.register(_WorkerFamilies(source))  # type: ignore[arg-type]
    registry.register(ProcessCollector(registry=None))
    return registry


def _application(registry: CollectorRegistry) -> Any:
    metrics = make_wsgi_app(registry)

    def answer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        status, body = (("200 OK", {"status": "ok"}) if path == "/healthz"
                        else ("404 Not Found", {"error": "only /metrics and /healthz are served here"}))
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    return answer


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- the stdlib's name
        """Scrapes every few seconds are not worth a log line."""


@dataclass
class MetricsListener:
    """A running listener: where it listens, and how to stop it."""

    host: str
    port: int
    server: WSGIServer
    thread: threading.Thread
    multiproc_dir: str | None = None

    def close(self) -> None:
        """Stop serving; in multiprocess mode also retire this process's live gauges."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        if self.multiproc_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), self.multiproc_dir)


def listen_address(config: Config) -> tuple[str, int]:
    """Where the worker's listener binds: `server.host` and the metrics port."""
    return config.server.host, config.monitoring.metrics_port or WORKER_METRICS_PORT


def start_worker_metrics(config: Config, environ: dict[str, str] | None = None
                         ) -> MetricsListener | None:
    """Start the worker's metrics listener in a daemon thread.

    Returns None when metrics are disabled (`GAIT_ENABLE_METRICS=false`) or the port
    cannot be bound (logged as an error).
    """
    if not config.monitoring.enable_metrics:
        return None
    env = os.environ if environ is None else environ
    # Like the services', the directory must exist before Python starts: prometheus_client
    # opens its files as soon as the instruments are created.
    multiproc_dir = env.get(MULTIPROC_ENV) or None
    host, port = listen_address(config)
    server_class = _Server6 if ":" in host else _Server
    try:
        server = make_server(host, port, _application(worker_registry(multiproc_dir)),
                             server_class=server_class, handler_class=_QuietHandler)
    except OSError as exc:
        log.error("worker metrics listener not started on %s:%s: %s (set GAIT_METRICS_PORT "
                  "to a free port, or GAIT_ENABLE_METRICS=false)", host, port, exc.strerror or exc)
        return None
    thread = threading.Thread(target=server.serve_forever, name="metrics-listener", daemon=True)
    thread.start()
    log.info("worker metrics on http://%s:%s/metrics", host, port)
    return MetricsListener(host, port, server, thread, multiproc_dir)

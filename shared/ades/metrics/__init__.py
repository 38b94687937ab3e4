"""Observability for every service: Prometheus metrics, JSON request logs, threshold alerts.

`init_app(app, config, service)` binds to a Flask app:

- prometheus-flask-exporter, grouped by endpoint (never by raw path, which would give one
  time series per commit hash). With `PROMETHEUS_MULTIPROC_DIR` in the environment — set
  by the launcher before Python starts, wiped by gunicorn's `on_starting` — it runs in
  gunicorn multiprocess mode and `/metrics` adds up all workers; without it each app gets
  a private registry, so many apps can live in one test process.
- `/metrics` on the service port. With `monitoring.metrics_port` set (9090 in containers)
  gunicorn also listens there and the chassis answers only `/metrics` on that listener.
- one JSON access log line per request, with the request id taken from `X-Request-ID`
  (or generated) and returned in the response header.
- a sliding window of requests feeding the threshold alerts (`alerts.evaluate`).

The business helpers (`record_commits_analyzed`, ...) work with or without an app.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, request
from prometheus_client import CollectorRegistry

from ..config import Config, ConfigError
from ..logs import REQUEST_ID_HEADER, accept_request_id
from . import instruments
from .alerts import AlertReport, RequestWindow, evaluate
from .instruments import (
    REGISTRY,
    observe_ingest_duration,
    record_commits_analyzed,
    record_patterns_extracted,
    set_active_sessions,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
# Probes and scrapes arrive every few seconds; they are logged only at DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz", METRICS_PATH})
_REFRESH_SECONDS = 5.0
_EXTENSION = "ades.metrics"

access_log = logging.getLogger("ades.access")


@dataclass
class ServiceMetrics:
    """What `init_app` bound to one app: its exporter, request window and gauge refreshers."""

    service: str
    config: Config
    window: RequestWindow
    exporter: Any = None
    multiprocess: bool = False
    refreshers: list[Callable[[], None]] = field(default_factory=list)
    _last_refresh: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, *, force: bool = False) -> None:
        """Bring the sampled gauges (pool, cache, alerts) up to date, at most every 5 s."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_refresh < _REFRESH_SECONDS:
                return
            self._last_refresh = now
        for refresher in list(self.refreshers):
            try:
                refresher()
            except Exception:  # a broken gauge must never fail the request being served
                logging.getLogger(__name__).exception("metrics refresher failed")

    def alerts(self) -> AlertReport:
        """The threshold alerts for this worker right now."""
        return evaluate(self.window, self.config)


def init_app(app: Flask, config: Config, service: str) -> ServiceMetrics:
    """Bind request logging, the alert window and (if enabled) the Prometheus exporter."""
    state = ServiceMetrics(service=service, config=config, window=RequestWindow())
    state.refreshers.append(state.alerts)
    app.extensions[_EXTENSION] = state
    app.before_request(_start_request)
    app.after_request(_finish_request)
    if config.monitoring.enable_metrics:
        state.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        state.exporter = _bind_exporter(app, service, state.multiprocess)
    return state


def service_metrics(app: Flask | None = None) -> ServiceMetrics:
    """The `ServiceMetrics` bound to `app` (default: the current app)."""
    return (app or current_app).extensions[_EXTENSION]


def add_refresher(app: Flask, refresher: Callable[[], None]) -> None:
    """Have `refresher` update its gauges before each scrape and every few seconds."""
    service_metrics(app).refreshers.append(refresher)


def is_bound(app: Flask) -> bool:
    """True when `init_app` bound metrics to `app` (library tests build apps without)."""
    return _EXTENSION in app.extensions


def _bind_exporter(app: Flask, service: str, multiprocess: bool) -> Any:
    options = {"group_by": "endpoint", "default_labels": {"service": service},
               "metrics_decorator": _metrics_view}
    if multiprocess:
        from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

        directory = os.environ[MULTIPROC_ENV]
        if not os.path.isdir(directory):
            raise ConfigError(f"{MULTIPROC_ENV}: {directory!r} is not a directory (the "
                              "launcher must create it before starting the service)")
        exporter = GunicornInternalPrometheusMetrics.for_app_factory(path=METRICS_PATH,
                                                                     **options)
    else:
        from prometheus_flask_exporter import PrometheusMetrics

        registry = CollectorRegistry()
        registry.register(_SharedInstruments())
        exporter = PrometheusMetrics.for_app_factory(path=METRICS_PATH, registry=registry,
                                                     **options)
    exporter.init_app(app)
    return exporter


def _metrics_view(view: Any) -> Any:
    """The exporter's `/metrics` view: public, and documented as Prometheus text."""
    from ..hardening.rbac import public
    from ..service.openapi import operation

    return public(operation(produces="text/plain",
                            query={"name[]": "only these metric families"})(view))


class _SharedInstruments:
    """Exposes the module-level `REGISTRY` through an app's private registry."""

    def collect(self) -> Any:
        return REGISTRY.collect()


def _start_request() -> None:
    g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()
    if request.path == METRICS_PATH:
        service_metrics().refresh(force=True)


def _finish_request(response: Any) -> Any:
    request_id = g.get("request_id")
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    duration = time.perf_counter() - started if started is not None else 0.0
    state = service_metrics()
    if request.path not in QUIET_PATHS:
        state.window.observe(duration, response.status_code)
    level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
    if access_log.isEnabledFor(level):
        access_log.log(level, "request", extra={
            "fields": {"method": request.method, "path": request.path,
                       "duration": round(duration, 6), "status": response.status_code},
            "request_id": request_id, "client_ip": request.remote_addr})
    state.refresh()
    return response


__all__ = ["METRICS_PATH", "MULTIPROC_ENV", "REGISTRY", "AlertReport", "RequestWindow",
           "ServiceMetrics", "add_refresher", "init_app", "instruments", "is_bound",
           "observe_ingest_duration", "record_commits_analyzed", "record_patterns_extracted",
           "service_metrics", "set_active_sessions"]

"""Health endpoints every service has, in the seed's names.

- `GET /healthz` — liveness: the process answers. Touches nothing else, so a database
  outage never gets pods restarted.
- `GET /readyz` — readiness: 200 while the database answers (503 when it does not); a
  configured Redis is checked too, but its outage only degrades the service, which then
  stays ready and says so (see `readyz`).
- `GET /api/health` — component status, version and uptime.
- `GET /api/health/detailed` — adds versions of the stack, pool and cache statistics,
  this worker's threshold alerts and the warnings an operator should see, including the
  features that need a cross-process bus when no Redis is configured.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from .. import __version__
from ..hardening.rbac import public
from ..metrics import service_metrics
from ..optimizer import optimizer, pool_stats
from ..storage import StorageError
from .context import service_context

bp = Blueprint("health", __name__)

DATABASE_TIMEOUT_SECONDS = 2.0
# Paths that report on the service itself; hardening leaves them alone.
MONITORING_PATHS = ("/healthz", "/readyz", "/api/health", "/api/health/detailed")
# What runs in-process when there is no Redis, and what that costs.
CROSS_PROCESS_FEATURES = (
    {"feature": "rate_limits",
     "without_redis": "counted per worker process, not shared by workers and pods"},
    {"feature": "ip_blocking",
     "without_redis": "an address blocked by one worker is not blocked by the others"},
    {"feature": "sessions",
     "without_redis": "signed cookies: a session cannot be revoked server-side before it "
                      "expires"},
    {"feature": "collaboration_fanout",
     "without_redis": "presence, annotations and ingest progress reach only clients "
                      "connected to the same worker"},
)
# Extra sections of /api/health/detailed that a service adds with `add_health_detail`.
DETAILS_KEY = "ades.health.details"
_PACKAGES = ("flask", "werkzeug", "gunicorn", "gevent", "psycopg", "psycopg-pool", "redis",
             "prometheus-flask-exporter", "flask-login", "flask-limiter")


def add_health_detail(app: Flask, name: str, provider: Callable[[], dict[str, Any]]) -> None:
    """Add section `name` to `/api/health/detailed` of `app`: `provider()`, called per request."""
    app.extensions.setdefault(DETAILS_KEY, {})[name] = provider


def check_database(timeout: float = DATABASE_TIMEOUT_SECONDS) -> dict[str, Any]:
    """`{"status": "up"|"down", ...}` for the app's database, within about `timeout`."""
    context = service_context()
    started = time.perf_counter()
    try:
        store = context.stores.get()
        store.ping(timeout)
    except StorageError as exc:
        return {"status": "down", "backend": context.backend, "error": str(exc)}
    return {"status": "up", "backend": context.backend,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_redis() -> dict[str, Any] | None:
    """The Redis check (the client's timeouts are short), or None without Redis."""
    context = service_context()
    client = context.redis_client()
    if client is None:
        return None
    import redis

    started = time.perf_counter()
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return {"status": "down", "error": str(exc).splitlines()[0] if str(exc) else
                exc.__class__.__name__}
    return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _components() -> dict[str, dict[str, Any]]:
    components = {"database": check_database()}
    redis_status = check_redis()
    if redis_status is not None:
        components["redis"] = redis_status
    return components


@bp.get("/healthz")
@public
def healthz() -> Response:
    """Liveness: the process is up and serving requests."""
    return jsonify({"status": "ok", "service": service_context().name})


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """Readiness: 200 while the database answers, else 503 (`not_ready`).

    A configured Redis that does not answer makes the service `degraded` (listed under
    `degraded`) but leaves it ready: every request still works on its fallbacks — logins
    and cookie sessions answer 503 until Redis is back, bearer tokens work, rate limits
    count per process, websockets connect but reach only their own worker. Every pod
    shares the same Redis, so taking them out of rotation would turn a degraded suite into
    an unreachable one.
    """
    components = _components()
    ready = components["database"]["status"] == "up"
    degraded = [name for name, check in components.items()
                if name != "database" and check["status"] != "up"]
    status = "not_ready" if not ready else "degraded" if degraded else "ready"
    body: dict[str, Any] = {"status": status, "checks": components}
    if degraded:
        body["degraded"] = degraded
    return jsonify(body), 200 if ready else 503


@bp.get("/api/health")
@public
def health() -> tuple[Response, int]:
    """Component status, version and uptime; 503 when a component is down."""
    body = _summary(_components())
    return jsonify(body), 200 if body["status"] == "healthy" else 503


@bp.get("/api/health/detailed")
@public
def health_detailed() -> tuple[Response, int]:
    """Everything in /api/health plus versions, pool, cache, alerts and warnings."""
    context = service_context()
    components = _components()
    body = _summary(components)
    metrics_state = service_metrics()
    alerts = metrics_state.alerts()
    warnings = [{"source": "alert", **w} for w in alerts.warnings]
    warnings += [{"source": "component", "component": name,
                  "message": f"{name} is down: {status.get('error', '')}".rstrip(": ")}
                 for name, status in components.items() if status["status"] != "up"]
    bus = {"backend": "redis" if context.config.uses_redis else "in-process",
           "available": context.config.uses_redis}
    if not context.config.uses_redis:
        bus["features_needing_it"] = list(CROSS_PROCESS_FEATURES)
        warnings.append({"source": "configuration", "message":
                         "no GAIT_REDIS_URL: features that need a cross-process bus run "
                         "per worker (see cross_process_bus)"})
    opt = optimizer()
    pool = {"backend": context.backend, "pooled": False}
    if context.stores.is_open:
        pool = pool_stats(context.stores.get())
    deadline = current_app.extensions.get("ades.request_deadline")
    body.update({
        "versions": _versions(),
        "process": {"pid": os.getpid(), "python": platform.python_version(),
                    "request_timeout_seconds": deadline,
                    "request_timeout_enforced": deadline is not None},
        "metrics": {"enabled": context.config.monitoring.enable_metrics,
                    "multiprocess": metrics_state.multiprocess, "path": "/metrics",
                    "metrics_port": context.metrics_port},
        "database": {"backend": context.backend, "pool": pool},
        "cache": opt.query_cache.stats().to_dict(),
        "slow_queries": {"threshold_ms": opt.slow_log.threshold_ms,
                         "recorded": opt.slow_log.total},
        "cross_process_bus": bus,
        "alerts": alerts.to_dict(),
        "warnings": warnings,
    })
    for name, provider in current_app.extensions.get(DETAILS_KEY, {}).items():
        body[name] = provider()
    return jsonify(body), 200 if body["status"] == "healthy" else 503


def _summary(components: dict[str, dict[str, Any]]) -> dict[str, Any]:
    context = service_context()
    healthy = all(c["status"] == "up" for c in components.values())
    return {"status": "healthy" if healthy else "unhealthy", "service": context.name,
            "version": __version__, "uptime_seconds": round(context.uptime(), 3),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "components": components}


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"ades": __version__,
                                       "python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions

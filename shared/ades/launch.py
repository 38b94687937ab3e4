"""How a service process starts: its configuration, and gunicorn's settings and hooks.

Each service's `gunicorn.conf.py` calls `gunicorn_settings(...)` from inside a function.
This module imports only the standard library, `ades.config` and `ades.logs` at the top,
so gunicorn's master never loads psycopg (whose wait function is chosen on first import,
and must be chosen after gevent has patched the worker) nor any Prometheus instrument.

The settings, for every service:

- `worker_class = "gevent"`, `workers` from `server.workers` (GAIT_WORKERS), no
  `preload_app`: each worker imports the app and opens its own pool after the fork.
- `bind` = the service port, plus the metrics port when metrics are on (the chassis
  answers only `/metrics` there): `monitoring.metrics_port` (GAIT_METRICS_PORT, 9090 in
  containers) or the service port + 1010 when unset.
- `timeout` is only a heartbeat for async workers; the app enforces the request time
  limit itself. `graceful_timeout` bounds the drain on SIGTERM; `worker_tmp_dir` is
  `/dev/shm`, so heartbeats never touch a (read-only or slow) disk.
- `logconfig_dict` sends gunicorn's own lines through the JSON formatter; the app writes
  the access log, so gunicorn's is off: `logger_class` skips it altogether (with a
  `logconfig_dict` gunicorn would still format every access line before discarding it,
  about 15% of a worker's CPU on small requests).
- `post_request` yields to gevent's event loop after every response, so that no
  keep-alive connection can keep a worker to itself (see the hook).
- `on_starting` empties PROMETHEUS_MULTIPROC_DIR (stale files of a previous run would be
  added to this one's counters); `child_exit` marks a dead worker's gauges as gone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import Config, load_config
from .logs import logging_dict

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
GRACEFUL_TIMEOUT_SECONDS = 30
# Any delay above zero: gevent runs `sleep(0)` as a callback, before the loop polls sockets.
YIELD_AFTER_RESPONSE_SECONDS = 1e-6
# gunicorn's heartbeat files: a RAM-backed directory, as gunicorn's docs advise for containers.
HEARTBEAT_DIR = "/dev/shm"  # noqa: S108 -- gunicorn creates its own private files there


def service_config(config: Config | Mapping[str, Any] | None, default_port: int | None,
                   environ: Mapping[str, str] | None = None) -> Config:
    """The validated config of a service whose own port is `default_port`.

    `config` may be a ready `Config` (returned as is), a nested mapping of overrides for
    `load_config`, or None. The service's port applies unless GAIT_PORT or the overrides
    name one. Raises ConfigError (naming the key) on bad input.
    """
    if isinstance(config, Config):
        return config
    env = os.environ if environ is None else environ
    overrides: dict[str, Any] = {section: dict(values)
                                 for section, values in (config or {}).items()}
    if default_port is not None and not env.get("GAIT_PORT") and \
            "port" not in overrides.get("server", {}):
        overrides.setdefault("server", {})["port"] = default_port
    return load_config(env, overrides=overrides)


def gunicorn_settings(service: str, *, default_port: int, root: str | os.PathLike[str]
                      ) -> dict[str, Any]:
    """gunicorn settings (module-level names of a config file) for `service`.

    `root` is the directory that holds the `services` package.
    """
    config = service_config(None, default_port)
    server = config.server
    bind = [f"{server.host}:{server.port}"]
    if config.monitoring.enable_metrics:
        bind.append(f"{server.host}:{config.metrics_port_for(server.port)}")
    level = server.log_level
    return {
        "wsgi_app": f"services.{service}.wsgi:app",
        "pythonpath": str(Path(root).resolve()),
        "proc_name": f"ades-{service}",
        "bind": bind,
        "workers": server.workers,
        "worker_class": "gevent",
        "worker_connections": 1000,
        "preload_app": False,
        "timeout": server.request_timeout_seconds + GRACEFUL_TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "keepalive": 5,
        "worker_tmp_dir": HEARTBEAT_DIR if os.path.isdir(HEARTBEAT_DIR) else None,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": level.lower(),
        "logconfig_dict": logging_dict(level),
        "logger_class": "ades.gunicorn_logger.AppLogsAccess",
        "on_starting": on_starting,
        "child_exit": child_exit,
        "post_request": post_request,
    }


def on_starting(server: Any) -> None:
    """gunicorn hook (master, before workers): empty the Prometheus multiprocess directory."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    # Empty it rather than recreate it: in Kubernetes it is a mounted emptyDir.
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """gunicorn hook (worker, after each response): let the other connections' requests run.

    A gevent greenlet only gives way when a socket read would block. On a keep-alive
    connection whose client sends its next request at once (nginx's upstream connections
    under load, a pipelining client), the next read always finds data, so one connection
    can keep a worker to itself while requests on its other connections wait for seconds.
    A timer of a microsecond goes through the event loop's poll: every connection that is
    ready gets its turn before this one reads its next request.
    """
    import gevent

    gevent.sleep(YIELD_AFTER_RESPONSE_SECONDS)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master): drop the live gauges of a worker that exited."""
    if not os.environ.get(MULTIPROC_ENV):
        return
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)

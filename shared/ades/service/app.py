"""`create_service_app`: the one factory every service's `create_app` goes through.

In order, it: loads and checks the configuration (fail fast: a bad value raises
ConfigError naming the key), switches logging to JSON lines, binds request ids, access
logs and Prometheus metrics, opens the worker's store (a database that is down delays
readiness, not start-up), binds hardening (auth, RBAC, CSRF, rate limits, headers,
audit), the request time limit, the optimizer and the error handlers, registers the
chassis routes (health, `/openapi.json`, `/api/performance`, `/api/auth/...`) and the
service's blueprints, and finally refuses to return an app with a route that declares no
required role.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from .. import __version__
from ..config import Config
from ..launch import service_config
from ..logs import configure_logging
from ..metrics import METRICS_PATH
from ..metrics import init_app as init_metrics
from ..optimizer import SlowQueryLog, apply_gc_settings, optimizer
from ..optimizer import init_app as init_optimizer
from . import api_schemas, deadline, errors, health
from .context import EXTENSION_KEY, ServiceContext
from .openapi import JSON, build_document, error_response_doc
from .store import StoreHolder

MAX_REQUEST_BYTES = 16 * 1024 * 1024
# What the chassis's own auth routes take and answer, beyond what their rules tell.
_CHASSIS_PATHS: dict[str, Any] = {
    "/api/auth/login": {"post": {
        "requestBody": {"required": True, "content": {JSON: {"schema": {
            "type": "object", "required": ["username", "password"],
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
        "responses": {"200": {"content": {JSON: {"schema": api_schemas.LOGIN}}},
                      "401": error_response_doc("Invalid username or password (the same "
                                                "answer whether the user exists or not)")}}},
}
_LISTENER_PORT = "ades.listener_port"


class UndeclaredRoutesError(RuntimeError):
    """A route was registered without `@requires(...)` or `@public`."""


def create_service_app(name: str, config: Config | Mapping[str, Any] | None = None, *,
                       blueprints: Iterable[Blueprint] = (),
                       openapi_paths: Mapping[str, Any] | None = None,
                       default_port: int | None = None) -> Flask:
    """Build the Flask app of service `name` with the chassis and `blueprints`.

    `config` is a `Config`, or a nested mapping of overrides for `load_config` (None: the
    environment and config file only). `default_port` is the service's own port, used
    unless GAIT_PORT or the overrides set one. `openapi_paths` are merged into the
    generated `/openapi.json`. Raises ConfigError for bad configuration, StorageError
    when the database is misconfigured, UndeclaredRoutesError for a route without a
    role declaration.
    """
    from ..hardening import HardeningOptions, auth_bp
    from ..hardening import init_app as init_hardening
    from ..hardening.rbac import undeclared_routes

    config = service_config(config, default_port)
    configure_logging(config.server.log_level)

    app = Flask("ades.service", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["ADES_SERVICE"] = name
    app.json.sort_keys = False  # type: ignore[attr-defined]

    metrics_port = (config.metrics_port_for(config.server.port)
                    if config.monitoring.enable_metrics else None)
    stores = StoreHolder(config, SlowQueryLog(config.performance.slow_query_ms))
    context = ServiceContext(name=name, config=config, stores=stores,
                             metrics_port=metrics_port, app=app)
    app.extensions[EXTENSION_KEY] = context

    init_metrics(app, config, name)
    if metrics_port is not None:
        app.before_request(_metrics_listener_guard(metrics_port))
    stores.open()
    defaults = HardeningOptions()
    # Monitoring must see the health endpoints answer with component status even when the
    # database is down, so they skip the (database-backed) address blocking and limits.
    init_hardening(app, stores.get, config, options=dataclasses.replace(
        defaults, exempt_paths=(*defaults.exempt_paths, *health.MONITORING_PATHS),
        redis_timeout_seconds=config.server.redis_timeout_seconds))
    app.wsgi_app = _ListenerPort(app.wsgi_app)  # type: ignore[method-assign]
    deadline.init_app(app, config.server.request_timeout_seconds)
    init_optimizer(app, stores.get, config, slow_log=stores.slow_log, name=f"{name}-queries")
    errors.init_app(app)

    @app.context_processor
    def service_name() -> dict[str, str]:
        return {"service_name": name}

    app.add_template_filter(_utc_time, "utc")

    app.register_blueprint(_chassis_blueprint(name, openapi_paths))
    app.register_blueprint(health.bp)
    # Login, logout and one's own tokens on every service: the session cookie is shared.
    app.register_blueprint(auth_bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    missing = undeclared_routes(app)
    if missing:
        context.close()
        raise UndeclaredRoutesError(
            f"service {name}: routes without @requires(...) or @public: {', '.join(missing)}")
    apply_gc_settings(config)
    return app


def _chassis_blueprint(name: str, openapi_paths: Mapping[str, Any] | None) -> Blueprint:
    from ..hardening.rbac import public, requires

    # A new blueprint per app: its routes close over this service's name and fragments.
    bp = Blueprint("ades", __name__, static_folder="static", static_url_path="/_ades/static")

    @bp.get("/openapi.json")
    @public
    def openapi() -> Response:
        """The OpenAPI 3 document of this service: every route, its parameters and role."""
        from flask import current_app

        return jsonify(build_document(current_app, title=f"ADES {name}", version=__version__,
                                      extra_paths={**_CHASSIS_PATHS, **(openapi_paths or {})}))

    @bp.get("/api/performance")
    @requires("admin")
    def performance() -> Response:
        """Cache and pool statistics, slow queries with plans, and index recommendations."""
        return jsonify(optimizer().report())

    return bp


def _utc_time(epoch: float | None) -> str:
    """Template filter: an epoch time as `YYYY-MM-DD HH:MM UTC` ("never" for None)."""
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


class _ListenerPort:
    """Notes which listening socket a request arrived on, before any proxy rewriting."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ[_LISTENER_PORT] = environ.get("SERVER_PORT")
        return self.wsgi_app(environ, start_response)


def _metrics_listener_guard(metrics_port: int) -> Any:
    port = str(metrics_port)

    def only_metrics() -> Response | None:
        if request.environ.get(_LISTENER_PORT) == port and request.path != METRICS_PATH:
            return errors.error_response(404, f"only {METRICS_PATH} is served on port {port}")
        return None

    return only_metrics

"""Per-app hardening state and the request helpers the other modules share.

`init_app` stores one `HardeningState` in `app.extensions["ades.hardening"]`; request
code reaches it through `state()`. Nothing here opens a connection: the store comes
from the app's `store_getter`, and the Redis client connects on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, g, jsonify, request

from ..storage import StorageError, Store
from . import audit

if TYPE_CHECKING:
    import redis

    from ..config import Config

log = logging.getLogger("ades.hardening")

EXTENSION_KEY = "ades.hardening"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class HardeningOptions:
    """Tunables that are not (yet) part of the user-facing configuration.

    `redis_key_prefix` namespaces every Redis key this package writes (sessions, rate
    limits, abuse counters); `exempt_paths` are never rate limited, blocked or redirected
    to HTTPS (probes and Prometheus reach pods directly). `login_rate_limit` caps login
    attempts per client address on top of the default limit. An address is blocked for
    `ip_block_seconds` after `ip_block_threshold` rate-limit violations within
    `ip_block_window_seconds`.
    """

    redis_key_prefix: str = "ades:"
    login_url: str = "/login"
    login_rate_limit: str = "10/minute"
    exempt_paths: tuple[str, ...] = ("/healthz", "/readyz", "/metrics")
    ip_block_threshold: int = 10
    ip_block_window_seconds: int = 600
    ip_block_seconds: int = 900
    redis_timeout_seconds: float = 0.5


@dataclass
class HardeningState:
    """What the hardening hooks of one app need: config, store, Redis, options."""

    config: Config
    store_getter: Callable[[], Store]
    options: HardeningOptions
    redis: redis.Redis | None = None

    @property
    def store(self) -> Store:
        """The app's store (opened by the app factory, not by this package)."""
        return self.store_getter()


def state(app: Flask | None = None) -> HardeningState:
    """The hardening state of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION_KEY]


def client_ip() -> str:
    """The client address as ProxyFix established it (never parsed from headers here)."""
    return request.remote_addr or "unknown"


def is_exempt_path() -> bool:
    """True for probe and metrics paths that hardening leaves alone."""
    return request.path in state().options.exempt_paths


def wants_html() -> bool:
    """True when the client prefers an HTML page to JSON (a browser navigation)."""
    # On a tie (`*/*`, no Accept header) JSON wins, because it is listed first.
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None,
               **extra: Any) -> Response:
    """A JSON error response `{"error": message, ...}` with `status`."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def audit_request(kind: str, actor: str | None = None,
                  detail: Mapping[str, Any] | None = None) -> None:
    """Record a security event for the current request; a failing write is only logged.

    The actor defaults to the authenticated user, if any. A request must not fail
    because the audit log is briefly unreachable, but the event still reaches the logs.
    """
    if actor is None:
        principal = g.get("ades_principal")
        actor = principal.user.username if principal is not None else None
    merged = {"method": request.method, "path": request.path, **(detail or {})}
    try:
        audit.record_event(state().store, kind, actor, client_ip(), merged)
    except StorageError as exc:
        log.error("audit write failed for %s: %s", kind, exc,
                  extra={"audit_kind": kind, "audit_actor": actor})

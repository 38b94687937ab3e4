"""`ades.hardening`: authentication, authorization and request hardening for every service.

`init_app(app, store_getter, config)` binds, in this order: ProxyFix and HTTPS
enforcement (`proxy`), the blocked-address check and rate limits (`limits`), shared
sessions with flask-login and their timeouts (`sessions`), per-endpoint access control
with CSRF checks (`rbac`, `csrf`), SQL-injection/XSS inspection (`inputs`), and security
headers on every response (`headers`). Services then register `auth_bp` (login, logout,
me, own API tokens) and, where accounts are administered, `admin_bp`.

Views declare access with `@requires(role)` / `@public` under their route decorator;
`undeclared_routes(app)` lists any that forgot. The storage-level functions (users,
tokens, lockout, audit) work without Flask and back the `ades users|tokens|audit` CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask

from .auth_api import admin_bp, auth_bp
from .context import HardeningOptions, HardeningState, state
from .csrf import csrf_exempt, csrf_token
from .inputs import allow_code_input
from .rbac import (
    Access,
    Principal,
    access_rule,
    current_principal,
    declare,
    public,
    requires,
    undeclared_routes,
)

if TYPE_CHECKING:
    import redis

    from ..config import Config
    from ..storage import Store


def init_app(app: Flask, store_getter: Callable[[], Store], config: Config, *,
             options: HardeningOptions | None = None) -> HardeningState:
    """Bind every hardening feature to `app`; returns the app's hardening state.

    `store_getter` returns the app's open store (called per request, never here);
    `config` is the loaded `Config`. The session secret comes from
    `ensure_secret_key(config)`, which may create `<data_dir>/secret_key`. With
    `server.redis_url` a Redis client is created (it connects on first use). Call once
    per app, before the app's own before-request hooks that rely on `current_user`.
    """
    from ..config import ensure_secret_key
    from .context import EXTENSION_KEY
    from .headers import init_headers
    from .inputs import inspect_request
    from .limits import init_limits
    from .proxy import init_proxy
    from .rbac import enforce_access
    from .sessions import init_sessions

    if EXTENSION_KEY in app.extensions:
        raise RuntimeError("ades.hardening.init_app called twice for the same app")
    options = options or HardeningOptions()
    hardening = HardeningState(config=config, store_getter=store_getter, options=options,
                               redis=_redis_client(config, options))
    app.extensions[EXTENSION_KEY] = hardening

    init_proxy(app, hardening)
    init_limits(app, hardening)
    init_sessions(app, hardening, ensure_secret_key(config))
    app.before_request(enforce_access)
    app.before_request(inspect_request)
    init_headers(app, hardening)
    app.jinja_env.globals["csrf_token"] = csrf_token
    return hardening


def redis_client(app: Flask | None = None) -> redis.Redis | None:
    """The app's Redis client (None without `GAIT_REDIS_URL`), for readiness checks."""
    return state(app).redis


def _redis_client(config: Config, options: HardeningOptions) -> redis.Redis | None:
    if not config.server.redis_url:
        return None
    import redis

    return redis.Redis.from_url(config.server.redis_url,
                                socket_timeout=options.redis_timeout_seconds,
                                socket_connect_timeout=options.redis_timeout_seconds,
                                health_check_interval=30)


__all__ = [
    "Access", "HardeningOptions", "HardeningState", "Principal", "access_rule",
    "admin_bp", "allow_code_input", "auth_bp", "csrf_exempt", "csrf_token",
    "current_principal", "declare", "init_app", "public", "redis_client", "requires",
    "undeclared_routes",
]

"""Login sessions shared by all four services.

Every service uses the cookie `ades_session` on path `/`, signed with the shared secret
key, so one login works through the gateway. With `GAIT_REDIS_URL` the cookie holds
only a signed random session id and the data lives in Redis (`<prefix>session:<id>`,
expiring with the session); without Redis the data travels in Flask's signed cookie.
While a configured Redis is unreachable no session can be read or started: a request whose
cookie cannot be looked up is answered 503 with Retry-After where it needs a login (the
session itself is intact and works again once Redis answers), logins answer 503, and
bearer tokens, which live in the database, keep working.

At login the session is regenerated (a new Redis id, or a cleared and re-signed cookie)
so a session id planted before login is worthless after it. Sessions end after
`security.session_idle_minutes` without a request and `security.session_absolute_hours`
after login, whichever comes first. flask-login's `current_user` is the session's user,
or the user of a valid bearer token (see `tokens.py`), never both: a request carrying
an Authorization header ignores the session cookie.

Every login, deadline move and logout is also reported to the session registry
(`session_registry.py`: a Redis sorted set, or the `login_sessions` table without Redis),
whose count each service publishes as the `ades_active_user_sessions` gauge.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, current_app, g, request, session
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from flask_login import LoginManager, login_user, logout_user
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import CallbackDict

from ..storage import StorageError
from . import token_cache, tokens, users
from .context import HardeningState, audit_request, state
from .csrf import rotate_csrf_token
from .external_bearer import expects_external_bearer
from .rbac import bearer_token
from .session_registry import (
    RedisSessionRegistry,
    SessionRegistry,
    StoreSessionRegistry,
    record_quietly,
    session_key,
)

if TYPE_CHECKING:
    import redis

log = logging.getLogger("ades.hardening")

COOKIE_NAME = "ades_session"
CREATED_KEY = "_created"
SEEN_KEY = "_seen"
NONCE_KEY = "_nonce"
# `_seen` is rewritten at most this often, so an active session is not re-saved (a new
# cookie or a Redis write) on every single request.
SEEN_RESOLUTION_SECONDS = 60
# After a Redis error, sessions skip Redis for this long instead of timing out on it
# for every request.
REDIS_RETRY_SECONDS = 5.0
# Set in the WSGI environ when a request's session cookie could not be looked up because
# Redis is down: such a request is answered 503, not 401 (its session may well be valid).
SESSION_STORE_DOWN = "ades.session_store_down"
SESSION_RETRY_AFTER_SECONDS = 5
_REGISTRY_EXTENSION = "ades.session_registry"

login_manager = LoginManager()
login_manager.session_protection = None  # we regenerate sessions at login ourselves


@login_manager.user_loader
def _load_session_user(user_id: str) -> users.User | None:
    if bearer_token() is not None:
        return None
    try:
        user = users.get_user_by_id(state().store, int(user_id))
    except (TypeError, ValueError):
        return None
    return user if user is not None and user.is_active else None


@login_manager.request_loader
def _load_token_user(request: Request) -> users.User | None:
    token = bearer_token()
    if not token or expects_external_bearer():
        return None
    hardening = state()
    store = hardening.store
    resolved = tokens.resolve_token(
        store, token, cache=token_cache.cache_for(store, hardening.config.security.token_cache_seconds))
    if resolved is None:
        audit_request("token.rejected", actor=None, detail={"reason": "unknown or revoked"})
        return None
    user, api_token, first_use_this_minute = resolved
    g.ades_token = api_token
    if first_use_this_minute:
        audit_request("token.used", actor=user.username,
                      detail={"token_id": api_token.id, "scope": api_token.scope})
    return user


def start_session(user: users.User) -> str:
    """Log `user` in on a brand-new session; returns the session's new CSRF token."""
    replaced = session.get(NONCE_KEY) if "_user_id" in session else None
    regenerate_session()
    login_user(user, remember=False)
    session.permanent = True
    now = time.time()
    session[CREATED_KEY] = now
    session[SEEN_KEY] = now
    key, deadline = session_key(session[NONCE_KEY]), session_deadline()
    record_quietly(lambda: _registry().opened(key, user.id, deadline), "a login")
    if isinstance(replaced, str):  # a login over a login: the old session is gone
        record_quietly(lambda: _registry().closed(session_key(replaced)), "a replaced login")
    return rotate_csrf_token()


def end_session() -> None:
    """Log out and discard the whole session (its Redis entry too)."""
    nonce = session.get(NONCE_KEY)
    logout_user()
    session.clear()
    if isinstance(nonce, str):
        record_quietly(lambda: _registry().closed(session_key(nonce)), "a logout")


def regenerate_session() -> None:
    """Drop the current session's contents and identity (done at login)."""
    current = session._get_current_object()
    if isinstance(current, ServerSideSession):
        current.regenerate()
    current.clear()
    # A cookie session has no id of its own; a random value makes the new signed cookie
    # differ from anything a client held before.
    current[NONCE_KEY] = secrets.token_urlsafe(16)


def session_deadline() -> float | None:
    """When the current login session ends unless used again, or None when anonymous."""
    created, seen = session.get(CREATED_KEY), session.get(SEEN_KEY)
    if "_user_id" not in session or not _is_number(created) or not _is_number(seen):
        return None
    security = state().config.security
    return min(seen + security.session_idle_minutes * 60,
               created + security.session_absolute_hours * 3600)


def enforce_session_timeouts() -> None:
    """The before-request hook that ends idle and over-age login sessions."""
    if "_user_id" not in session:
        return
    now = time.time()
    deadline = session_deadline()
    if deadline is None or now >= deadline:
        session.clear()
        g.ades_session_expired = True  # lets the 401 say why
        return
    if now - session[SEEN_KEY] >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_KEY] = now
        nonce, moved = session.get(NONCE_KEY), session_deadline()
        if isinstance(nonce, str) and moved is not None:
            record_quietly(lambda: _registry().touched(session_key(nonce), moved), "activity")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ServerSideSession(CallbackDict, SessionMixin):
    """Session data kept in Redis under `sid`; the cookie carries only the signed id."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None) -> None:
        def on_update(self: ServerSideSession) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.stale_sids: list[str] = []

    def regenerate(self) -> None:
        """Forget the current id; a fresh one is issued when the session is saved."""
        if self.sid is not None:
            self.stale_sids.append(self.sid)
        self.sid = None
        self.modified = True


class RedisSessionInterface(SessionInterface):
    """Server-side sessions in Redis, stored as tagged JSON (never pickle)."""

    serializer = TaggedJSONSerializer()

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self._skip_until = 0.0

    def _key(self, sid: str) -> str:
        return f"{self.key_prefix}session:{sid}"

    def _signer(self, app: Flask) -> Signer:
        return Signer(app.secret_key, salt="ades-session-id")

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, action: str, exc: Exception) -> None:
        self._skip_until = time.monotonic() + REDIS_RETRY_SECONDS
        log.error("session store unavailable (%s): %s", action, exc)

    def reachable(self) -> bool:
        """True when Redis answers now (False at once within a retry pause after an error)."""
        import redis

        if not self._available():
            return False
        try:
            self.client.ping()
        except redis.RedisError as exc:
            self._failed("ping", exc)
            return False
        return True

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        import redis

        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return ServerSideSession()
        if not self._available():
            request.environ[SESSION_STORE_DOWN] = True
            return ServerSideSession()
        try:
            sid = self._signer(app).unsign(cookie).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return ServerSideSession()
        try:
            raw = self.client.get(self._key(sid))
        except redis.RedisError as exc:
            self._failed("read", exc)
            request.environ[SESSION_STORE_DOWN] = True
            return ServerSideSession()
        if raw is None:
            return ServerSideSession()
        try:
            data = self.serializer.loads(raw)
        except ValueError:
            return ServerSideSession()
        return ServerSideSession(data if isinstance(data, dict) else {}, sid=sid)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        import redis

        assert isinstance(session, ServerSideSession)
        name, path = self.get_cookie_name(app), self.get_cookie_path(app)
        domain, secure = self.get_cookie_domain(app), self.get_cookie_secure(app)
        samesite, httponly = self.get_cookie_samesite(app), self.get_cookie_httponly(app)
        if session.accessed:
            response.vary.add("Cookie")
        if not self._available():
            return
        try:
            for sid in session.stale_sids:
                self.client.delete(self._key(sid))
            if not session:
                if session.modified:
                    if session.sid is not None:
                        self.client.delete(self._key(session.sid))
                    response.delete_cookie(name, domain=domain, path=path, secure=secure,
                                           samesite=samesite, httponly=httponly)
                return
            if not session.modified:
                return
            if session.sid is None:
                session.sid = secrets.token_urlsafe(32)
            self.client.set(self._key(session.sid), self.serializer.dumps(dict(session)),
                            ex=self._ttl(session))
        except redis.RedisError as exc:
            self._failed("write", exc)
            return
        response.set_cookie(name, self._signer(app).sign(session.sid).decode("ascii"),
                            expires=self.get_expiration_time(app, session), httponly=httponly,
                            domain=domain, path=path, secure=secure, samesite=samesite)
        response.vary.add("Cookie")

    def _ttl(self, session: ServerSideSession) -> int:
        security = state().config.security
        ttl = security.session_idle_minutes * 60 + SEEN_RESOLUTION_SECONDS
        created = session.get(CREATED_KEY)
        if _is_number(created):
            ttl = min(ttl, int(created + security.session_absolute_hours * 3600 - time.time()))
        return max(ttl, 1)


def init_sessions(app: Flask, hardening: HardeningState, secret_key: str) -> None:
    """Configure cookies, flask-login and (with Redis) server-side sessions on `app`."""
    security = hardening.config.security
    app.secret_key = secret_key
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=security.cookie_secure or security.enforce_https,
        SESSION_REFRESH_EACH_REQUEST=False,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=security.session_absolute_hours),
    )
    if hardening.redis is not None:
        app.session_interface = RedisSessionInterface(hardening.redis,
                                                      hardening.options.redis_key_prefix)
    login_manager.init_app(app)
    app.before_request(enforce_session_timeouts)
    registry: SessionRegistry = (
        RedisSessionRegistry(hardening.redis, hardening.options.redis_key_prefix)
        if hardening.redis is not None else StoreSessionRegistry(hardening.store_getter))
    app.extensions[_REGISTRY_EXTENSION] = registry
    _publish_active_sessions(app, registry)


def _registry() -> SessionRegistry:
    return current_app.extensions[_REGISTRY_EXTENSION]


def _publish_active_sessions(app: Flask, registry: SessionRegistry) -> None:
    """Have the app's metrics refresh the active-sessions gauge (apps without metrics: no-op)."""
    from ..metrics import add_refresher, is_bound, set_active_sessions

    if not is_bound(app):
        return

    def refresh() -> None:
        import redis

        try:
            live = registry.count(time.time())
        except (StorageError, redis.RedisError) as exc:
            log.warning("cannot count the active sessions: %s", exc)
            return  # the gauge keeps its last value; readiness reports the outage
        set_active_sessions(live)

    add_refresher(app, refresh)


def session_store_down() -> bool:
    """True when this request's session could not be read because Redis is down."""
    return bool(request.environ.get(SESSION_STORE_DOWN))


def session_store_unreachable() -> bool:
    """True when sessions live in Redis and Redis does not answer (logins cannot start)."""
    interface = current_app.session_interface
    return isinstance(interface, RedisSessionInterface) and not interface.reachable()

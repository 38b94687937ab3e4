"""Role-based access control: every endpoint declares who may call it.

Roles rank `viewer` < `maintainer` < `admin`. A view is declared with `@requires(role)`
or `@public`, which mark the function itself (they do not wrap it), so they may sit
above or below the route decorator; a wrapping decorator between them must copy the
function's attributes, as `functools.wraps` does. Endpoints a service does not write
itself (/metrics, a library's blueprint) are declared with `declare(app, endpoint, ...)`.
`enforce_access` runs before every request and fails closed: an endpoint without a
declaration is refused to everyone, and `undeclared_routes(app)` lists such endpoints
so a test can catch them first.

The principal is either the session's user or, with `Authorization: Bearer <token>`,
the token's user limited by the token's scope: a `read` token may only call endpoints
whose required scope is `read` (by default: GET, HEAD and OPTIONS requests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Flask, Response, abort, current_app, g, redirect, request
from flask_login import current_user
from werkzeug.exceptions import ServiceUnavailable

from . import csrf
from .context import SAFE_METHODS, audit_request, json_error, state, wants_html
from .tokens import SCOPES, ApiToken
from .users import ROLE_RANK, User

ACCESS_ATTR = "_ades_access"
_DECLARED_KEY = "ades.access"
BEARER_CHALLENGE = 'Bearer realm="ades"'

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Access:
    """What an endpoint requires: a minimum role (None = public) and a token scope.

    `scope` None means "read for safe methods, write otherwise".
    """

    role: str | None
    scope: str | None = None

    @property
    def is_public(self) -> bool:
        """True when anyone, even anonymous, may call the endpoint."""
        return self.role is None

    def scope_for(self, method: str) -> str:
        """The token scope a request with `method` needs."""
        if self.scope is not None:
            return self.scope
        return "read" if method in SAFE_METHODS else "write"


PUBLIC = Access(role=None)


def requires(role: str, *, scope: str | None = None) -> Callable[[View], View]:
    """Declare that a view needs `role` (or a higher one) and, for tokens, `scope`.

    The view is returned unchanged apart from the declaration; enforcement happens in
    `enforce_access`. Raises ValueError at import time for an unknown role or scope.
    """
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    rule = Access(role=role, scope=scope)

    def mark(view: View) -> View:
        setattr(view, ACCESS_ATTR, rule)
        return view

    return mark


def public(view: View) -> View:
    """Declare that a view needs no login (health checks, the login endpoint itself)."""
    setattr(view, ACCESS_ATTR, PUBLIC)
    return view


def declare(app: Flask, endpoint: str, role: str | None = None, *,
            scope: str | None = None) -> None:
    """Declare access for an endpoint registered by someone else (role None = public)."""
    if role is not None:
        requires(role, scope=scope)  # validates
    app.extensions.setdefault(_DECLARED_KEY, {})[endpoint] = Access(role=role, scope=scope)


def access_rule(app: Flask, endpoint: str) -> Access | None:
    """The declared access of `endpoint`, or None when it has no declaration."""
    declared = app.extensions.get(_DECLARED_KEY, {})
    if endpoint in declared:
        return declared[endpoint]
    if endpoint == "static" or endpoint.endswith(".static"):
        return PUBLIC
    view = app.view_functions.get(endpoint)
    rule = getattr(view, ACCESS_ATTR, None)
    return rule if isinstance(rule, Access) else None


def undeclared_routes(app: Flask) -> list[str]:
    """Endpoints of `app` without an access declaration, sorted (empty when all are)."""
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()
                   if access_rule(app, rule.endpoint) is None})


@dataclass(frozen=True)
class Principal:
    """Who is making the current request, and how they proved it."""

    user: User
    via: str  # "session" or "token"
    token: ApiToken | None = None

    def may(self, rule: Access, method: str) -> bool:
        """True when this principal satisfies `rule` for a request with `method`."""
        if rule.is_public:
            return True
        if not self.user.has_role(rule.role):
            return False
        return not (self.token is not None and self.token.scope == "read"
                    and rule.scope_for(method) == "write")


def current_principal() -> Principal | None:
    """The authenticated principal of the current request, or None (anonymous).

    Resolved on first use (loading the session's user or checking the bearer token)
    and remembered for the rest of the request.
    """
    if "ades_principal" not in g:
        user = current_user._get_current_object()
        principal = None
        if user is not None and user.is_authenticated:
            via = "token" if bearer_token() is not None else "session"
            principal = Principal(user=user, via=via, token=g.get("ades_token"))
        g.ades_principal = principal
    return g.ades_principal


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header ("" for another or empty scheme),
    or None when the request has no Authorization header at all."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def enforce_access() -> Response | None:
    """The before-request hook: authenticate, then apply the endpoint's declaration.

    Answers 401 for anonymous or bad-token requests (a redirect to the login page for
    browser navigations), 403 for a role or scope that is too low and for endpoints
    without a declaration, and lets CSRF checking veto cookie-authenticated writes.
    """
    if request.endpoint is None:
        return None  # no route matched: Flask answers 404 or 405
    if request.method == "OPTIONS" and getattr(request.url_rule, "provide_automatic_options",
                                               False):
        return None
    rule = access_rule(current_app, request.endpoint)
    if rule is not None and rule.is_public:
        if request.method in SAFE_METHODS:
            return None  # nothing to check, so the user is not even loaded (health probes)
        return csrf.check_request(current_principal())
    principal = current_principal()
    if bearer_token() is not None and principal is None:
        return json_error(401, "invalid, expired or revoked API token",
                          {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'})
    if principal is None:
        return _unauthenticated()
    if rule is None:
        current_app.logger.error("endpoint %s declares no access rule; refusing it",
                                 request.endpoint)
        return _forbidden("undeclared endpoint")
    if not principal.user.has_role(rule.role):
        return _forbidden(f"requires role {rule.role}")
    if not principal.may(rule, request.method):
        return _forbidden("requires a write-scope token")
    return csrf.check_request(principal)


def _unauthenticated() -> Response:
    from .sessions import SESSION_RETRY_AFTER_SECONDS, session_store_down

    if session_store_down():
        # The cookie's session may be perfectly valid: say "later", not "log in again".
        message = "the session store is unavailable; try again shortly"
        if wants_html():
            raise ServiceUnavailable(message, retry_after=SESSION_RETRY_AFTER_SECONDS)
        return json_error(503, message, {"Retry-After": str(SESSION_RETRY_AFTER_SECONDS)},
                          code="session_store_unavailable")
    if wants_html() and request.method in ("GET", "HEAD"):
        target = request.full_path if request.query_string else request.path
        return redirect(f"{state().options.login_url}?{urlencode({'next': target})}")
    message = ("session expired; log in again" if g.get("ades_session_expired")
               else "authentication required")
    return json_error(401, message, {"WWW-Authenticate": BEARER_CHALLENGE})


def _forbidden(reason: str) -> Response:
    audit_request("access.denied", detail={"reason": reason, "endpoint": request.endpoint})
    if wants_html():
        abort(403)
    return json_error(403, f"forbidden: {reason}")

"""CSRF protection for writes authenticated by the session cookie.

A browser sends the session cookie with any request, including one a hostile page
triggers, so a cookie-authenticated unsafe request (POST, PUT, PATCH, DELETE) must also
prove it came from our own pages: it carries the session's CSRF token in the
`X-CSRF-Token` header or a `csrf_token` form field, and must not carry a browser `Origin`
naming another site. Requests with a bearer token are exempt (a hostile page cannot attach
one), and so are anonymous requests, which have no session to abuse. Views that must accept
cookie writes without a token (the login endpoint) are marked `@csrf_exempt`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from flask import Response, current_app, request, session

from .context import SAFE_METHODS, audit_request, json_error, state

if TYPE_CHECKING:
    from .rbac import Principal

SESSION_KEY = "_csrf"
HEADER = "X-CSRF-Token"
FORM_FIELD = "csrf_token"
EXEMPT_ATTR = "_ades_csrf_exempt"

View = TypeVar("View", bound=Callable[..., Any])


def csrf_token() -> str:
    """The current session's CSRF token, created on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def rotate_csrf_token() -> str:
    """Replace the session's CSRF token (done at login) and return the new one."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


def csrf_exempt(view: View) -> View:
    """Mark a view as accepting cookie-authenticated writes without a CSRF token."""
    setattr(view, EXEMPT_ATTR, True)
    return view


def check_request(principal: Principal | None) -> Response | None:
    """A 403 response when the current request needs a valid CSRF token and lacks one."""
    if principal is None or principal.via != "session" or request.method in SAFE_METHODS:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, EXEMPT_ATTR, False):
        return None
    origin = request.headers.get("Origin")
    # The token alone would do while it stays secret; a browser's Origin naming another
    # site (or "null", an opaque origin) is refused as well, so one leaked token is not enough.
    if origin is not None and origin.rstrip("/").lower() not in allowed_origins():
        audit_request("csrf.rejected", detail={"origin": origin[:200]})
        return json_error(403, "cross-site request refused: its Origin is not this site")
    expected = session.get(SESSION_KEY)
    sent = request.headers.get(HEADER) or _form_token()
    if isinstance(expected, str) and expected and sent and hmac.compare_digest(
            sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8")):
        return None
    audit_request("csrf.rejected", detail={"token_sent": bool(sent)})
    return json_error(403, "CSRF token missing or invalid; send the X-CSRF-Token header")


def allowed_origins() -> set[str]:
    """Origins a browser may write from: this host's (either scheme) and GAIT_PUBLIC_URL's."""
    host = request.host.lower()
    origins = {f"http://{host}", f"https://{host}"}
    public_url = state().config.server.public_url
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origins


def _form_token() -> str | None:
    # Only form bodies can carry the field; anything else is left for the view to parse.
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = request.form.get(FORM_FIELD)
        return value if isinstance(value, str) else None
    return None

"""HTTP endpoints for logging in and out, one's own API tokens, and account administration.

`auth_bp` (`/api/auth/...`) is mounted by every service, so a login through any of them
sets the shared session cookie. `admin_bp` (`/api/admin/...`: users, the audit log,
blocked addresses) is mounted where accounts are administered (the ui service).

Login answers 401 with one message for every failure - unknown user, wrong password,
locked or disabled account - so a client cannot tell which names exist or are locked;
the audit log records the real reason for admins.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request, session

from ..storage import Store
from . import audit, limits, lockout, tokens, users
from .context import audit_request, client_ip, json_error, state
from .csrf import csrf_exempt, csrf_token
from .rbac import current_principal, public, requires
from .sessions import (
    SESSION_RETRY_AFTER_SECONDS,
    end_session,
    session_deadline,
    session_store_unreachable,
    start_session,
)

auth_bp = Blueprint("auth", __name__, url_prefix="/api/auth")
admin_bp = Blueprint("admin", __name__, url_prefix="/api/admin")

INVALID_CREDENTIALS = "invalid username or password"
_MAX_USERNAME_LENGTH = 254


@auth_bp.after_request
@admin_bp.after_request
def _no_store(response: Response) -> Response:
    # Answers here carry CSRF tokens and account data: never cache them anywhere.
    response.headers["Cache-Control"] = "no-store"
    return response


def _store() -> Store:
    return state().store


def _json_object() -> dict[str, Any] | None:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


@auth_bp.post("/login")
@public
@csrf_exempt
def login() -> Response | tuple[Response, int]:
    """Log in with `{"username", "password"}`: 200 with the user and a CSRF token and a
    fresh session cookie, 401 with one message for every kind of failure, or 503 with
    Retry-After while the session store (Redis) is down."""
    data = _json_object()
    if data is None or not isinstance(data.get("username"), str) \
            or not isinstance(data.get("password"), str):
        return json_error(400, 'expected a JSON object {"username": ..., "password": ...}')
    username, password = data["username"], data["password"]
    if session_store_unreachable():
        # Checking the password would only lock accounts for logins that cannot succeed.
        return json_error(503, "the session store is unavailable; try again shortly",
                          {"Retry-After": str(SESSION_RETRY_AFTER_SECONDS)},
                          code="session_store_unavailable")
    if len(username) > _MAX_USERNAME_LENGTH or len(password) > users.MAX_PASSWORD_LENGTH:
        users.burn_password_check(password[:users.MAX_PASSWORD_LENGTH])
        return json_error(401, INVALID_CREDENTIALS)
    security = state().config.security
    result = lockout.authenticate(_store(), username, password, ip=client_ip(),
                                  max_attempts=security.max_login_attempts,
                                  lockout_minutes=security.lockout_minutes)
    if not result.ok or result.user is None:
        return json_error(401, INVALID_CREDENTIALS)
    token = start_session(result.user)
    return jsonify({"user": result.user.to_dict(), "csrf_token": token,
                    "session": {"expires_at": session_deadline()}})


@auth_bp.post("/logout")
@public
def logout() -> Response:
    """End the session (a no-op for anonymous and bearer-token requests)."""
    principal = current_principal()
    if principal is not None and principal.via == "session":
        audit_request("logout")
        end_session()
    elif principal is None:
        session.clear()
    return jsonify({"logged_out": True})


@auth_bp.get("/me")
@requires("viewer")
def me() -> Response:
    """Who the caller is, how they authenticated, and (for sessions) the CSRF token and
    when the session ends unless used again."""
    principal = current_principal()
    assert principal is not None
    data: dict[str, Any] = {"user": principal.user.to_dict(), "via": principal.via}
    if principal.via == "session":
        data["csrf_token"] = csrf_token()
        data["session"] = {"expires_at": session_deadline()}
    elif principal.token is not None:
        data["token"] = principal.token.to_dict()
    return jsonify(data)


def _session_only() -> Response | None:
    principal = current_principal()
    if principal is not None and principal.via != "session":
        return json_error(403, "forbidden: manage API tokens from a logged-in session")
    return None


@auth_bp.get("/tokens")
@requires("viewer")
def my_tokens() -> Response:
    """The caller's API tokens (metadata only)."""
    principal = current_principal()
    assert principal is not None
    return jsonify({"tokens": [t.to_dict() for t in
                               tokens.list_tokens(_store(), principal.user.username)]})


@auth_bp.post("/tokens")
@requires("viewer")
def create_my_token() -> Response | tuple[Response, int]:
    """Create a token for the caller from `{"scope": "read"|"write", "name"?}`; the
    plaintext is in this response only."""
    refused = _session_only()
    if refused is not None:
        return refused
    principal = current_principal()
    assert principal is not None
    data = _json_object() or {}
    try:
        record, plaintext = tokens.create_token(_store(), principal.user.username,
                                                str(data.get("scope", "")), data.get("name"))
    except tokens.TokenError as exc:
        return json_error(400, str(exc))
    audit_request("token.created", detail={"token_id": record.id, "scope": record.scope,
                                           "user": principal.user.username})
    return jsonify({"token": plaintext, "metadata": record.to_dict()}), 201


@auth_bp.delete("/tokens/<int:token_id>")
@requires("viewer")
def revoke_my_token(token_id: int) -> Response:
    """Revoke one of the caller's tokens (admins may revoke anyone's)."""
    refused = _session_only()
    if refused is not None:
        return refused
    principal = current_principal()
    assert principal is not None
    try:
        record = tokens.get_token(_store(), token_id)
    except tokens.TokenNotFound:
        return json_error(404, "no such token")
    if record.user_id != principal.user.id and not principal.user.has_role("admin"):
        return json_error(404, "no such token")
    record = tokens.revoke_token(_store(), token_id)
    audit_request("token.revoked", detail={"token_id": token_id, "user": record.username})
    return jsonify({"token": record.to_dict()})


# --------------------------------------------------------------------------- admin


@admin_bp.get("/users")
@requires("admin")
def list_users() -> Response:
    """Every account."""
    return jsonify({"users": [u.to_dict() for u in users.list_users(_store())]})


@admin_bp.post("/users")
@requires("admin")
def create_user() -> Response | tuple[Response, int]:
    """Create an account from `{"username", "password", "role"}`."""
    data = _json_object() or {}
    try:
        user = users.create_user(_store(), str(data.get("username", "")),
                                 data.get("password"), str(data.get("role", "")))
    except users.UserError as exc:
        return json_error(400, str(exc))
    audit_request("user.created", detail={"user": user.username, "role": user.role})
    return jsonify({"user": user.to_dict()}), 201


@admin_bp.put("/users/<username>/role")
@requires("admin")
def set_user_role(username: str) -> Response:
    """Change a user's role from `{"role"}`."""
    data = _json_object() or {}
    try:
        user, before = users.set_role(_store(), username, str(data.get("role", "")))
    except users.UserNotFound as exc:
        return json_error(404, str(exc))
    except users.UserError as exc:
        return json_error(400, str(exc))
    audit_request("user.role_changed", detail={"user": user.username, "from": before,
                                               "to": user.role})
    return jsonify({"user": user.to_dict()})


@admin_bp.post("/users/<username>/unlock")
@requires("admin")
def unlock_user(username: str) -> Response:
    """Lift a login lockout."""
    principal = current_principal()
    assert principal is not None
    try:
        user = lockout.unlock(_store(), username, actor=principal.user.username,
                              ip=client_ip())
    except users.UserNotFound as exc:
        return json_error(404, str(exc))
    return jsonify({"user": user.to_dict()})


@admin_bp.get("/audit")
@requires("admin")
def audit_log() -> Response:
    """Audit events, newest first, filtered by `kind` (`login.*` for a prefix), `actor`,
    `ip`, `since`/`until` (epoch seconds), paged with `before_id`, at most `limit`."""
    args = request.args
    try:
        events = audit.query_events(
            _store(), kind=args.get("kind") or None, actor=args.get("actor") or None,
            ip=args.get("ip") or None, since=_number(args.get("since")),
            until=_number(args.get("until")), before_id=_integer(args.get("before_id")),
            limit=_integer(args.get("limit")) or 100)
    except ValueError as exc:
        return json_error(400, str(exc))
    return jsonify({"events": [e.to_dict() for e in events]})


@admin_bp.get("/blocks")
@requires("admin")
def list_blocks() -> Response:
    """Client addresses blocked right now."""
    return jsonify({"blocks": [b.to_dict() for b in limits.list_blocks(_store())],
                    "now": int(time.time())})


@admin_bp.delete("/blocks/<ip>")
@requires("admin")
def unblock(ip: str) -> Response:
    """Lift the block on an address."""
    if not limits.unblock_ip(_store(), ip):
        return json_error(404, "that address is not blocked")
    limits.tracker().forget(ip)
    audit_request("ip.unblocked", detail={"blocked_ip": ip})
    return jsonify({"unblocked": ip})


def _number(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _integer(text: str | None) -> int | None:
    if text in (None, ""):
        return None
    if not text.isdigit():
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(text)

"""Account pages: one's own API tokens (every user), users and the audit log (admins).

They are forms over the same library functions as `/api/auth/tokens` and `/api/admin/...`,
so the rules (password policy, the last admin kept, token scopes) are enforced once.
"""

from __future__ import annotations

from typing import Any

from ades.hardening import current_principal, requires
from ades.hardening import tokens as token_store
from ades.hardening import users as user_store
from ades.hardening.audit import query_events
from ades.hardening.context import audit_request
from ades.service import get_store, operation
from flask import Blueprint, Response, redirect, render_template, request, url_for

bp = Blueprint("ui_admin", __name__, template_folder="templates")


def _me() -> Any:
    principal = current_principal()
    assert principal is not None
    return principal.user


def _tokens_page(status: int = 200, *, created: str | None = None, error: str | None = None) -> Any:
    mine = token_store.list_tokens(get_store(), _me().username)
    return render_template("ui/tokens.html", tokens=mine, created=created, error=error), status


@bp.get("/tokens")
@requires("viewer")
@operation(produces="text/html")
def tokens_page() -> Any:
    """The caller's API tokens, and a form to create one."""
    return _tokens_page()


@bp.post("/tokens")
@requires("viewer")
@operation(produces="text/html", form={"scope": "read or write", "name": "a label"},
           responses={201: "the new token, shown once"})
def create_token() -> Any:
    """Create a token; its plaintext is shown on this one page only."""
    try:
        record, plaintext = token_store.create_token(
            get_store(), _me().username, request.form.get("scope", ""),
            request.form.get("name") or None)
    except token_store.TokenError as exc:
        return _tokens_page(400, error=str(exc))
    audit_request("token.created", detail={"token_id": record.id, "scope": record.scope,
                                           "user": record.username})
    return _tokens_page(201, created=plaintext)


@bp.post("/tokens/<int:token_id>/revoke")
@requires("viewer")
@operation(produces="text/html", responses={302: "revoked: to the tokens page"})
def revoke_token(token_id: int) -> Any:
    """Revoke one of the caller's tokens (admins: anyone's)."""
    me = _me()
    try:
        record = token_store.get_token(get_store(), token_id)
    except token_store.TokenNotFound:
        return _tokens_page(404, error="no such token")
    if record.user_id != me.id and not me.has_role("admin"):
        return _tokens_page(404, error="no such token")
    token_store.revoke_token(get_store(), token_id)
    audit_request("token.revoked", detail={"token_id": token_id, "user": record.username})
    return redirect(url_for("ui_admin.tokens_page"))


def _users_page(status: int = 200, error: str | None = None) -> Any:
    return render_template("ui/users.html", users=user_store.list_users(get_store()),
                           roles=("viewer", "maintainer", "admin"), error=error), status


@bp.get("/admin/users")
@requires("admin")
@operation(produces="text/html")
def users_page() -> Any:
    """Every account, a form to create one, and role changes."""
    return _users_page()


@bp.post("/admin/users")
@requires("admin")
@operation(produces="text/html", form={"username": "new account name", "password": "its password",
                                             "role": "viewer, maintainer or admin"},
           responses={302: "created: to the users page"})
def create_user() -> Any:
    """Create an account from the form."""
    try:
        user = user_store.create_user(get_store(), request.form.get("username", ""),
                                      request.form.get("password", ""), request.form.get("role", ""))
    except user_store.UserError as exc:
        return _users_page(400, str(exc))
    audit_request("user.created", detail={"user": user.username, "role": user.role})
    return redirect(url_for("ui_admin.users_page"))


@bp.post("/admin/users/<username>/role")
@requires("admin")
@operation(produces="text/html", form={"role": "viewer, maintainer or admin"},
           responses={302: "changed: to the users page"})
def set_role(username: str) -> Any:
    """Change an account's role (the last admin cannot be demoted)."""
    try:
        user, before = user_store.set_role(get_store(), username, request.form.get("role", ""))
    except user_store.UserError as exc:
        return _users_page(404 if isinstance(exc, user_store.UserNotFound) else 400, str(exc))
    audit_request("user.role_changed", detail={"user": user.username, "from": before, "to": user.role})
    return redirect(url_for("ui_admin.users_page"))


@bp.get("/admin/audit")
@requires("admin")
@operation(produces="text/html", query={"kind": "event kind (`login.*` for a prefix)", "actor": "user"})
def audit_page() -> Response | str:
    """The audit log, newest first, filtered by kind (`login.*` for a prefix) or actor."""
    kind = (request.args.get("kind") or "").strip()[:100] or None
    actor = (request.args.get("actor") or "").strip()[:200] or None
    events = query_events(get_store(), kind=kind, actor=actor, limit=200)
    return render_template("ui/audit.html", events=events, kind=kind or "", actor=actor or "")

"""API tokens for IDE and MCP clients: random, shown once, stored as a SHA-256 hash.

A token acts as its user with at most its scope: `read` tokens may only make safe
(read-only) requests, `write` tokens anything the user's role allows. Revoked tokens
and tokens of disabled users are refused. The plaintext never reaches the database;
since tokens carry 256 random bits, an unsalted fast hash is enough to make a leaked
table useless.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from ..storage import Store
from . import users
from .token_cache import TokenCache, forget_everywhere
from .users import User, UserError

SCOPES = ("read", "write")
TOKEN_PREFIX = "ades_"  # noqa: S105 -- a marker, not a secret
# last_used_at is written at most this often per token, so a busy client does not turn
# every request into a database write.
LAST_USED_RESOLUTION_SECONDS = 60
_TOKEN_SHAPE = re.compile(r"ades_[A-Za-z0-9_-]{43}")


class TokenError(UserError):
    """A token operation was refused (bad scope or name, unknown user)."""


class TokenNotFound(TokenError):
    """No token has that id."""


@dataclass(frozen=True)
class ApiToken:
    """A stored token's metadata (never the token itself)."""

    id: int
    user_id: int
    username: str
    name: str
    scope: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None

    @property
    def revoked(self) -> bool:
        """True once the token has been revoked."""
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata."""
        return {"id": self.id, "user": self.username, "name": self.name, "scope": self.scope,
                "created_at": self.created_at, "last_used_at": self.last_used_at,
                "revoked_at": self.revoked_at, "revoked": self.revoked}


_SELECT = ("SELECT t.id, t.user_id, u.username, t.name, t.scope, t.created_at, "
           "t.last_used_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id ")


_TOKEN_FIELDS = ("id", "user_id", "username", "name", "scope", "created_at", "last_used_at",
                 "revoked_at")
# The token and its user in one round trip: every API request with a bearer token runs it.
_RESOLVE = ("SELECT t.id, t.user_id, u.username, t.name, t.scope, t.created_at, t.last_used_at, "
            "t.revoked_at, u.role, u.created_at AS user_created_at, u.failed_logins, "
            "u.locked_until, u.last_login_at, u.disabled "
            "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?")


def _token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(**row)


def hash_token(token: str) -> str:
    """The hex SHA-256 under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scope(scope: str) -> str:
    """`scope` if it is `read` or `write`, else TokenError."""
    if scope not in SCOPES:
        raise TokenError(f"invalid scope {scope!r}: expected read or write")
    return scope


def create_token(store: Store, username: str, scope: str, name: str | None = None, *,
                 now: float | None = None) -> tuple[ApiToken, str]:
    """Create a token for `username`; returns its metadata and the plaintext token.

    The plaintext is returned only here; show it once. Raises TokenError for a bad
    scope or name and UserNotFound for an unknown user.
    """
    check_scope(scope)
    label = (name if name is not None else f"{scope} token").strip()
    if not 1 <= len(label) <= 100 or not label.isprintable():
        raise TokenError("invalid token name: use 1-100 printable characters")
    user = users.require_user(store, username)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as tx:
        (token_id,) = tx.fetchall(
            "INSERT INTO api_tokens (user_id, name, token_hash, scope, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (user.id, label, hash_token(plaintext), scope, int(now or time.time())))[0]
    return get_token(store, token_id), plaintext


def get_token(store: Store, token_id: int) -> ApiToken:
    """The token with id `token_id`; raises TokenNotFound."""
    rows = store.query_dicts(_SELECT + "WHERE t.id = ?", (token_id,))
    if not rows:
        raise TokenNotFound(f"no such token: {token_id}")
    return _token(rows[0])


def list_tokens(store: Store, username: str | None = None, *,
                include_revoked: bool = True) -> list[ApiToken]:
    """Tokens (of one user, when given), oldest first."""
    clauses, params = [], []
    if username is not None:
        clauses.append("u.username = ?")
        params.append(users.require_user(store, username).username)
    if not include_revoked:
        clauses.append("t.revoked_at IS NULL")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    return [_token(r) for r in store.query_dicts(_SELECT + where + "ORDER BY t.id", params)]


def revoke_token(store: Store, token_id: int, *, now: float | None = None) -> ApiToken:
    """Revoke a token (idempotent: a revoked token keeps its first revocation time)."""
    with store.transaction() as tx:
        tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                   (int(now or time.time()), token_id))
    forget_everywhere()
    return get_token(store, token_id)


def resolve_token(store: Store, plaintext: str, *, now: float | None = None,
                  cache: TokenCache | None = None) -> tuple[User, ApiToken, bool] | None:
    """The active user and token that `plaintext` stands for, or None.

    None for anything unknown, revoked, or belonging to a disabled user. The third value
    is True when this call recorded a new `last_used_at` (at most once a minute per
    token), which callers use to audit token use without flooding the log. With a `cache`
    an active token is found in memory until it or its account changes (see
    `token_cache`), or until its `last_used_at` is due again.
    """
    if not isinstance(plaintext, str) or not _TOKEN_SHAPE.fullmatch(plaintext):
        return None
    now = time.time() if now is None else now
    key = hash_token(plaintext)
    generation = 0
    if cache is not None:
        kept = cache.get(key)
        if kept is not None and not _last_use_due(kept[1], now):
            return kept[0], kept[1], False
        generation = cache.generation()
    rows = store.query_dicts(_RESOLVE, (key,))
    if not rows:
        return None
    row = rows[0]
    token = _token({k: row[k] for k in _TOKEN_FIELDS})
    user = User(id=row["user_id"], username=row["username"], role=row["role"],
                created_at=row["user_created_at"], failed_logins=row["failed_logins"],
                locked_until=row["locked_until"], last_login_at=row["last_login_at"],
                disabled=bool(row["disabled"]))
    if token.revoked or user.disabled:
        return None
    touched = False
    if _last_use_due(token, now):
        with store.transaction() as tx:
            cur = tx.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND "
                "(last_used_at IS NULL OR last_used_at <= ?)",
                (int(now), token.id, int(now) - LAST_USED_RESOLUTION_SECONDS))
            touched = cur.rowcount == 1
        if touched:
            token = replace(token, last_used_at=int(now))
    if cache is not None:
        cache.put(key, (user, token), generation)
    return user, token, touched


def _last_use_due(token: ApiToken, now: float) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION_SECONDS

"""User accounts: names, roles and argon2id password hashes in the `users` table.

User names are case-insensitive (stored lower-case). Passwords are hashed with argon2id;
a hash made with weaker parameters than the current ones is upgraded at the next
successful login. Account lockout lives in `lockout.py`, the audit trail in `audit.py`.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..storage import Store
from .token_cache import forget_everywhere

ROLES = ("viewer", "maintainer", "admin")  # lowest to highest
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")

# The hasher in use; tests swap in cheaper parameters. argon2-cffi's defaults follow
# RFC 9106's low-memory profile (argon2id, t=3, m=64 MiB, p=4).
PASSWORD_HASHER = PasswordHasher()


class UserError(ValueError):
    """A user operation was refused: bad name, role or password, or a duplicate."""


class UserNotFound(UserError):
    """No user has that name (or id)."""


@dataclass(frozen=True)
class User:
    """A user account, as flask-login sees it (`is_authenticated`, `get_id`, ...)."""

    id: int
    username: str
    role: str
    created_at: int
    failed_logins: int = 0
    locked_until: int | None = None
    last_login_at: int | None = None
    disabled: bool = False

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        """Disabled accounts cannot log in or use their tokens."""
        return not self.disabled

    def get_id(self) -> str:
        """The id flask-login keeps in the session."""
        return str(self.id)

    def has_role(self, role: str) -> bool:
        """True when this user's role is `role` or above it."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def is_locked(self, now: float | None = None) -> bool:
        """True while a lockout is in force."""
        return self.locked_until is not None and self.locked_until > (now or time.time())

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """JSON-ready data without the password hash."""
        return {"id": self.id, "username": self.username, "role": self.role,
                "created_at": self.created_at, "last_login_at": self.last_login_at,
                "failed_logins": self.failed_logins, "locked": self.is_locked(now),
                "locked_until": self.locked_until, "disabled": self.disabled}


_COLUMNS = ("id, username, role, created_at, failed_logins, locked_until, last_login_at, "
            "disabled")


def _user(row: dict[str, Any]) -> User:
    return User(id=row["id"], username=row["username"], role=row["role"],
                created_at=row["created_at"], failed_logins=row["failed_logins"],
                locked_until=row["locked_until"], last_login_at=row["last_login_at"],
                disabled=bool(row["disabled"]))


def normalize_username(username: str) -> str:
    """The stored form of a user name; raises UserError when it is not a valid name."""
    name = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.fullmatch(name):
        raise UserError(f"invalid user name {username!r}: use 1-64 letters, digits, '.', '_', "
                        "'@', '+' or '-', starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    """`role` if it is one of ROLES, else UserError."""
    if role not in ROLE_RANK:
        raise UserError(f"invalid role {role!r}: expected one of {', '.join(reversed(ROLES))}")
    return role


def check_password(password: str) -> str:
    """`password` if it is acceptable (8 to 1024 characters), else UserError."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password too long: use at most {MAX_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (with its own random salt)."""
    return PASSWORD_HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash`; never raises for a bad hash."""
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_password_check(password: str) -> None:
    """Spend the time a real verification takes, for names that match no user.

    Answering 'no such user' faster than 'wrong password' would let a client find out
    which names exist.
    """
    verify_password(_dummy_hash(), password)


@functools.cache
def _dummy_hash() -> str:
    return PASSWORD_HASHER.hash("not the password of anyone")


def create_user(store: Store, username: str, password: str, role: str, *,
                now: float | None = None) -> User:
    """Create an account; raises UserError for a bad or taken name, role or password."""
    name = normalize_username(username)
    check_role(role)
    check_password(password)
    password_hash = hash_password(password)
    with store.transaction() as tx:
        if tx.fetchall("SELECT 1 FROM users WHERE username = ?", (name,)):
            raise UserError(f"user {name!r} already exists")
        tx.execute("INSERT INTO users (username, password_hash, role, created_at) "
                   "VALUES (?, ?, ?, ?)", (name, password_hash, role, int(now or time.time())))
    user = get_user(store, name)
    assert user is not None
    return user


def get_user(store: Store, username: str) -> User | None:
    """The user called `username` (any case), or None."""
    if not isinstance(username, str):
        return None
    rows = store.query_dicts(f"SELECT {_COLUMNS} FROM users WHERE username = ?",
                             (username.strip().lower(),))
    return _user(rows[0]) if rows else None


def get_user_by_id(store: Store, user_id: int) -> User | None:
    """The user with primary key `user_id`, or None."""
    rows = store.query_dicts(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
    return _user(rows[0]) if rows else None


def require_user(store: Store, username: str) -> User:
    """The user called `username`; raises UserNotFound."""
    user = get_user(store, username)
    if user is None:
        raise UserNotFound(f"no such user: {username}")
    return user


def list_users(store: Store) -> list[User]:
    """Every account, by name."""
    return [_user(r) for r in
            store.query_dicts(f"SELECT {_COLUMNS} FROM users ORDER BY username")]


def get_user_and_hash(store: Store, username: str) -> tuple[User, str] | None:
    """The user called `username` and their password hash, or None.

    The hash stays out of `User` so that it can never end up serialised.
    """
    if not isinstance(username, str):
        return None
    rows = store.query_dicts(f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = ?",
                             (username.strip().lower(),))
    if not rows:
        return None
    password_hash = rows[0].pop("password_hash")
    return _user(rows[0]), password_hash


def rehash_if_needed(store: Store, user_id: int, password_hash: str, password: str) -> None:
    """Store a fresh hash of a just-verified `password` if its parameters are outdated."""
    if PASSWORD_HASHER.check_needs_rehash(password_hash):
        with store.transaction() as tx:
            tx.execute("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                       (hash_password(password), user_id, password_hash))


def set_role(store: Store, username: str, role: str) -> tuple[User, str]:
    """Give `username` a new role; returns the updated user and the previous role.

    Refuses (UserError) to demote the last enabled admin.
    """
    check_role(role)
    with store.transaction() as tx:
        user = _locked_row(tx, store, username)
        if role != "admin":
            _keep_an_admin(tx, store, user)
        tx.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
    forget_everywhere()
    updated = get_user_by_id(store, user.id)
    assert updated is not None
    return updated, user.role


def set_password(store: Store, username: str, password: str) -> User:
    """Replace a user's password (and clear any lockout)."""
    check_password(password)
    password_hash = hash_password(password)
    with store.transaction() as tx:
        user = _locked_row(tx, store, username)
        tx.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL "
                   "WHERE id = ?", (password_hash, user.id))
    return require_user(store, user.username)


def set_disabled(store: Store, username: str, disabled: bool) -> User:
    """Disable (or re-enable) an account; a disabled user cannot log in or use tokens.

    Refuses (UserError) to disable the last enabled admin.
    """
    with store.transaction() as tx:
        user = _locked_row(tx, store, username)
        if disabled:
            _keep_an_admin(tx, store, user)
        tx.execute("UPDATE users SET disabled = ? WHERE id = ?", (bool(disabled), user.id))
    forget_everywhere()
    return require_user(store, user.username)


def _keep_an_admin(tx: Any, store: Store, user: User) -> None:
    """Raise UserError if `user` is the only enabled admin (they are about to stop being
    one), which would leave nobody able to manage accounts through the web UI."""
    if user.role != "admin" or user.disabled:
        return
    lock = " FOR UPDATE" if store.dialect == "postgres" else ""  # SQLite's lock is global
    admins = tx.fetchall(f"SELECT id FROM users WHERE role = 'admin' AND disabled = ?{lock}",
                         (False,))
    if len(admins) <= 1:
        raise UserError(f"{user.username!r} is the last admin; make another user admin first")


def _locked_row(tx: Any, store: Store, username: str) -> User:
    """Read a user inside `tx`, holding its row lock on PostgreSQL."""
    lock = " FOR UPDATE" if store.dialect == "postgres" else ""
    name = username.strip().lower() if isinstance(username, str) else ""
    cur = tx.execute(f"SELECT {_COLUMNS} FROM users WHERE username = ?{lock}", (name,))
    row = cur.fetchone()
    if row is None:
        raise UserNotFound(f"no such user: {username}")
    names = [c.strip() for c in _COLUMNS.split(",")]
    return _user(dict(zip(names, row, strict=True)))

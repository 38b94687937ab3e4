"""Password login guarded by account lockout, kept in the `users` table.

Each wrong password for an existing account adds one to `failed_logins`; reaching the
configured maximum sets `locked_until`. While locked, even the right password is
refused, with the same answer as a wrong one. A lock ends by itself after the lockout
period (the count then starts again) or when an admin unlocks the account. Lockout is
per account and lives in the database, so it holds across workers and services and is
independent of the per-address rate limiter.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass

from ..storage import Store
from . import audit, users
from .users import User


class LoginOutcome(enum.Enum):
    """How a login attempt ended; only SUCCEEDED lets the client in."""

    SUCCEEDED = "succeeded"
    BAD_CREDENTIALS = "bad_credentials"  # unknown name or wrong password
    LOCKED = "locked"  # locked now, or locked by this very failure
    DISABLED = "disabled"


@dataclass(frozen=True)
class LoginResult:
    """The outcome, and the user when the name matched an account."""

    outcome: LoginOutcome
    user: User | None = None

    @property
    def ok(self) -> bool:
        """True only for a successful login."""
        return self.outcome is LoginOutcome.SUCCEEDED


def authenticate(store: Store, username: str, password: str, *, ip: str | None,
                 max_attempts: int, lockout_minutes: int,
                 now: float | None = None) -> LoginResult:
    """Check a name and password, counting failures and locking the account.

    Every attempt is audited: `login.succeeded`, `login.failed` (with the attempt
    count), `login.locked` for an attempt on a locked account, and `account.locked`
    when this failure locks it. Unknown names take as long as known ones.
    """
    now = time.time() if now is None else now
    found = users.get_user_and_hash(store, username)
    if found is None:
        users.burn_password_check(password)
        audit.record_event(store, "login.failed", _attempted_name(username), ip,
                           {"reason": "unknown user"}, now=now)
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)

    user, password_hash = found
    matches = users.verify_password(password_hash, password)
    if user.is_locked(now):
        audit.record_event(store, "login.locked", user.username, ip,
                           {"locked_until": user.locked_until,
                            "password_correct": matches}, now=now)
        return LoginResult(LoginOutcome.LOCKED, user)
    if user.disabled:
        audit.record_event(store, "login.failed", user.username, ip,
                           {"reason": "account disabled"}, now=now)
        return LoginResult(LoginOutcome.DISABLED, user)
    if not matches:
        return _record_failure(store, user, ip, max_attempts, lockout_minutes, now)

    users.rehash_if_needed(store, user.id, password_hash, password)
    with store.transaction() as tx:
        tx.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ? "
                   "WHERE id = ?", (int(now), user.id))
    audit.record_event(store, "login.succeeded", user.username, ip, {}, now=now)
    fresh = users.get_user_by_id(store, user.id)
    return LoginResult(LoginOutcome.SUCCEEDED, fresh)


def _record_failure(store: Store, user: User, ip: str | None, max_attempts: int,
                    lockout_minutes: int, now: float) -> LoginResult:
    locked_until = None
    with store.transaction() as tx:
        # One statement, so concurrent failures cannot lose a count; an expired lock
        # starts the count again.
        (count,) = tx.fetchall(
            "UPDATE users SET failed_logins = CASE WHEN locked_until IS NOT NULL "
            "AND locked_until <= ? THEN 1 ELSE failed_logins + 1 END, "
            "locked_until = CASE WHEN locked_until <= ? THEN NULL ELSE locked_until END "
            "WHERE id = ? RETURNING failed_logins", (int(now), int(now), user.id))[0]
        if count >= max_attempts:
            locked_until = int(math.ceil(now + lockout_minutes * 60))
            tx.execute("UPDATE users SET locked_until = ? WHERE id = ?", (locked_until, user.id))
    audit.record_event(store, "login.failed", user.username, ip,
                       {"reason": "wrong password", "failed_logins": count}, now=now)
    if locked_until is not None:
        audit.record_event(store, "account.locked", user.username, ip,
                           {"failed_logins": count, "locked_until": locked_until}, now=now)
        return LoginResult(LoginOutcome.LOCKED, user)
    return LoginResult(LoginOutcome.BAD_CREDENTIALS, user)


def unlock(store: Store, username: str, *, actor: str | None, ip: str | None = None) -> User:
    """Clear a user's lock and failure count, audited as `account.unlocked` by `actor`.

    Raises UserNotFound. Unlocking an account that is not locked just resets the count.
    """
    user = users.require_user(store, username)
    with store.transaction() as tx:
        tx.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?",
                   (user.id,))
    audit.record_event(store, "account.unlocked", actor, ip,
                       {"user": user.username, "was_locked": user.is_locked(),
                        "failed_logins": user.failed_logins})
    return users.require_user(store, user.username)


def _attempted_name(username: object) -> str | None:
    return username.strip().lower()[:64] if isinstance(username, str) else None

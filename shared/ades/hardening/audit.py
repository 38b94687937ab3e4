"""The audit log: security events (logins, lockouts, role changes, token use, blocked
requests) recorded in the database and queryable by admins.

Every event has a `kind` (dotted, e.g. `login.failed`), an optional `actor`, the client
`ip` and a JSON `detail` object. The actor is whoever acted: the user logging in (or the
name they tried), the admin changing an account (the account is then `detail.user`), or
`cli:<login>` for the command line. Request events also carry `detail.method` and
`detail.path`. Events are only ever appended; nothing here updates or deletes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..storage import Store

# The kinds this package records; other code may add its own dotted kinds.
EVENT_KINDS = (
    "login.succeeded", "login.failed", "login.locked", "logout",
    "account.locked", "account.unlocked",
    "user.created", "user.role_changed", "user.password_changed", "user.disabled",
    "user.enabled",
    "token.created", "token.revoked", "token.used", "token.rejected",
    "access.denied", "csrf.rejected", "request.blocked",
    "ratelimit.exceeded", "ip.blocked", "ip.unblocked",
)

_MAX_TEXT = 200
_MAX_LIMIT = 1000


@dataclass(frozen=True)
class AuditEvent:
    """One recorded security event."""

    id: int
    at: float
    kind: str
    actor: str | None
    ip: str | None
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data."""
        return {"id": self.id, "at": self.at, "kind": self.kind, "actor": self.actor,
                "ip": self.ip, "detail": self.detail}


def record_event(store: Store, kind: str, actor: str | None = None, ip: str | None = None,
                 detail: Mapping[str, Any] | None = None, *, now: float | None = None) -> None:
    """Append one event to the audit log.

    `actor` and `ip` are truncated to 200 characters (they may come from a client);
    `detail` must be JSON-serialisable (anything else is stored as its `str`). Raises
    StorageError when the database refuses the write.
    """
    payload = json.dumps(dict(detail or {}), default=str, ensure_ascii=False, sort_keys=True)
    with store.transaction() as tx:
        tx.execute("INSERT INTO audit_log (at, kind, actor, ip, detail) VALUES (?, ?, ?, ?, ?)",
                   (time.time() if now is None else now, kind[:_MAX_TEXT],
                    None if actor is None else actor[:_MAX_TEXT],
                    None if ip is None else ip[:_MAX_TEXT], payload))


def query_events(store: Store, *, kind: str | None = None, actor: str | None = None,
                 ip: str | None = None, since: float | None = None, until: float | None = None,
                 before_id: int | None = None, limit: int = 100) -> list[AuditEvent]:
    """Events matching every given filter, newest first.

    `kind` matches exactly, or as a prefix when it ends in `.*` (`login.*`). `since` and
    `until` bound the event time (epoch seconds, inclusive, exclusive). `before_id` pages
    backwards: pass the smallest id of the previous page. `limit` is capped at 1000.
    """
    clauses, params = [], []
    if kind:
        if kind.endswith(".*"):
            clauses.append("kind LIKE ? ESCAPE '\\'")
            params.append(kind[:-1].replace("\\", "\\\\").replace("%", "\\%")
                          .replace("_", "\\_") + "%")
        else:
            clauses.append("kind = ?")
            params.append(kind)
    for column, value in (("actor", actor), ("ip", ip)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("at < ?")
        params.append(until)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    limit = max(1, min(int(limit), _MAX_LIMIT))
    rows = store.query_dicts(
        f"SELECT id, at, kind, actor, ip, detail FROM audit_log {where}"
        f"ORDER BY id DESC LIMIT {limit}", params)
    return [AuditEvent(id=r["id"], at=float(r["at"]), kind=r["kind"], actor=r["actor"],
                       ip=r["ip"], detail=_load_detail(r["detail"])) for r in rows]


def _load_detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}

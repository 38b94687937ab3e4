"""Annotations: comments on commits, experiences and files, with threads, mentions and resolve.

An annotation belongs to one repository and points at a target (`commit` + sha, `experience`
+ id, `file` + path). A reply names its thread (the first annotation); replies to a reply
join the same thread. `@name` in a body mentions an existing user. Deleting is soft: the row
stays (so threads keep their shape) and its body is no longer shown.

Every change takes the repository's next cursor value (1, 2, 3, ... per repository) and is
recorded with a snapshot of the annotation, so `changes_since(store, repo_id, cursor)` replays
to a reconnecting client exactly the changes it missed, in order, as they were broadcast.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from .storage import Store

TARGET_KINDS = ("commit", "experience", "file")
CHANGE_KINDS = ("annotation.created", "annotation.updated", "annotation.resolved",
                "annotation.reopened", "annotation.deleted")
MAX_BODY_CHARS = 10_000
MAX_TARGET_CHARS = 1_000
MAX_PAGE = 500
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})")
_COMMIT = re.compile(r"[0-9a-f]{4,64}")


class AnnotationError(ValueError):
    """An annotation request was refused; `status` is the HTTP status that fits."""

    status = 400


class AnnotationNotFound(AnnotationError):
    """No (visible) annotation with that id in that repository."""

    status = 404


class AnnotationForbidden(AnnotationError):
    """The actor may not make this change (only authors edit; authors or admins delete)."""

    status = 403


@dataclass(frozen=True)
class Annotation:
    """One annotation as clients see it."""

    id: int
    repo_id: int
    thread_id: int | None
    target_kind: str
    target: str
    author: str
    body: str
    mentions: tuple[str, ...]
    created_at: float
    updated_at: float
    resolved_at: float | None
    resolved_by: str | None
    deleted_at: float | None
    seq: int

    @property
    def deleted(self) -> bool:
        """True once the annotation was deleted (its body is then hidden)."""
        return self.deleted_at is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; a deleted annotation keeps its place but not its body."""
        return {"id": self.id, "thread_id": self.thread_id,
                "target": {"kind": self.target_kind, "id": self.target},
                "author": self.author, "body": "" if self.deleted else self.body,
                "mentions": [] if self.deleted else list(self.mentions),
                "created_at": self.created_at, "updated_at": self.updated_at,
                "resolved": self.resolved_at is not None, "resolved_at": self.resolved_at,
                "resolved_by": self.resolved_by, "deleted": self.deleted, "cursor": self.seq}


@dataclass(frozen=True)
class Change:
    """One recorded change: its cursor, kind (`annotation.created`, ...) and the snapshot."""

    cursor: int
    kind: str
    annotation: dict[str, Any]

    def to_message(self, repo: str) -> dict[str, Any]:
        """The websocket/event-bus message announcing this change in room `repo`."""
        return {"type": self.kind, "v": 1, "repo": repo, "cursor": self.cursor,
                "annotation": self.annotation}


@dataclass(frozen=True)
class AnnotationFilters:
    """Which annotations `list_annotations` returns (None: no restriction)."""

    target_kind: str | None = None
    target: str | None = None
    author: str | None = None
    mention: str | None = None
    resolved: bool | None = None
    thread_id: int | None = None
    include_deleted: bool = False


_COLUMNS = ("id, repo_id, thread_id, target_kind, target, author, body, mentions, created_at, "
            "updated_at, resolved_at, resolved_by, deleted_at, seq")


def _annotation(row: tuple) -> Annotation:
    values = list(row)
    values[7] = tuple(json.loads(values[7]))
    return Annotation(*values)


def check_target(kind: Any, target: Any) -> tuple[str, str]:
    """A valid `(kind, target)`, or AnnotationError naming what is wrong."""
    if kind not in TARGET_KINDS:
        raise AnnotationError(f"target kind must be one of {', '.join(TARGET_KINDS)}")
    if not isinstance(target, str) or not target.strip():
        raise AnnotationError("target id must be a non-empty string")
    target = target.strip()
    if len(target) > MAX_TARGET_CHARS or "\x00" in target:
        raise AnnotationError(f"target id must be at most {MAX_TARGET_CHARS} characters, no NUL")
    if kind == "commit" and not _COMMIT.fullmatch(target):
        raise AnnotationError("a commit target is a lowercase hex sha (4-64 characters)")
    if kind == "experience" and not target.isdigit():
        raise AnnotationError("an experience target is a numeric experience id")
    return kind, target


def check_body(body: Any) -> str:
    """A valid annotation body (stripped), or AnnotationError."""
    if not isinstance(body, str) or not body.strip():
        raise AnnotationError("body must be a non-empty string")
    body = body.strip()
    if len(body) > MAX_BODY_CHARS:
        raise AnnotationError(f"body must be at most {MAX_BODY_CHARS} characters")
    if "\x00" in body:
        raise AnnotationError("body must not contain NUL characters")
    return body


def mentioned_users(store: Store, body: str) -> tuple[str, ...]:
    """The existing usernames that `body` mentions as `@name`, sorted, without repeats."""
    names = sorted({m.lower() for m in _MENTION.findall(body)})
    if not names:
        return ()
    marks = ", ".join("?" for _ in names)
    rows = store.query(f"SELECT username FROM users WHERE username IN ({marks})", names)
    return tuple(sorted(r[0] for r in rows))


def get_annotation(store: Store, repo_id: int, annotation_id: int, *,
                   include_deleted: bool = False) -> Annotation:
    """The annotation `annotation_id` of repository `repo_id`; AnnotationNotFound otherwise."""
    row = store.query_one(f"SELECT {_COLUMNS} FROM annotations WHERE id = ? AND repo_id = ?",
                          (annotation_id, repo_id))
    if row is None:
        raise AnnotationNotFound(f"no annotation {annotation_id} in this repository")
    annotation = _annotation(row)
    if annotation.deleted and not include_deleted:
        raise AnnotationNotFound(f"annotation {annotation_id} was deleted")
    return annotation


def list_annotations(store: Store, repo_id: int, filters: AnnotationFilters | None = None, *,
                     limit: int = 100, offset: int = 0) -> tuple[list[Annotation], int]:
    """Annotations of `repo_id` matching `filters`, oldest first, and how many match in all."""
    filters = filters or AnnotationFilters()
    where, params = ["repo_id = ?"], [repo_id]
    if filters.target_kind is not None:
        where.append("target_kind = ?")
        params.append(filters.target_kind)
    if filters.target is not None:
        where.append("target = ?")
        params.append(filters.target)
    if filters.author is not None:
        where.append("author = ?")
        params.append(filters.author)
    if filters.mention is not None:
        # mentions is a JSON array of names, each quoted: match the quoted name exactly.
        where.append("mentions LIKE ?")
        params.append('%"' + filters.mention.replace("%", "").replace("_", "\\_") + '"%')
        where[-1] += " ESCAPE '\\'"
    if filters.resolved is not None:
        where.append("resolved_at IS NOT NULL" if filters.resolved else "resolved_at IS NULL")
    if filters.thread_id is not None:
        where.append("(id = ? OR thread_id = ?)")
        params += [filters.thread_id, filters.thread_id]
    if not filters.include_deleted:
        where.append("deleted_at IS NULL")
    clause = " AND ".join(where)
    total = store.query_one(f"SELECT COUNT(*) FROM annotations WHERE {clause}", params)[0]
    rows = store.query(f"SELECT {_COLUMNS} FROM annotations WHERE {clause} ORDER BY id "
                       f"LIMIT ? OFFSET ?", [*params, max(0, min(limit, MAX_PAGE)), max(0, offset)])
    return [_annotation(r) for r in rows], total


def current_cursor(store: Store, repo_id: int) -> int:
    """The cursor of the repository's latest annotation change (0 before the first)."""
    row = store.query_one("SELECT last_seq FROM annotation_cursors WHERE repo_id = ?", (repo_id,))
    return int(row[0]) if row else 0


def changes_since(store: Store, repo_id: int, cursor: int, *, limit: int = 1000) -> list[Change]:
    """The changes of `repo_id` after `cursor`, in order, at most `limit` of them."""
    rows = store.query("SELECT seq, kind, snapshot FROM annotation_changes "
                       "WHERE repo_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                       (repo_id, max(0, cursor), max(1, limit)))
    return [Change(int(seq), kind, json.loads(snapshot)) for seq, kind, snapshot in rows]


def create_annotation(store: Store, repo_id: int, *, author: str, target_kind: Any, target: Any,
                      body: Any, thread_id: Any = None, now: float | None = None) -> Change:
    """Add an annotation (a reply when `thread_id` names one in the same repository).

    A reply takes its thread's target. Raises AnnotationError for bad input and
    AnnotationNotFound for an unknown or deleted thread.
    """
    body = check_body(body)
    if thread_id is not None:
        if isinstance(thread_id, bool) or not isinstance(thread_id, int):
            raise AnnotationError("thread_id must be an integer")
        parent = get_annotation(store, repo_id, thread_id)
        thread_id = parent.thread_id or parent.id
        target_kind, target = parent.target_kind, parent.target
    else:
        target_kind, target = check_target(target_kind, target)
    mentions = json.dumps(list(mentioned_users(store, body)))
    at = time.time() if now is None else now
    with store.transaction() as tx:
        seq = _next_cursor(tx, repo_id)
        (annotation_id,) = tx.fetchall(
            "INSERT INTO annotations (repo_id, thread_id, target_kind, target, author, body, "
            "mentions, created_at, updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id", (repo_id, thread_id, target_kind, target, author, body, mentions,
                             at, at, seq))[0]
        return _record(tx, repo_id, annotation_id, seq, "annotation.created", at)


def edit_annotation(store: Store, repo_id: int, annotation_id: int, *, actor: str, body: Any,
                    now: float | None = None) -> Change:
    """Replace the body of one's own annotation; AnnotationForbidden for someone else's."""
    body = check_body(body)
    annotation = get_annotation(store, repo_id, annotation_id)
    if annotation.author != actor:
        raise AnnotationForbidden("only the author may edit an annotation")
    mentions = json.dumps(list(mentioned_users(store, body)))
    at = time.time() if now is None else now
    with store.transaction() as tx:
        seq = _next_cursor(tx, repo_id)
        tx.execute("UPDATE annotations SET body = ?, mentions = ?, updated_at = ?, seq = ? "
                   "WHERE id = ?", (body, mentions, at, seq, annotation_id))
        return _record(tx, repo_id, annotation_id, seq, "annotation.updated", at)


def resolve_annotation(store: Store, repo_id: int, annotation_id: int, *, actor: str,
                       resolved: bool = True, now: float | None = None) -> Change:
    """Mark a thread resolved (or reopen it); a reply resolves the thread it belongs to."""
    annotation = get_annotation(store, repo_id, annotation_id)
    root_id = annotation.thread_id or annotation.id
    at = time.time() if now is None else now
    with store.transaction() as tx:
        seq = _next_cursor(tx, repo_id)
        tx.execute("UPDATE annotations SET resolved_at = ?, resolved_by = ?, updated_at = ?, "
                   "seq = ? WHERE id = ?",
                   (at if resolved else None, actor if resolved else None, at, seq, root_id))
        return _record(tx, repo_id, root_id, seq,
                       "annotation.resolved" if resolved else "annotation.reopened", at)


def delete_annotation(store: Store, repo_id: int, annotation_id: int, *, actor: str,
                      is_admin: bool = False, now: float | None = None) -> Change:
    """Soft-delete an annotation (its author, or an admin); replies stay in the thread."""
    annotation = get_annotation(store, repo_id, annotation_id)
    if annotation.author != actor and not is_admin:
        raise AnnotationForbidden("only the author or an admin may delete an annotation")
    at = time.time() if now is None else now
    with store.transaction() as tx:
        seq = _next_cursor(tx, repo_id)
        tx.execute("UPDATE annotations SET deleted_at = ?, updated_at = ?, seq = ? WHERE id = ?",
                   (at, at, seq, annotation_id))
        return _record(tx, repo_id, annotation_id, seq, "annotation.deleted", at)


def _next_cursor(tx: Any, repo_id: int) -> int:
    # The upsert takes the cursor row's lock until commit, so concurrent writers of one
    # repository get consecutive values and commit them in cursor order.
    return int(tx.fetchall(
        "INSERT INTO annotation_cursors (repo_id, last_seq) VALUES (?, 1) "
        "ON CONFLICT (repo_id) DO UPDATE SET last_seq = annotation_cursors.last_seq + 1 "
        "RETURNING last_seq", (repo_id,))[0][0])


def _record(tx: Any, repo_id: int, annotation_id: int, seq: int, kind: str, at: float) -> Change:
    row = tx.fetchall(f"SELECT {_COLUMNS} FROM annotations WHERE id = ?", (annotation_id,))[0]
    snapshot = _annotation(row).to_dict()
    tx.execute("INSERT INTO annotation_changes (repo_id, seq, annotation_id, kind, at, snapshot) "
               "VALUES (?, ?, ?, ?, ?, ?)", (repo_id, seq, annotation_id, kind, at,
                                             json.dumps(snapshot)))
    return Change(seq, kind, snapshot)

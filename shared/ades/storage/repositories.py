"""Repository records: the repositories a database holds and where their history comes from."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from .base import Store

_COLUMNS = ("id, name, path, url, default_branch, head_commit, commit_count, created_at, "
            "last_ingest_at, last_ingest_seconds")


@dataclass(frozen=True)
class Repository:
    """A registered repository and the state of its last ingest."""

    id: int
    name: str
    path: str
    url: str | None
    default_branch: str | None
    head_commit: str | None
    commit_count: int
    created_at: int
    last_ingest_at: int | None
    last_ingest_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


def get_repository(store: Store, name: str) -> Repository | None:
    """The repository called `name`, or None."""
    row = store.query_one(f"SELECT {_COLUMNS} FROM repositories WHERE name = ?", (name,))
    return Repository(*row) if row else None


def list_repositories(store: Store) -> list[Repository]:
    """All repositories, by name."""
    return [Repository(*row) for row in
            store.query(f"SELECT {_COLUMNS} FROM repositories ORDER BY name")]


def register_repository(store: Store, name: str, path: str, url: str | None = None) -> Repository:
    """Create the repository `name` (or update its path/url) and return it."""
    with store.transaction() as tx:
        row = tx.fetchall("SELECT id FROM repositories WHERE name = ?", (name,))
        if row:
            tx.execute("UPDATE repositories SET path = ?, url = ? WHERE id = ?",
                       (path, url, row[0][0]))
        else:
            tx.execute("INSERT INTO repositories (name, path, url, commit_count, created_at) "
                       "VALUES (?, ?, ?, 0, ?)", (name, path, url, int(time.time())))
    repo = get_repository(store, name)
    assert repo is not None
    return repo


def record_ingest(store: Store, repo_id: int, *, head: str, branch: str | None,
                  commit_count: int, seconds: float) -> None:
    """Remember the head and size reached by an ingest that finished."""
    with store.transaction() as tx:
        tx.execute("UPDATE repositories SET head_commit = ?, default_branch = ?, commit_count = ?, "
                   "last_ingest_at = ?, last_ingest_seconds = ? WHERE id = ?",
                   (head, branch, commit_count, int(time.time()), seconds, repo_id))


def delete_repository(store: Store, repo_id: int) -> None:
    """Remove a repository and everything mined from it."""
    from .history import delete_commit_rows

    with store.transaction() as tx:
        tx.lock_repository(repo_id)
        delete_commit_rows(tx, repo_id, None)
        tx.execute("DELETE FROM repositories WHERE id = ?", (repo_id,))

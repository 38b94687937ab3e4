"""The repository list every service's index page shows, cached until the next ingest."""

from __future__ import annotations

from typing import Any

from ..optimizer import cached
from ..storage.repositories import list_repositories
from .context import get_store


def repository_summaries() -> list[dict[str, Any]]:
    """Registered repositories (name, size, head, last ingest), by name.

    Served from the query cache; an ingest anywhere invalidates it (see `ades.optimizer`).
    """
    store = get_store()
    return cached(("repository_summaries",),
                  lambda: [_summary(r.to_dict()) for r in list_repositories(store)])


def _summary(repo: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "commit_count", "default_branch", "head_commit", "last_ingest_at",
            "last_ingest_seconds")
    return {key: repo[key] for key in keep}

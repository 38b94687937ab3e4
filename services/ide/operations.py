"""What the IDE API and the MCP tools do, once: validate arguments, resolve the repository,
compute from the stored history through `ades.assist`, and cache per repository.

Each operation takes a mapping of arguments (a JSON body, a query string or MCP tool
arguments) and returns a JSON-ready dict. Bad arguments raise `AssistError`, an unknown
repository `RepositoryNotFound`; both carry a one-line message for the client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

from ades import analytics
from ades.assist import (
    AssistError,
    experience_detail,
    experts,
    file_context,
    repository_overview,
    review_diff,
    similar_changes,
)
from ades.assist.context import check_path
from ades.optimizer import cached
from ades.search import SearchError, SearchFilters, search_experiences
from ades.service import get_store, repository_summaries
from ades.storage.repositories import Repository, get_repository

T = TypeVar("T")


class RepositoryNotFound(LookupError):
    """The named repository is not registered."""


def _repository(args: Mapping[str, Any]) -> Repository:
    name = args.get("repo")
    if not isinstance(name, str) or not name.strip():
        raise AssistError("repo must name a registered repository")
    repo = cached(("ide.repository", name), lambda: get_repository(get_store(), name))
    if repo is None:
        raise RepositoryNotFound(f"no repository named {name!r}")
    return repo


def _memo(repo: Repository) -> Callable[[Hashable, Callable[[], T]], T]:
    return lambda key, fn: cached(key, fn, repo_id=repo.id)


def _key(name: str, repo: Repository, args: Mapping[str, Any]) -> tuple[str, int, str]:
    return name, repo.id, json.dumps(args, sort_keys=True, default=str)


def _int(args: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise AssistError(f"{name} must be an integer from {low} to {high}")
    return value


def _text(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 500:
        raise AssistError(f"{name} must be a string of at most 500 characters")
    return value


def context(args: Mapping[str, Any]) -> dict[str, Any]:
    """`file_context` for `args["path"]` in `args["repo"]` (lines, symbol, snippet, token_budget)."""
    repo = _repository(args)
    store = get_store()
    return cached(_key("ide.context", repo, args), lambda: file_context(
        store, repo, args.get("path"), lines=args.get("lines"), symbol=args.get("symbol"),
        snippet=args.get("snippet"), token_budget=args.get("token_budget"), memo=_memo(repo)),
        repo_id=repo.id, shared=True)


def review(args: Mapping[str, Any]) -> dict[str, Any]:
    """`review_diff` of `args["diff"]` against the history of `args["repo"]`."""
    repo = _repository(args)
    store = get_store()
    return cached(_key("ide.review", repo, args),
                  lambda: review_diff(store, repo, args.get("diff"), memo=_memo(repo)),
                  repo_id=repo.id, shared=True)


def similar(args: Mapping[str, Any]) -> dict[str, Any]:
    """Past changes like `args["text"]` (or `snippet`/`description`) in `args["repo"]`."""
    repo = _repository(args)
    store = get_store()
    text = next((args[k] for k in ("text", "snippet", "description") if args.get(k)), None)
    limit = _int(args, "limit", 10, 1, 50)
    return cached(_key("ide.similar", repo, args), lambda: {
        "repository": repo.name,
        **similar_changes(store, repo, text, path=args.get("path"), limit=limit)},
        repo_id=repo.id, shared=True)


def search(args: Mapping[str, Any]) -> dict[str, Any]:
    """Experience search for editors: `q` plus optional filters, results with snippets."""
    q = args.get("q")
    if not isinstance(q, str) or not q.strip():
        raise AssistError("q must be a non-empty search query")
    limit, offset = _int(args, "limit", 10, 1, 100), _int(args, "offset", 0, 0, 10_000)
    filters = SearchFilters(repo=_text(args, "repo"), category=_text(args, "category"),
                            language=_text(args, "language"), author=_text(args, "author"),
                            path_prefix=_text(args, "path"))
    repo = _repository(args) if filters.repo else None

    def run() -> dict[str, Any]:
        try:
            found = search_experiences(get_store(), q, filters, limit=limit, offset=offset)
        except SearchError as exc:
            raise AssistError(str(exc)) from exc
        return {"query": q, "results": [r.to_dict() for r in found]}

    return cached(("ide.search", json.dumps(args, sort_keys=True, default=str)), run,
                  repo_id=repo.id if repo else None, shared=True)


def co_changes(args: Mapping[str, Any]) -> dict[str, Any]:
    """The files that change with `args["path"]`, with support and confidence."""
    repo = _repository(args)
    path = check_path(args.get("path"))
    limit = _int(args, "limit", 10, 1, 100)
    min_support = _int(args, "min_support", 2, 1, 1000)
    store = get_store()
    return cached(_key("ide.co_changes", repo, args), lambda: {
        "repository": repo.name, "path": path,
        "co_changes": analytics.co_changes(store, repo.id, path, limit=limit,
                                           min_support=min_support)}, repo_id=repo.id)


def file_experts(args: Mapping[str, Any]) -> dict[str, Any]:
    """Who knows `args["path"]` best (ownership weighted by recency)."""
    repo = _repository(args)
    path = check_path(args.get("path"))
    limit = _int(args, "limit", 5, 1, 50)
    store = get_store()
    return cached(_key("ide.experts", repo, args), lambda: {
        "repository": repo.name, "path": path,
        "experts": experts(store, repo.id, path, limit=limit)}, repo_id=repo.id)


def overview(args: Mapping[str, Any]) -> dict[str, Any]:
    """A repository at a glance (size, hotspots, authors, categories)."""
    repo = _repository(args)
    return repository_overview(get_store(), repo, memo=_memo(repo))


def experience(repo_name: str, commit: str) -> dict[str, Any]:
    """One experience by commit hash (or a unique prefix); raises RepositoryNotFound."""
    repo = _repository({"repo": repo_name})
    found = cached(("ide.experience", repo.id, commit),
                   lambda: experience_detail(get_store(), repo, commit), repo_id=repo.id)
    if found is None:
        raise RepositoryNotFound(f"no experience for commit {commit} in {repo.name!r}")
    return found


def repositories() -> list[dict[str, Any]]:
    """The registered repositories with their ingested head."""
    return repository_summaries()

"""`/api/search` and `/api/experiences`: ranked search with filters, one experience, similar ones."""

from __future__ import annotations

import time
from dataclasses import astuple
from datetime import date
from typing import Any

from ades.hardening import allow_code_input, requires
from ades.optimizer import cached
from ades.search import SearchError, SearchFilters, query_words, search_experiences
from ades.service import api_schemas, get_store, operation
from flask import Blueprint, Response, current_app, jsonify, request

from .api_common import ApiError, int_arg, limit_arg, repository_or_404

bp = Blueprint("api_experiences", __name__, url_prefix="/api")

SEARCH_QUERY = {"q": "the words to search for (required)", "repo": "repository name",
                "category": "feature, bugfix, ...", "language": "e.g. Python",
                "author": "author e-mail or name", "path": "path prefix",
                "since": "YYYY-MM-DD or epoch seconds", "until": "YYYY-MM-DD or epoch seconds",
                "limit": "1-100 (default 10)", "offset": "skip this many"}


def _when(name: str) -> int | None:
    text = request.args.get(name)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"'{name}' must be a date (YYYY-MM-DD) or epoch seconds") from None
    return int(time.mktime(day.timetuple()))


def search_from_args(default_limit: int = 10) -> tuple[str, SearchFilters, int, int]:
    """The search query, filters, limit and offset of the current request (400 when bad)."""
    query = request.args.get("q", "").strip()
    if not query:
        raise ApiError(400, "'q' is required")
    if len(query) > 500:
        raise ApiError(400, "'q' is longer than 500 characters")
    repo = request.args.get("repo") or None
    if repo is not None:
        # That it exists is cached (until the next registration or deletion): a search
        # restricted to a repository is the most frequent request of all.
        cached(("ui.repository-exists", repo), lambda: repository_or_404(repo) is not None)
    filters = SearchFilters(repo=repo, category=request.args.get("category") or None,
                            language=request.args.get("language") or None,
                            author=request.args.get("author") or None,
                            path_prefix=request.args.get("path") or None,
                            since=_when("since"), until=_when("until"))
    return query, filters, limit_arg(default_limit), int_arg("offset", 0, low=0, high=100_000)


def _results(query: str, filters: SearchFilters, limit: int, offset: int) -> list[dict[str, Any]]:
    try:
        return [r.to_dict() for r in search_experiences(get_store(), query, filters, limit=limit,
                                                        offset=offset)]
    except SearchError as exc:
        raise ApiError(400, str(exc)) from None


def run_search(query: str, filters: SearchFilters, limit: int, offset: int) -> list[dict[str, Any]]:
    """Search results as dicts, cached until the next ingest; 400 for a query the engine refuses."""
    # Filed under every repository's generation: any ingest may change any result. Shared
    # with the other workers and pods through Redis: the results are plain JSON.
    key = ("ui.search", tuple(query_words(query)), astuple(filters), limit, offset)
    return cached(key, lambda: _results(query, filters, limit, offset), shared=True)


def _compact(value: Any) -> str:
    """`value` as jsonify writes it (sorted keys, no spaces)."""
    return current_app.json.dumps(value, separators=(",", ":"))


def search_page(query: str, filters: SearchFilters, limit: int, offset: int) -> dict[str, Any]:
    """A page of search results as JSON text (`json`) and how many there are (`count`),
    cached like `run_search`'s."""
    def run() -> dict[str, Any]:
        results = _results(query, filters, limit, offset)
        return {"json": _compact(results), "count": len(results)}

    key = ("ui.search.json", tuple(query_words(query)), astuple(filters), limit, offset)
    return cached(key, run, shared=True)


@bp.get("/search")
@requires("viewer")
@allow_code_input("q")  # reduced to plain words before it reaches SQL
@operation(query=SEARCH_QUERY, responses={200: "`{\"results\": [{\"commit\", \"score\", \"title\", "
                                                "\"why\", ...}]}`",
                                           404: "the `repo` filter names no repository"},
           schemas={200: api_schemas.SEARCH_RESULTS})
def search() -> Response:
    """Ranked full-text search over experiences; each result says why it matched."""
    query, filters, limit, offset = search_from_args()
    page = search_page(query, filters, limit, offset)
    # The results are serialized once, when computed; each answer only wraps them. Keys in
    # jsonify's order (sorted), with its separators.
    next_offset = offset + limit if page["count"] == limit else None
    body = (f'{{"next_offset":{_compact(next_offset)},"query":{_compact(query)},'
            f'"results":{page["json"]},"words":{_compact(query_words(query))}}}\n')
    return current_app.response_class(body, mimetype="application/json")


def experience(repo_name: str, ref: str) -> dict[str, Any]:
    """The experience of commit `ref` (full hash or unique prefix) in `repo_name`."""
    from .api_commits import commit_detail

    repo = repository_or_404(repo_name)
    commit = commit_detail(repo, ref, with_diff=False)
    if commit["experience"] is None:
        raise ApiError(404, f"commit {ref} has no experience (merges and trivial commits have none)")
    return {"repository": repo.name, "commit": commit["hash"], **commit["experience"],
            "files": [f["path"] for f in commit["files"]], "functions": commit["functions"],
            "author": commit["author_name"], "date": commit["author_time"]}


@bp.get("/experiences/<repo>/<ref>")
@requires("viewer")
def show(repo: str, ref: str) -> Response:
    """One experience: problem, solution, files and functions touched, patterns, links."""
    return jsonify({"experience": experience(repo, ref)})


@bp.get("/experiences/<repo>/<ref>/similar")
@requires("viewer")
@operation(query={"limit": "1-100 (default 5)"})
def similar(repo: str, ref: str) -> Response:
    """Experiences like this one: a search for its title and patterns in the same repository."""
    found = experience(repo, ref)
    words = " ".join([found["title"], found["patterns"].replace(",", " ")])
    limit = limit_arg(5)
    results = []
    if query_words(words):
        results = [r for r in run_search(" ".join(query_words(words)[:8]),
                                         SearchFilters(repo=found["repository"]), limit + 1, 0)
                   if r["commit"] != found["commit"]][:limit]
    return jsonify({"experience": found["commit"], "similar": results})

"""`/api/repositories`: register (local path or clone URL), list, show, re-ingest, delete, stats."""

from __future__ import annotations

from typing import Any

from ades import jobs
from ades.analytics import repository_stats
from ades.hardening import current_principal, requires
from ades.hardening.audit import record_event
from ades.mining.gitrepo import RepositoryError, open_repository, storage_directories
from ades.mining.remote import validate_clone_url
from ades.optimizer import invalidate_repository
from ades.service import api_schemas, get_store, operation
from ades.storage.repositories import (
    delete_repository,
    get_repository,
    list_repositories,
    register_repository,
)
from flask import Blueprint, Response, jsonify, request

from .api_common import (
    ApiError,
    allowed_local_path,
    config,
    json_object,
    repository_or_404,
    string_field,
    valid_name,
)

bp = Blueprint("api_repositories", __name__, url_prefix="/api/repositories")


def repository_view(repo, latest_job: jobs.Job | None = None) -> dict[str, Any]:
    """A repository as the API shows it, with its latest job."""
    data = repo.to_dict()
    data["source"] = "url" if repo.url else "path"
    data["latest_job"] = latest_job.to_dict() if latest_job else None
    return data


def _latest_jobs() -> dict[int, jobs.Job]:
    latest: dict[int, jobs.Job] = {}
    for job in jobs.list_jobs(get_store(), limit=500):
        latest.setdefault(job.repo_id, job)
    return latest


@bp.get("")
@requires("viewer")
@operation(responses={200: "`{\"repositories\": [...]}`, each with its latest ingest job"},
           schemas={200: api_schemas.REPOSITORY_LIST})
def list_all() -> Response:
    """Every registered repository, by name."""
    latest = _latest_jobs()
    return jsonify({"repositories": [repository_view(r, latest.get(r.id))
                                     for r in list_repositories(get_store())]})


def _username() -> str | None:
    principal = current_principal()
    return principal.user.username if principal else None


@bp.post("")
@requires("maintainer")
@operation(body={"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "path": {"type": "string"}, "url": {"type": "string"}}},
    responses={202: "`{\"repository\", \"job\"}`: registered and an ingest queued",
               400: "invalid name, path outside the allowed roots, refused URL",
               409: "the name is taken by another source"},
    schemas={202: api_schemas.REGISTERED})
def register() -> tuple[Response, int]:
    """Register a repository by local `path` (under GAIT_REPO_ROOTS) or clone `url`, and
    queue its ingest. Nothing is stored or run when any value is refused."""
    repo, job = register_from(json_object())
    return jsonify({"repository": repository_view(repo, job), "job": job.to_dict()}), 202


def register_from(data: dict[str, Any]) -> tuple[Any, jobs.Job]:
    """Validate a registration (`name` and `path` or `url`), store it and queue its ingest;
    ApiError (and nothing changed) for any refused value."""
    unknown = set(data) - {"name", "path", "url"}
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
    name = valid_name(string_field(data, "name", max_length=100) or "")
    path = string_field(data, "path", required=False)
    url = string_field(data, "url", required=False, max_length=2048)
    if (path is None) == (url is None):
        raise ApiError(400, "give exactly one of 'path' or 'url'")
    settings = config()
    if url is not None:
        if not settings.server.allow_clone_urls:
            raise ApiError(400, "registering repositories by clone URL is disabled (GAIT_ALLOW_CLONE_URLS)")
        try:
            validate_clone_url(url, settings.server.allowed_url_schemes)
        except RepositoryError as exc:
            raise ApiError(400, str(exc)) from None
        path = str(settings.data_dir / "repos" / f"{name}.git")
    else:
        try:
            # The top level git finds may lie above the given directory, and a `.git` file,
            # a worktree or alternates may keep the history elsewhere: check them all.
            path = allowed_local_path(open_repository(allowed_local_path(path or "")).path)
            for directory in storage_directories(path):
                allowed_local_path(directory)
        except RepositoryError as exc:
            raise ApiError(400, str(exc)) from None
    store = get_store()
    existing = get_repository(store, name)
    if existing is not None and (existing.path, existing.url) != (path, url):
        raise ApiError(409, f"repository {name} is already registered from another source")
    repo = register_repository(store, name, path, url)
    job = jobs.enqueue_ingest(store, repo.id, reason="registered", requested_by=_username())
    record_event(store, "repository.registered", _username(), request.remote_addr,
                 {"repository": name, "source": url or path, "job": job.id})
    return repo, job


@bp.get("/<name>")
@requires("viewer")
@operation(schemas={200: api_schemas.REPOSITORY_DETAIL})
def show(name: str) -> Response:
    """One repository with its ten most recent jobs."""
    repo = repository_or_404(name)
    recent = jobs.list_jobs(get_store(), repo_id=repo.id, limit=10)
    data = repository_view(repo, recent[0] if recent else None)
    data["jobs"] = [j.to_dict() for j in recent]
    return jsonify({"repository": data})


@bp.post("/<name>/ingest")
@requires("maintainer")
@operation(responses={202: "`{\"job\"}`: the queued ingest (an already queued one is reused)"},
           schemas={202: api_schemas.QUEUED})
def ingest(name: str) -> tuple[Response, int]:
    """Queue an incremental ingest of the repository."""
    repo = repository_or_404(name)
    job = jobs.enqueue_ingest(get_store(), repo.id, reason="api", requested_by=_username())
    return jsonify({"job": job.to_dict()}), 202


@bp.delete("/<name>")
@requires("maintainer")
def delete(name: str) -> Response:
    """Delete the repository and everything mined from it (its jobs included)."""
    repo = repository_or_404(name)
    store = get_store()
    running = jobs.list_jobs(store, repo_id=repo.id, status="running", limit=1)
    if running:
        raise ApiError(409, f"an ingest of {name} is running (job {running[0].id}); cancel it first")
    delete_repository(store, repo.id)
    invalidate_repository(repo.id)
    record_event(store, "repository.deleted", _username(), request.remote_addr, {"repository": name})
    return jsonify({"deleted": name})


@bp.get("/<name>/stats")
@requires("viewer")
@operation(responses={200: "commits, authors, lines_added, lines_deleted, top_files (SPEC §9)"},
           schemas={200: api_schemas.STATS})
def stats(name: str) -> Response:
    """The repository's numbers as git counts them."""
    repo = repository_or_404(name)
    return jsonify(repository_stats(get_store(), repo.id))

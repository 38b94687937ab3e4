"""`/api/jobs`: ingest jobs — progress, history, cancellation."""

from __future__ import annotations

from ades import jobs
from ades.hardening import requires
from ades.service import api_schemas, get_store, operation
from flask import Blueprint, Response, jsonify, request

from .api_common import ApiError, int_arg, limit_arg, repository_or_404

bp = Blueprint("api_jobs", __name__, url_prefix="/api/jobs")


@bp.get("")
@requires("viewer")
@operation(query={"repo": "only this repository's jobs", "status": "queued, running, succeeded, "
                  "failed or cancelled", "limit": "1-100 (default 20)",
                  "before": "page: jobs with an id below this"},
           responses={404: "the `repo` filter names no repository"},
           schemas={200: api_schemas.JOB_LIST})
def history() -> Response:
    """Ingest jobs, newest first."""
    status = request.args.get("status") or None
    if status is not None and status not in jobs.STATUSES:
        raise ApiError(400, f"'status' must be one of {', '.join(jobs.STATUSES)}")
    repo = request.args.get("repo")
    repo_id = repository_or_404(repo).id if repo else None
    limit = limit_arg()
    before = int_arg("before", 0, low=1) or None
    found = jobs.list_jobs(get_store(), repo_id=repo_id, status=status, limit=limit, before_id=before)
    body = {"jobs": [j.to_dict() for j in found]}
    body["next_before"] = found[-1].id if len(found) == limit else None
    return jsonify(body)


def _job_or_404(job_id: int) -> jobs.Job:
    job = jobs.get_job(get_store(), job_id)
    if job is None:
        raise ApiError(404, f"unknown job: {job_id}")
    return job


@bp.get("/<int:job_id>")
@requires("viewer")
@operation(responses={200: "`{\"id\", \"status\", \"progress\": {\"done\", \"total\", \"percent\"}, ...}`"},
           schemas={200: api_schemas.JOB})
def show(job_id: int) -> Response:
    """One job and its progress."""
    return jsonify(_job_or_404(job_id).to_dict())


@bp.post("/<int:job_id>/cancel")
@requires("maintainer")
@operation(responses={200: "the job: cancelled, or running with cancel_requested",
                      409: "the job has already ended"},
           schemas={200: api_schemas.JOB})
def cancel(job_id: int) -> Response:
    """Cancel a queued job at once, or a running one at its next batch."""
    job = _job_or_404(job_id)
    if job.finished:
        raise ApiError(409, f"job {job_id} has already ended ({job.status})")
    job = jobs.cancel_job(get_store(), job_id)
    assert job is not None
    return jsonify(job.to_dict())

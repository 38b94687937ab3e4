"""The collaboration API."""

from __future__ import annotations

from ades.hardening.rbac import requires
from ades.service import repository_summaries, service_context
from flask import Blueprint, Response, jsonify

bp = Blueprint("collab", __name__, url_prefix="/collab")


@bp.get("/")
@requires("viewer", scope="read")
def index() -> Response:
    """The repositories teams can collaborate on, and how updates reach other workers."""
    fanout = "redis" if service_context().config.uses_redis else "in-process"
    return jsonify({"service": "collab", "fanout": fanout,
                    "repositories": repository_summaries()})

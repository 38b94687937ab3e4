"""The IDE API."""

from __future__ import annotations

from ades.hardening.rbac import requires
from ades.service import repository_summaries
from flask import Blueprint, Response, jsonify

bp = Blueprint("ide", __name__, url_prefix="/ide")


@bp.get("/")
@requires("viewer", scope="read")
def index() -> Response:
    """The repositories an IDE or assistant can ask about, with their ingested head."""
    return jsonify({"service": "ide", "repositories": repository_summaries()})

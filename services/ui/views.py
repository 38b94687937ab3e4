"""The ui's pages."""

from __future__ import annotations

from ades.hardening.rbac import requires
from ades.service import repository_summaries
from flask import Blueprint, render_template

bp = Blueprint("ui", __name__, template_folder="templates")


@bp.get("/")
@requires("viewer")
def index() -> str:
    """The home page: the repositories this ADES holds, with their size and last ingest."""
    return render_template("ui/index.html", repositories=repository_summaries())

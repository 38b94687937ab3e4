"""The viz service's pages."""

from __future__ import annotations

from ades.hardening.rbac import requires
from ades.service import repository_summaries
from flask import Blueprint, render_template

bp = Blueprint("viz", __name__, url_prefix="/viz", template_folder="templates")


@bp.get("/")
@requires("viewer")
def index() -> str:
    """The analytics home: the repositories that can be analysed, largest first."""
    repositories = sorted(repository_summaries(), key=lambda r: -r["commit_count"])
    total = sum(r["commit_count"] for r in repositories)
    return render_template("viz/index.html", repositories=repositories, total=total)

"""The admins' alerts page: what Alertmanager delivered to `/api/alerts/webhook`.

Server-rendered over the same library function as `GET /api/alerts`, firing first.
"""

from __future__ import annotations

from ades.hardening import requires
from ades.metrics.received_alerts import STATUSES, count_firing, list_alerts
from ades.service import get_store, operation
from flask import Blueprint, render_template, request

bp = Blueprint("ui_alerts", __name__, template_folder="templates")

PAGE_SIZE = 200


@bp.get("/admin/alerts")
@requires("admin")
@operation(produces="text/html", query={"status": "firing or resolved"})
def alerts_page() -> str:
    """Recorded alerts, firing first, optionally only `?status=firing|resolved`."""
    status = request.args.get("status")
    status = status if status in STATUSES else None
    store = get_store()
    return render_template("ui/alerts.html", alerts=list_alerts(store, status=status, limit=PAGE_SIZE),
                           firing=count_firing(store), status=status or "", statuses=STATUSES)

"""`/api/alerts`: Alertmanager's webhook receiver, and the recorded alerts for admins.

`POST /api/alerts/webhook` takes Alertmanager's notification (webhook payload version 4)
authenticated by `Authorization: Bearer <GAIT_ALERT_WEBHOOK_TOKEN>` (Alertmanager's
`http_config.authorization.credentials_file`); without a configured token it refuses
every request. A bad token, body or payload gets a 4xx JSON error and nothing is stored.
`GET /api/alerts` lists what was recorded, firing first (admins).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from ades.hardening import allow_code_input, csrf_exempt, public, requires
from ades.hardening.external_bearer import external_bearer
from ades.metrics.received_alerts import (
    STATUSES,
    InvalidNotification,
    count_firing,
    list_alerts,
    parse_notification,
    record_alerts,
)
from ades.service import get_store, operation
from flask import Blueprint, Response, jsonify, request

from .api_common import ApiError, config, int_arg

bp = Blueprint("alerts", __name__, url_prefix="/api/alerts")

MAX_NOTIFICATION_BYTES = 1024 * 1024
MAX_LIST = 500


def _check_token() -> None:
    expected = config().security.alert_webhook_token
    if not expected:
        raise ApiError(403, "the alert webhook is disabled: GAIT_ALERT_WEBHOOK_TOKEN is not set")
    scheme, _, sent = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            sent.strip().encode("utf-8", "replace"), expected.encode("utf-8")):
        raise ApiError(401, "the alert webhook token is missing or wrong")


@bp.post("/webhook")
@public
@external_bearer
@csrf_exempt
@allow_code_input()  # alert annotations may quote queries or markup; only ever shown escaped
@operation(body={"type": "object", "required": ["version", "alerts"],
                 "description": "Alertmanager's webhook notification (version 4)",
                 "properties": {"version": {"type": "string", "enum": ["4"]},
                                "status": {"type": "string", "enum": list(STATUSES)},
                                "alerts": {"type": "array", "items": {"type": "object"}}}},
           responses={200: "the alerts were recorded (counts of created, updated, unchanged)",
                      400: "not an Alertmanager notification", 401: "missing or wrong token",
                      403: "no GAIT_ALERT_WEBHOOK_TOKEN configured", 413: "body over 1 MiB"})
def webhook() -> tuple[Response, int]:
    """Record the alerts of an Alertmanager notification (`Authorization: Bearer <token>`)."""
    _check_token()
    if (request.content_length or 0) > MAX_NOTIFICATION_BYTES:
        raise ApiError(413, f"notifications are limited to {MAX_NOTIFICATION_BYTES} bytes")
    try:
        payload = json.loads(request.get_data(cache=False))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON") from None
    try:
        alerts = parse_notification(payload)
    except InvalidNotification as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(record_alerts(get_store(), alerts)), 200


@bp.get("")
@requires("admin")
@operation(query={"status": "firing or resolved (default: both)",
                  "limit": f"at most this many (1-{MAX_LIST}, default 100)"},
           responses={200: "`alerts` (firing first, then newest) and the `firing` count"})
def alerts() -> Any:
    """The alerts Alertmanager delivered, firing first."""
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, "'status' must be 'firing' or 'resolved'")
    limit = int_arg("limit", 100, low=1, high=MAX_LIST)
    store = get_store()
    return jsonify({"alerts": list_alerts(store, status=status, limit=limit),
                    "firing": count_firing(store)})

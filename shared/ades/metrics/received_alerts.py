"""Alerts that Alertmanager delivered to the ui's webhook: checking a notification
(webhook payload version 4) and keeping one record per alert occurrence.

An occurrence is Alertmanager's `fingerprint` (a hash of the alert's labels) plus the
time it started firing. Recording a notification is idempotent: a repeated one changes
nothing; a resolved one updates the occurrence it resolves (found by fingerprint and
start, else the latest firing record of that fingerprint), and a firing one never
re-opens an occurrence already resolved (a retried old delivery arriving late).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..storage import Store

STATUSES = ("firing", "resolved")
MAX_ALERTS = 1000
MAX_LABELS = 100
MAX_TEXT = 8192
_FINGERPRINT = re.compile(r"[0-9a-fA-F]{1,64}")
# Go's zero time: what Alertmanager sends as endsAt while an alert has no end yet.
_ZERO_TIME_YEAR = 1


class InvalidNotification(ValueError):
    """The webhook payload is not a valid Alertmanager notification; the message says why."""


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of a notification, checked."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None
    generator_url: str | None

    @property
    def alertname(self) -> str:
        """The `alertname` label."""
        return self.labels["alertname"]


def parse_notification(payload: Any) -> list[ReceivedAlert]:
    """The alerts of an Alertmanager webhook payload (version "4").

    Raises InvalidNotification naming the first problem; nothing is half-accepted.
    """
    if not isinstance(payload, dict):
        raise InvalidNotification("the body must be a JSON object")
    if payload.get("version") != "4":
        raise InvalidNotification('expected an Alertmanager notification with "version": "4"')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise InvalidNotification("'alerts' must be a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise InvalidNotification(f"at most {MAX_ALERTS} alerts per notification")
    return [_parse_alert(alert, f"alerts[{index}]") for index, alert in enumerate(alerts)]


def _parse_alert(alert: Any, where: str) -> ReceivedAlert:
    if not isinstance(alert, dict):
        raise InvalidNotification(f"{where} must be an object")
    status = alert.get("status")
    if status not in STATUSES:
        raise InvalidNotification(f"{where}.status must be 'firing' or 'resolved'")
    labels = _string_map(alert.get("labels"), f"{where}.labels")
    if not labels.get("alertname"):
        raise InvalidNotification(f"{where}.labels must include a non-empty 'alertname'")
    annotations = _string_map(alert.get("annotations", {}), f"{where}.annotations")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        raise InvalidNotification(f"{where}.fingerprint must be a hexadecimal string")
    starts_at = _time(alert.get("startsAt"), f"{where}.startsAt")
    if starts_at is None:
        raise InvalidNotification(f"{where}.startsAt must be a time")
    ends_at = _time(alert.get("endsAt"), f"{where}.endsAt", optional=True)
    if status == "firing":
        ends_at = None  # for a firing alert Alertmanager sends only an estimate, or zero time
    generator_url = alert.get("generatorURL") or None
    if generator_url is not None and (not isinstance(generator_url, str)
                                      or len(generator_url) > MAX_TEXT):
        raise InvalidNotification(f"{where}.generatorURL must be a string")
    return ReceivedAlert(fingerprint.lower(), status, labels, annotations, starts_at, ends_at,
                         generator_url)


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidNotification(f"{where} must be an object of strings")
    if len(value) > MAX_LABELS:
        raise InvalidNotification(f"{where} has more than {MAX_LABELS} entries")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > MAX_TEXT or len(item) > MAX_TEXT:
            raise InvalidNotification(f"{where} must map names to strings of at most "
                                      f"{MAX_TEXT} characters")
        if "\x00" in key or "\x00" in item:
            raise InvalidNotification(f"{where} must not contain NUL characters")
    return dict(value)


def _time(value: Any, where: str, *, optional: bool = False) -> float | None:
    if optional and (value is None or value == ""):
        return None
    if not isinstance(value, str):
        raise InvalidNotification(f"{where} must be an RFC 3339 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidNotification(f"{where} must be an RFC 3339 time, got {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise InvalidNotification(f"{where} must carry a time zone (e.g. 'Z')")
    if moment.year == _ZERO_TIME_YEAR:
        if optional:
            return None
        raise InvalidNotification(f"{where} must be a real time")
    return moment.timestamp()


def record_alerts(store: Store, alerts: list[ReceivedAlert], *, now: float | None = None
                  ) -> dict[str, int]:
    """Store a notification's alerts in one transaction.

    Returns how many records were `created`, `updated` and left `unchanged`.
    """
    now = time.time() if now is None else now
    outcome = {"created": 0, "updated": 0, "unchanged": 0}
    with store.transaction() as tx:
        for alert in alerts:
            outcome[_record_one(tx, alert, now)] += 1
    return outcome


def _record_one(tx: Any, alert: ReceivedAlert, now: float) -> str:
    labels = json.dumps(alert.labels, sort_keys=True)
    annotations = json.dumps(alert.annotations, sort_keys=True)
    same = tx.fetchall("SELECT id, status, ends_at, labels, annotations FROM received_alerts "
                       "WHERE fingerprint = ? AND starts_at = ?", (alert.fingerprint, alert.starts_at))
    if not same and alert.status == "resolved":
        same = tx.fetchall("SELECT id, status, ends_at, labels, annotations FROM received_alerts "
                           "WHERE fingerprint = ? AND status = 'firing' AND starts_at <= ? "
                           "ORDER BY starts_at DESC LIMIT 1", (alert.fingerprint, alert.starts_at))
    if not same:
        cur = tx.execute(
            "INSERT INTO received_alerts (fingerprint, alertname, status, labels, annotations, "
            "starts_at, ends_at, generator_url, received_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint, starts_at) DO NOTHING",
            (alert.fingerprint, alert.alertname, alert.status, labels, annotations,
             alert.starts_at, alert.ends_at, alert.generator_url, now, now))
        # A concurrent delivery of the same notification may have inserted it first.
        return "created" if cur.rowcount == 1 else "unchanged"
    record_id, status, ends_at, old_labels, old_annotations = same[0]
    if status == "resolved" and alert.status == "firing":
        return "unchanged"  # a late retry of the firing notification
    if (status, ends_at, old_labels, old_annotations) == (alert.status, alert.ends_at, labels,
                                                          annotations):
        return "unchanged"
    tx.execute("UPDATE received_alerts SET status = ?, ends_at = ?, labels = ?, annotations = ?, "
               "updated_at = ? WHERE id = ?",
               (alert.status, alert.ends_at, labels, annotations, now, record_id))
    return "updated"


def list_alerts(store: Store, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Recorded alerts, firing first, then the most recently started."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    rows = store.query_dicts(
        "SELECT id, fingerprint, alertname, status, labels, annotations, starts_at, ends_at, "
        f"generator_url, received_at, updated_at FROM received_alerts {where} "  # noqa: S608 -- fixed text
        "ORDER BY CASE WHEN status = 'firing' THEN 0 ELSE 1 END, starts_at DESC, id DESC LIMIT ?",
        (*params, limit))
    for row in rows:
        row["labels"] = json.loads(row["labels"])
        row["annotations"] = json.loads(row["annotations"])
        row["severity"] = row["labels"].get("severity")
    return rows


def count_firing(store: Store) -> int:
    """How many recorded alerts are firing."""
    row = store.query_one("SELECT COUNT(*) FROM received_alerts WHERE status = 'firing'")
    return int(row[0]) if row else 0

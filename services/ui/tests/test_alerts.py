"""The Alertmanager webhook receiver and the admins' view of the alerts it recorded.

Notifications are shaped exactly as Alertmanager's webhook sends them (payload version 4,
RFC 3339 times with nanoseconds, Go's zero time as the end of a firing alert). A bad token
or payload is a 4xx JSON error that stores nothing; a resolved notification updates the
firing record; repeats change nothing.
"""

from __future__ import annotations

import copy

import pytest

from services.conftest import log_in, seed_world
from services.ui import create_app

TOKEN = "alertmanager-test-token-0123456789"
ZERO_TIME = "0001-01-01T00:00:00Z"


def notification(status: str = "firing", *, alertname: str = "AdesTargetDown",
                 fingerprint: str = "a1b2c3d4e5f60718", starts_at: str = "2026-11-25T20:31:00.123456789Z",
                 ends_at: str = ZERO_TIME, summary: str = "ades-viz is not answering") -> dict:
    labels = {"alertname": alertname, "severity": "critical", "service": "viz", "job": "ades-viz"}
    return {
        "version": "4", "groupKey": '{}/{severity="critical"}:{alertname="AdesTargetDown"}',
        "truncatedAlerts": 0, "status": status, "receiver": "ades-ui",
        "groupLabels": {"alertname": alertname}, "commonLabels": labels,
        "commonAnnotations": {"summary": summary}, "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": status, "labels": labels, "annotations": {"summary": summary},
                    "startsAt": starts_at, "endsAt": ends_at,
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": fingerprint}],
    }


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def ui(make_service, service_overrides):
    overrides = copy.deepcopy(service_overrides)
    overrides["security"]["alert_webhook_token"] = TOKEN
    app = make_service(create_app, overrides)
    seed_world(app)
    admin = app.test_client()
    log_in(admin, "alice")
    return app, admin


def _stored(app) -> int:
    from ades.service import service_context

    return service_context(app).stores.get().inner.query_one("SELECT COUNT(*) FROM received_alerts")[0]


def _post(client, body, headers=None):
    return client.post("/api/alerts/webhook", json=body, headers=headers if headers is not None else bearer())


def test_a_firing_alert_is_recorded_and_shown_to_admins(ui):
    app, admin = ui
    sender = app.test_client()
    # Alertmanager sends a firing alert's endsAt as an estimate (now + resolve_timeout).
    response = _post(sender, notification(ends_at="2026-11-25T20:36:00Z"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"created": 1, "updated": 0, "unchanged": 0}

    listing = admin.get("/api/alerts").get_json()
    assert listing["firing"] == 1
    (alert,) = listing["alerts"]
    assert (alert["alertname"], alert["status"], alert["severity"]) == \
        ("AdesTargetDown", "firing", "critical")
    assert alert["labels"]["service"] == "viz"
    assert alert["annotations"]["summary"] == "ades-viz is not answering"
    assert alert["fingerprint"] == "a1b2c3d4e5f60718" and alert["ends_at"] is None
    assert alert["starts_at"] == pytest.approx(1795638660.123456)


def test_a_repeat_changes_nothing_and_a_resolution_updates_the_firing_record(ui):
    app, admin = ui
    sender = app.test_client()
    assert _post(sender, notification()).get_json()["created"] == 1
    assert _post(sender, notification()).get_json() == {"created": 0, "updated": 0, "unchanged": 1}

    resolved = notification("resolved", ends_at="2026-11-25T20:40:00Z")
    assert _post(sender, resolved).get_json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert _post(sender, resolved).get_json()["unchanged"] == 1
    # A late retry of the old firing notification does not re-open it.
    assert _post(sender, notification()).get_json()["unchanged"] == 1

    (alert,) = admin.get("/api/alerts").get_json()["alerts"]
    assert alert["status"] == "resolved" and alert["ends_at"] == 1795639200.0
    assert _stored(app) == 1


def test_a_resolution_with_another_start_still_closes_the_open_record(ui):
    app, admin = ui
    sender = app.test_client()
    _post(sender, notification(starts_at="2026-11-25T20:31:00Z"))
    later_start = notification("resolved", starts_at="2026-11-25T20:31:30Z", ends_at="2026-11-25T20:45:00Z")
    assert _post(sender, later_start).get_json()["updated"] == 1
    assert admin.get("/api/alerts?status=firing").get_json() == {"alerts": [], "firing": 0}


def test_firing_alerts_are_listed_first_then_the_newest(ui):
    app, admin = ui
    sender = app.test_client()
    _post(sender, notification(fingerprint="01", starts_at="2026-11-25T10:00:00Z"))
    _post(sender, notification("resolved", fingerprint="02", alertname="AdesHighMemory",
                               starts_at="2026-11-25T12:00:00Z", ends_at="2026-11-25T12:30:00Z"))
    _post(sender, notification(fingerprint="03", alertname="AdesDiskFilling",
                               starts_at="2026-11-25T11:00:00Z"))
    # The same alert firing again later is a new occurrence.
    _post(sender, notification(fingerprint="01", starts_at="2026-11-25T13:00:00Z"))
    listing = admin.get("/api/alerts").get_json()
    assert [(a["fingerprint"], a["starts_at"] % 86400 // 3600, a["status"]) for a in listing["alerts"]] == [
        ("01", 13, "firing"), ("03", 11, "firing"), ("01", 10, "firing"), ("02", 12, "resolved")]
    assert listing["firing"] == 3
    assert [a["fingerprint"] for a in admin.get("/api/alerts?status=resolved").get_json()["alerts"]] == ["02"]
    assert len(admin.get("/api/alerts?limit=2").get_json()["alerts"]) == 2

    page = admin.get("/admin/alerts", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "3 firing" in html
    assert html.index("AdesDiskFilling") < html.index("AdesHighMemory")


def test_a_missing_or_wrong_token_is_refused_and_nothing_is_stored(ui):
    app, _ = ui
    sender = app.test_client()
    for headers in ({}, bearer("wrong-token-0123456789"), {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": "Bearer"}, bearer(TOKEN + "x")):
        response = _post(sender, notification(), headers)
        assert response.status_code == 401, headers
        assert response.get_json()["error"] == "the alert webhook token is missing or wrong"
    assert _stored(app) == 0


def _bad_payloads():
    def edit(change):
        body = notification()
        change(body)
        return body

    return [
        ("not an object", ["alerts"]),
        ("old version", edit(lambda b: b.update(version="3"))),
        ("no alerts", edit(lambda b: b.update(alerts=[]))),
        ("alerts not a list", edit(lambda b: b.update(alerts={"a": 1}))),
        ("bad status", edit(lambda b: b["alerts"][0].update(status="pending"))),
        ("no alertname", edit(lambda b: b["alerts"][0]["labels"].pop("alertname"))),
        ("label not a string", edit(lambda b: b["alerts"][0]["labels"].update(severity=3))),
        ("annotations not an object", edit(lambda b: b["alerts"][0].update(annotations="x"))),
        ("bad fingerprint", edit(lambda b: b["alerts"][0].update(fingerprint="zz; DROP"))),
        ("no start", edit(lambda b: b["alerts"][0].pop("startsAt"))),
        ("zero start", edit(lambda b: b["alerts"][0].update(startsAt=ZERO_TIME))),
        ("start without zone", edit(lambda b: b["alerts"][0].update(startsAt="2026-11-25T20:31:00"))),
        ("start not a time", edit(lambda b: b["alerts"][0].update(startsAt="yesterday"))),
        ("end not a time", edit(lambda b: b["alerts"][0].update(endsAt=12))),
        # One bad alert rejects the whole notification: nothing is half-recorded.
        ("second alert bad", edit(lambda b: b["alerts"].append({"status": "firing"}))),
    ]


def test_a_malformed_notification_is_a_400_and_nothing_is_stored(ui):
    app, _ = ui
    sender = app.test_client()
    for name, body in _bad_payloads():
        response = _post(sender, body)
        assert response.status_code == 400, name
        error = response.get_json()["error"]
        assert isinstance(error, str) and error and "\n" not in error, name
    assert _stored(app) == 0


def test_a_body_that_is_not_json_is_a_400(ui):
    app, _ = ui
    response = app.test_client().post("/api/alerts/webhook", data=b"\xff{", headers={
        **bearer(), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"] == "the body is not JSON"
    assert _stored(app) == 0


def test_without_a_configured_token_the_webhook_refuses_everything(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    response = _post(app.test_client(), notification())
    assert response.status_code == 403
    assert "GAIT_ALERT_WEBHOOK_TOKEN" in response.get_json()["error"]
    assert _stored(app) == 0


def test_the_alertmanager_token_is_not_audited_as_a_rejected_api_token(ui):
    from ades.hardening.audit import query_events
    from ades.service import service_context

    app, _ = ui
    assert _post(app.test_client(), notification()).status_code == 200
    store = service_context(app).stores.get().inner
    assert query_events(store, kind="token.rejected") == []


def test_only_admins_see_the_alerts(ui):
    app, _ = ui
    viewer = app.test_client()
    log_in(viewer, "vera")
    assert viewer.get("/api/alerts").status_code == 403
    assert app.test_client().get("/api/alerts").status_code == 401
    assert viewer.get("/admin/alerts", headers={"Accept": "application/json"}).status_code == 403


def test_bad_listing_parameters_are_400(ui):
    _, admin = ui
    assert admin.get("/api/alerts?status=pending").status_code == 400
    assert admin.get("/api/alerts?limit=0").status_code == 400
    assert admin.get("/api/alerts?limit=x").status_code == 400


def test_both_endpoints_are_in_the_openapi_document(ui):
    app, _ = ui
    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    webhook = paths["/api/alerts/webhook"]["post"]
    # No role: the sender is Alertmanager, authenticated by its own bearer token.
    assert webhook["x-required-role"] == "public" and "Bearer" in webhook["summary"]
    assert paths["/api/alerts"]["get"]["x-required-role"] == "admin"
    assert "version" in webhook["requestBody"]["content"]["application/json"]["schema"]["properties"]


def test_annotations_are_shown_escaped_on_the_admin_page(ui):
    app, admin = ui
    _post(app.test_client(), notification(summary="<script>alert(1)</script> disk at 91%"))
    html = admin.get("/admin/alerts", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html

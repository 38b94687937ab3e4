"""The /collab/ REST API in-process on both backends: annotations CRUD with filters, catch-up
by cursor, presence snapshots, bad input as one-line 4xx JSON, and the health report of the
fan-out without Redis."""

from __future__ import annotations

import pytest

from services.collab import create_app
from services.collab.live import HUB_KEY
from services.conftest import log_in, seed_world


@pytest.fixture
def client(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    seed_world(app)
    test_client = app.test_client()
    log_in(test_client, "vera")
    yield test_client
    hub = app.extensions.get(HUB_KEY)
    if hub is not None:
        hub.close()


def _csrf(client):
    return {"X-CSRF-Token": client.get("/api/auth/me").get_json().get("csrf_token", "")}


def post(client, path, body):
    return client.post(path, json=body, headers=_csrf(client))


def test_annotations_are_created_listed_filtered_edited_resolved_and_deleted(client):
    base = "/collab/repos/payments/annotations"
    made = post(client, base, {"target": {"kind": "commit", "id": "abc1234"},
                               "body": "why? @alice"})
    assert made.status_code == 201, made.get_json()
    first = made.get_json()["annotation"]
    assert made.get_json()["cursor"] == 1 and first["mentions"] == ["alice"]
    reply = post(client, base, {"thread_id": first["id"], "body": "because"}).get_json()
    post(client, base, {"target": {"kind": "file", "id": "README.md"}, "body": "typo"})

    listing = client.get(f"{base}?target_kind=commit&target=abc1234").get_json()
    assert [a["body"] for a in listing["annotations"]] == ["why? @alice", "because"]
    assert listing["total"] == 2 and listing["cursor"] == 3
    assert client.get(f"{base}?mention=alice").get_json()["total"] == 1
    assert client.get(f"{base}?thread={first['id']}").get_json()["total"] == 2

    headers = _csrf(client)
    edited = client.patch(f"{base}/{first['id']}", json={"body": "why a loop?"}, headers=headers)
    assert edited.status_code == 200 and edited.get_json()["cursor"] == 4
    resolved = client.patch(f"{base}/{reply['annotation']['id']}", json={"resolved": True},
                            headers=headers).get_json()
    assert resolved["annotation"]["id"] == first["id"] and resolved["annotation"]["resolved"]
    assert client.get(f"{base}?resolved=true").get_json()["total"] == 1
    assert client.delete(f"{base}/{first['id']}", headers=headers).status_code == 200
    assert client.get(f"{base}/{first['id']}").status_code == 404
    assert client.get(f"{base}?include_deleted=true").get_json()["total"] == 3

    changes = client.get("/collab/repos/payments/changes?cursor=3").get_json()
    assert [(c["cursor"], c["type"]) for c in changes["changes"]] == [
        (4, "annotation.updated"), (5, "annotation.resolved"), (6, "annotation.deleted")]
    assert changes["cursor"] == 6


BAD_REQUESTS = [
    ("post", "/collab/repos/payments/annotations", {"target": {"kind": "nope", "id": "x"},
                                                    "body": "b"}, 400),
    ("post", "/collab/repos/payments/annotations", {"target": "abc", "body": "b"}, 400),
    ("post", "/collab/repos/payments/annotations", ["not", "an", "object"], 400),
    ("post", "/collab/repos/payments/annotations", {"thread_id": 999, "body": "b"}, 404),
    ("post", "/collab/repos/nowhere/annotations", {"target": {"kind": "file", "id": "a"},
                                                   "body": "b"}, 404),
    ("get", "/collab/repos/payments/annotations?limit=0", None, 400),
    ("get", "/collab/repos/payments/annotations?resolved=maybe", None, 400),
    ("get", "/collab/repos/payments/annotations?target_kind=line", None, 400),
    ("get", "/collab/repos/payments/changes?cursor=-4", None, 400),
    ("patch", "/collab/repos/payments/annotations/1", {"body": "x", "resolved": True}, 400),
    ("patch", "/collab/repos/payments/annotations/1", {"resolved": "yes"}, 400),
]


def test_bad_requests_get_a_one_line_json_error_and_change_nothing(client):
    post(client, "/collab/repos/payments/annotations",
         {"target": {"kind": "file", "id": "a.py"}, "body": "original"})
    headers = _csrf(client)
    for method, path, body, status in BAD_REQUESTS:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code == status, (method, path, body)
        error = response.get_json()["error"]
        assert isinstance(error, str) and "\n" not in error
    after = client.get("/collab/repos/payments/annotations").get_json()
    assert after["cursor"] == 1 and [a["body"] for a in after["annotations"]] == ["original"]


def test_someone_elses_annotation_cannot_be_edited_and_anonymous_callers_get_401(
        client, make_service):
    made = post(client, "/collab/repos/payments/annotations",
                {"target": {"kind": "experience", "id": "3"}, "body": "mine"}).get_json()
    client.post("/api/auth/logout", headers=_csrf(client))
    assert client.get("/collab/repos/payments/annotations").status_code == 401
    log_in(client, "alice")
    path = f"/collab/repos/payments/annotations/{made['annotation']['id']}"
    response = client.patch(path, json={"body": "taken over"}, headers=_csrf(client))
    assert response.status_code == 403
    assert client.delete(path, headers=_csrf(client)).status_code == 200  # alice is an admin


def test_presence_snapshot_of_an_empty_room_and_the_fanout_in_health_without_redis(client):
    snapshot = client.get("/collab/repos/payments/presence").get_json()
    assert snapshot == {"type": "presence", "v": 1, "repo": "payments", "users": [],
                        "connections": 0}
    assert client.get("/collab/repos/nowhere/presence").status_code == 404
    detail = client.get("/api/health/detailed").get_json()["collaboration"]
    assert detail["fanout"] == "in-process" and detail["cross_process"] is False
    assert "same worker" in detail["warning"]
    assert detail["presence"] == "in-process" and detail["connections"] == 0


def test_server_pings_come_more_often_than_the_gateway_gives_up_on_a_quiet_websocket(
        make_service, service_overrides):
    import re
    from pathlib import Path

    from services.collab.live import PING_INTERVAL_SECONDS

    app = make_service(create_app, service_overrides)
    assert app.config["SOCK_SERVER_OPTIONS"]["ping_interval"] == PING_INTERVAL_SECONDS
    template = (Path(__file__).resolve().parents[3] / "gateway" / "nginx.conf.template").read_text()
    ws_location = re.search(r"location /ws/ \{(.*?)\}", template, re.S).group(1)
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", ws_location).group(1))
    assert read_timeout > PING_INTERVAL_SECONDS * 2

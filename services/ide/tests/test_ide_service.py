"""The ide service: boots under gunicorn, and lists the repositories an IDE can query."""

from __future__ import annotations

from service_runner import run_service

from services.conftest import log_in, seed_world
from services.ide import DEFAULT_PORT, create_app


def test_ide_boots_under_gunicorn_with_two_gevent_workers(tmp_path, gunicorn_env):
    with run_service("ide", tmp_path, workers=2, env=gunicorn_env) as service:
        assert service.get("/healthz").json() == {"status": "ok", "service": "ide"}
        assert service.get("/readyz").status == 200
        assert service.get("/ide/").status == 401


def test_the_ide_index_lists_repositories_with_their_head(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    seed_world(app)
    client = app.test_client()
    log_in(client, "vera")
    body = client.get("/ide/").get_json()
    assert body["service"] == "ide"
    assert [(r["name"], r["commit_count"], r["head_commit"]) for r in body["repositories"]] == [
        ("payments", 120, "f" * 40), ("search", 35, "f" * 40)]


def test_ide_listens_on_8081_by_default(make_service, service_overrides):
    from ades.service import service_context

    app = make_service(create_app, service_overrides)
    assert service_context(app).config.server.port == DEFAULT_PORT == 8081

"""The collab service: boots under gunicorn, and says how updates reach other workers."""

from __future__ import annotations

from service_runner import run_service

from services.collab import DEFAULT_PORT, create_app
from services.conftest import log_in, seed_world


def test_collab_boots_under_gunicorn_with_two_gevent_workers(tmp_path, gunicorn_env):
    with run_service("collab", tmp_path, workers=2, env=gunicorn_env) as service:
        assert service.get("/healthz").json() == {"status": "ok", "service": "collab"}
        assert service.get("/readyz").status == 200
        assert service.get("/collab/").status == 401


def test_the_collab_index_lists_repositories_and_the_fanout(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    seed_world(app)
    client = app.test_client()
    log_in(client, "vera")
    body = client.get("/collab/").get_json()
    assert body["fanout"] == "in-process"
    assert [r["name"] for r in body["repositories"]] == ["payments", "search"]


def test_collab_listens_on_8082_by_default(make_service, service_overrides):
    from ades.service import service_context

    app = make_service(create_app, service_overrides)
    assert service_context(app).config.server.port == DEFAULT_PORT == 8082

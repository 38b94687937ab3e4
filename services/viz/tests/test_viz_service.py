"""The viz service: boots under gunicorn, and its index shows each repository's share."""

from __future__ import annotations

from service_runner import run_service

from services.conftest import log_in, seed_world
from services.viz import DEFAULT_PORT, create_app


def test_viz_boots_under_gunicorn_with_two_gevent_workers(tmp_path, gunicorn_env):
    with run_service("viz", tmp_path, workers=2, env=gunicorn_env) as service:
        assert service.get("/healthz").json() == {"status": "ok", "service": "viz"}
        assert service.get("/readyz").status == 200
        assert service.get("/viz/").status == 401
        assert "/viz/" in service.get("/openapi.json").json()["paths"]


def test_the_analytics_index_shows_commit_shares(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    seed_world(app)
    client = app.test_client()
    log_in(client, "vera")
    page = client.get("/viz/").get_data(as_text=True)
    assert "2 repositories, 155 commits in all." in page
    assert page.index("payments") < page.index("search")  # largest first
    assert "77.4%" in page


def test_viz_listens_on_8083_by_default(make_service, service_overrides):
    from ades.service import service_context

    app = make_service(create_app, service_overrides)
    assert service_context(app).config.server.port == DEFAULT_PORT == 8083

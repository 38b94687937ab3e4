"""The ui service: boots under gunicorn, and its home page lists the real repositories."""

from __future__ import annotations

from service_runner import run_service

from services.conftest import log_in, seed_world
from services.ui import DEFAULT_PORT, create_app


def test_the_ui_boots_under_gunicorn_with_two_gevent_workers(tmp_path, gunicorn_env):
    with run_service("ui", tmp_path, workers=2, env=gunicorn_env) as service:
        assert service.get("/healthz").json() == {"status": "ok", "service": "ui"}
        assert service.get("/readyz").status == 200
        assert service.get("/").status == 401
        assert service.get("/metrics").status == 200
        assert "/api/admin/users" in service.get("/openapi.json").json()["paths"]


def test_the_home_page_lists_the_repositories_for_a_viewer(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    seed_world(app)
    client = app.test_client()
    log_in(client, "vera")
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "payments" in page and "120" in page and "search" in page


def test_an_anonymous_browser_is_sent_to_the_login_page(make_service, service_overrides):
    client = make_service(create_app, service_overrides).test_client()
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_ui_listens_on_8080_unless_told_otherwise(make_service, service_overrides):
    from ades.service import service_context

    app = make_service(create_app, service_overrides)
    assert service_context(app).config.server.port == DEFAULT_PORT == 8080

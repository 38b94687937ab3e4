"""The ui's pages in-process: login redirects stay on the site, forms need CSRF tokens, bad
form input re-renders the page with the message and changes nothing."""

from __future__ import annotations

import pytest

from services.conftest import PASSWORDS, seed_world
from services.ui import create_app
from services.ui.pages import safe_next


@pytest.fixture
def app(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    seed_world(app)
    return app


@pytest.mark.parametrize("target, expected", [
    ("/search?q=x", "/search?q=x"), ("https://evil.example/", "/"), ("//evil.example/x", "/"),
    ("/\\evil.example", "/"), ("", "/"), (None, "/"), ("javascript:alert(1)", "/"),
])
def test_the_login_redirect_only_goes_to_local_paths(target, expected):
    assert safe_next(target) == expected


def test_logging_in_from_the_form_returns_to_the_local_next_page_only(app):
    client = app.test_client()
    ok = client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"],
                                     "next": "https://evil.example/"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200


def test_a_wrong_password_re_renders_the_form_with_one_message(app):
    response = app.test_client().post("/login", data={"username": "alice", "password": "nope"},
                                      headers={"Accept": "text/html"})
    assert response.status_code == 401 and "Invalid username or password." in response.get_data(as_text=True)


def test_a_form_post_without_the_csrf_token_is_refused(app):
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    assert client.post("/repos", data={"name": "x", "source": "/etc"}).status_code == 403


def test_a_refused_registration_shows_the_reason_and_stores_nothing(app):
    from ades.service import service_context

    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    page = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/repos", data={"name": "x", "source": "/etc", "csrf_token": token},
                           headers={"Accept": "text/html"})
    assert response.status_code == 400 and "outside the allowed roots" in response.get_data(as_text=True)
    store = service_context(app).stores.get().inner
    assert store.query_one("SELECT COUNT(*) FROM repositories")[0] == 2


def test_pages_answer_unknown_repositories_with_a_404_page(app):
    client = app.test_client()
    client.post("/login", data={"username": "vera", "password": PASSWORDS["vera"]})
    response = client.get("/repos/nope", headers={"Accept": "text/html"})
    assert response.status_code == 404 and "unknown repository" in response.get_data(as_text=True)
    assert client.get("/search?q=%21%21", headers={"Accept": "text/html"}).status_code == 200


def _logged_in_with_token(app, username: str):
    client = app.test_client()
    client.post("/login", data={"username": username, "password": PASSWORDS[username]})
    page = client.get("/tokens", headers={"Accept": "text/html"}).get_data(as_text=True)
    return client, page.split('name="csrf_token" value="')[1].split('"')[0]


def test_a_viewer_creates_and_revokes_a_token_but_cannot_open_the_admin_pages(app):
    client, csrf = _logged_in_with_token(app, "vera")
    created = client.post("/tokens", data={"scope": "read", "name": "laptop", "csrf_token": csrf},
                          headers={"Accept": "text/html"})
    assert created.status_code == 201
    plaintext = created.get_data(as_text=True).split('id="new-token" tabindex="0">')[1].split("<")[0]
    assert client.get("/api/repositories", headers={"Authorization": f"Bearer {plaintext}"},
                      ).status_code == 200
    refused = client.post("/tokens", data={"scope": "root", "csrf_token": csrf},
                          headers={"Accept": "text/html"})
    assert refused.status_code == 400
    for path in ("/admin/users", "/admin/audit"):
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 403


def test_an_admin_creates_a_user_changes_a_role_and_reads_the_audit_log(app):
    client, csrf = _logged_in_with_token(app, "alice")
    html = {"Accept": "text/html"}
    assert client.post("/admin/users", data={"username": "mo", "password": "mo-maintainer-password",
                                             "role": "maintainer", "csrf_token": csrf}).status_code == 302
    assert client.post("/admin/users", data={"username": "mo", "password": "mo-maintainer-password",
                                             "role": "maintainer", "csrf_token": csrf},
                       headers=html).status_code == 400
    assert client.post("/admin/users/mo/role", data={"role": "viewer", "csrf_token": csrf}).status_code == 302
    assert client.post("/admin/users/nobody/role", data={"role": "viewer", "csrf_token": csrf},
                       headers=html).status_code == 404
    page = client.get("/admin/users", headers=html).get_data(as_text=True)
    assert "mo" in page
    audit = client.get("/admin/audit?kind=user.*", headers=html).get_data(as_text=True)
    assert "user.created" in audit and "user.role_changed" in audit


def test_a_maintainer_queues_and_cancels_an_ingest_from_the_repository_page(app):
    from ades import jobs
    from ades.service import service_context

    client, csrf = _logged_in_with_token(app, "alice")
    html = {"Accept": "text/html"}
    assert client.post("/repos/payments/ingest", data={"csrf_token": csrf}).status_code == 302
    page = client.get("/repos/payments", headers=html).get_data(as_text=True)
    assert "Cancel this ingest" in page and 'id="job-status">queued' in page
    job = jobs.list_jobs(service_context(app).stores.get().inner, limit=1)[0]
    assert client.post(f"/repos/search/jobs/{job.id}/cancel", data={"csrf_token": csrf},
                       headers=html).status_code == 404
    assert client.post(f"/repos/payments/jobs/{job.id}/cancel", data={"csrf_token": csrf}).status_code == 302
    assert "Cancel this ingest" not in client.get("/repos/payments", headers=html).get_data(as_text=True)

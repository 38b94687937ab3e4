"""Fixtures for the services' tests: the library's real-database fixtures, and gunicorn.

The library's `shared/tests/conftest.py` is loaded under another module name and its
fixtures re-exported, so `backend`, `postgres_url` and `ades_env` mean the same here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SHARED_TESTS = Path(__file__).resolve().parents[1] / "shared" / "tests"
if str(_SHARED_TESTS) not in sys.path:
    sys.path.insert(0, str(_SHARED_TESTS))

_spec = importlib.util.spec_from_file_location("ades_shared_test_fixtures",
                                               _SHARED_TESTS / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

ades_env = _fixtures.ades_env
backend = _fixtures.backend
postgres_server_url = _fixtures.postgres_server_url
postgres_url = _fixtures.postgres_url

# --- the fixture world of the service tests -------------------------------------------------
# alice: admin.  vera: viewer.  Repositories: "payments" (120 commits) and "search" (35).

PASSWORDS = {"alice": "alice-admin-password", "vera": "vera-viewer-password"}
ROLES = {"alice": "admin", "vera": "viewer"}


@pytest.fixture
def service_overrides(backend, tmp_path, request):
    """Config overrides for an in-process service app on `backend`, no Redis."""
    server = {"data_dir": str(tmp_path / "data"), "redis_url": None,
              "postgres_url": (request.getfixturevalue("postgres_url")
                               if backend == "postgres" else None)}
    return {"server": server, "security": {"secret_key": "test-secret-shared-by-services"}}


@pytest.fixture
def gunicorn_env(service_overrides):
    """The same database for a service run under gunicorn (see service_runner)."""
    env = {"GAIT_DATA_DIR": service_overrides["server"]["data_dir"]}
    if service_overrides["server"]["postgres_url"]:
        env["GAIT_POSTGRES_URL"] = service_overrides["server"]["postgres_url"]
    return env


@pytest.fixture
def make_service(monkeypatch):
    """Builds service apps from a factory and overrides, as `create_app(overrides)` would
    in production but with no GAIT_* variable inherited; closes their stores afterwards."""
    import os

    from ades.service import service_context

    for name in [n for n in os.environ if n.startswith("GAIT_")]:
        monkeypatch.delenv(name)
    apps = []

    def make(factory, overrides):
        app = factory(overrides)
        apps.append(app)
        return app

    yield make
    for app in apps:
        service_context(app).close()


def seed_world(app) -> None:
    """Create alice, vera and two repositories in `app`'s database."""
    from ades.hardening import users
    from ades.service import service_context
    from ades.storage.repositories import record_ingest, register_repository

    store = service_context(app).stores.get().inner
    for name, password in PASSWORDS.items():
        users.create_user(store, name, password, ROLES[name])
    for repo_name, commits in (("payments", 120), ("search", 35)):
        repo = register_repository(store, repo_name, f"/srv/git/{repo_name}")
        record_ingest(store, repo.id, head="f" * 40, branch="main", commit_count=commits,
                      seconds=1.5)


def log_in(client, username: str) -> None:
    """Log `client` in as `username` (a session cookie, as a browser would hold)."""
    response = client.post("/api/auth/login",
                           json={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 200, response.get_data(as_text=True)


def ui_with_zoo(make_service, overrides, history):
    """A ui app with the seeded world, alice logged in (cookie and CSRF header) and a local
    repository "zoo" registered and ingested; `history(repo)` writes its commits first.
    Returns (app, client, repo builder, ingest) where `ingest()` runs the queued job."""
    from ades.service import service_context
    from ades.worker import run_worker
    from gitrepos import RepoBuilder

    from services.ui import create_app

    app = make_service(create_app, overrides)
    seed_world(app)
    context = service_context(app)
    repo = RepoBuilder(context.config.server.repo_roots[0] / "zoo")
    history(repo)
    client = app.test_client()
    log_in(client, "alice")
    client.environ_base["HTTP_X_CSRF_TOKEN"] = client.get("/api/auth/me").get_json()["csrf_token"]
    assert client.post("/api/repositories",
                       json={"name": "zoo", "path": str(repo.path)}).status_code == 202

    def ingest() -> None:
        run_worker(context.stores.get().inner, context.config, once=True, lease_seconds=10)

    ingest()
    return app, client, repo, ingest

"""The fixture world of the security tests, in process: the four service apps on one SQLite
database under a temporary data directory, real argon2 password hashing, and one account
per role.

alice: admin.  mark: maintainer.  vera: viewer.  "payments" is a real repository under the
allowed root, registered and ingested by the real worker code when a test asks for it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

SERVICES = ("ui", "ide", "collab", "viz")
PASSWORDS = {"alice": "alice-admin-password-long", "mark": "mark-maintainer-password",
             "vera": "vera-viewer-password-long"}
ROLES = {"alice": "admin", "mark": "maintainer", "vera": "viewer"}
WEBHOOK_SECRET = "security-webhook-secret-0123456789"
SECRET_KEY = "security-tests-session-secret-0123456789"


def service_factory(name: str) -> Callable[..., Flask]:
    """`create_app` of service `name`."""
    return importlib.import_module(f"services.{name}").create_app


def clear_gait_env(monkeypatch) -> None:
    """Drop inherited GAIT_* variables so only the test's configuration counts."""
    for var in [n for n in os.environ if n.startswith("GAIT_")]:
        monkeypatch.delenv(var)


def overrides(data_dir: Path, repo_root: Path, **security: Any) -> dict[str, Any]:
    """Configuration of an in-process service app: SQLite in `data_dir`, no Redis, a generous
    rate limit (the attacks are many), the webhook secret and any `security` overrides."""
    return {
        "server": {"data_dir": str(data_dir), "redis_url": None, "postgres_url": None,
                   "repo_roots": [str(repo_root)]},
        "security": {"secret_key": SECRET_KEY, "rate_limit": "100000/minute",
                     "webhook_secret": WEBHOOK_SECRET, **security},
    }


def store_of(app: Flask):
    """The app's own storage (the inner Store, not the caching wrapper)."""
    from ades.service import service_context

    return service_context(app).stores.get().inner


def create_accounts(app: Flask) -> None:
    """alice, mark and vera with their roles and passwords."""
    from ades.hardening import users

    store = store_of(app)
    for name, role in ROLES.items():
        users.create_user(store, name, PASSWORDS[name], role)


def logged_in(app: Flask, name: str, client_ip: str = "198.51.100.10"):
    """A test client holding `name`'s session cookie, and the session's CSRF token."""
    client = app.test_client()
    response = client.post("/api/auth/login", json={"username": name, "password": PASSWORDS[name]},
                           headers={"X-Forwarded-For": client_ip})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client, response.get_json()["csrf_token"]


def ingest_queued(app: Flask) -> None:
    """Run the queued ingest jobs to completion with the real worker code."""
    from ades.service import service_context
    from ades.worker import run_worker

    context = service_context(app)
    run_worker(context.stores.get().inner, context.config, once=True, lease_seconds=30)


def close(app: Flask) -> None:
    """Close the app's store and pools."""
    from ades.service import service_context

    service_context(app).close()

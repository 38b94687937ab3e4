"""Shared pieces of the hardening tests: the fixture world's data, a demo blueprint
whose routes declare their access, and small client helpers."""

from __future__ import annotations

from dataclasses import dataclass

from ades.hardening import allow_code_input, public, requires, users
from ades.storage import Store
from flask import Blueprint, jsonify, request

SECRET = "test-secret-key-for-hardening-0123456789"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}
CLIENT_IP = "203.0.113.7"  # what the trusted proxy reports as the client
PROXY_IP = "10.0.0.2"  # the proxy's own address, seen by the service


@dataclass
class World:
    store: Store
    alice: users.User
    bob: users.User
    carol: users.User
    read_token: str
    write_token: str
    read_token_id: int
    write_token_id: int


demo = Blueprint("demo", __name__)


@demo.get("/healthz")
@public
def healthz():
    return jsonify({"status": "ok"})


@demo.get("/api/items")
@requires("viewer")
def list_items():
    return jsonify({"items": [], "q": request.args.get("q")})


@demo.post("/api/items")
@requires("maintainer")
def create_item():
    return jsonify({"created": request.get_json(silent=True)}), 201


@demo.post("/api/preview")
@requires("viewer", scope="read")
def preview():
    return jsonify({"preview": request.get_json(silent=True)})


@demo.post("/api/notes")
@requires("viewer")
def add_note():
    return jsonify({"note": request.get_json(silent=True) or request.form.to_dict()})


@demo.post("/api/context")
@requires("viewer")
@allow_code_input("diff")
def context():
    return jsonify({"ok": True})


@demo.get("/api/settings")
@requires("admin")
def settings():
    return jsonify({"settings": {}})


@demo.get("/boom")
@public
def boom():
    raise RuntimeError("kaboom")


def login(client, name: str, password: str | None = None, **kwargs):
    """POST the login form for `name`; returns the response."""
    return client.post("/api/auth/login",
                       json={"username": name, "password": password or PASSWORDS[name]},
                       **kwargs)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def session_cookie(client) -> str | None:
    """The value of the client's `ades_session` cookie, if any."""
    cookie = client.get_cookie("ades_session")
    return cookie.value if cookie is not None else None


def kinds(store: Store, **filters) -> list[str]:
    """Audit event kinds, oldest first."""
    from ades.hardening.audit import query_events

    return [e.kind for e in reversed(query_events(store, limit=1000, **filters))]

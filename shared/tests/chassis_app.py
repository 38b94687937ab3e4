"""A chassis app with probe routes, for tests that need to misbehave on purpose.

`create_app()` is importable by gunicorn (`chassis_app:create_app()`), so the same routes
can be exercised in-process and under real gevent workers. Every probe is public.
"""

from __future__ import annotations

import time

from ades.hardening.rbac import public
from ades.service import create_service_app, get_store, operation
from flask import Blueprint, jsonify, request

probe = Blueprint("probe", __name__, url_prefix="/probe")


@probe.get("/sleep")
@public
@operation(query={"seconds": "How long to sleep"})
def sleep():
    """Sleep (cooperatively under gevent) and say which process answered."""
    time.sleep(float(request.args.get("seconds", "0")))
    return jsonify({"slept": True})


@probe.get("/db-sleep")
@public
def db_sleep():
    """Hold a database connection for a while (pg_sleep on PostgreSQL)."""
    seconds = float(request.args.get("seconds", "0"))
    store = get_store()
    if store.dialect == "postgres":
        store.query("SELECT pg_sleep(?)", (seconds,))
    else:
        time.sleep(seconds)
    return jsonify({"slept": True})


@probe.get("/boom")
@public
def boom():
    """Fail with an unexpected exception."""
    raise RuntimeError("secret detail that must not leak: /etc/passwd")


@probe.post("/echo/<int:number>")
@public
def echo(number: int):
    """Answer with the number in the path."""
    return jsonify({"number": number})


def create_app(config=None):
    """The probe app (service name `probe`)."""
    return create_service_app("probe", config, blueprints=(probe,))

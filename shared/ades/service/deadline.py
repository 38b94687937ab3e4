"""The request time limit, enforced inside the app.

Under gevent workers gunicorn's `timeout` is only a heartbeat: a handler stuck on a slow
query would hold its greenlet (and a pool connection) forever. Each request therefore
runs under a `gevent.Timeout` of `server.request_timeout_seconds`, which raises
`RequestTimedOut` (503) wherever the greenlet is waiting. Outside gevent (the Flask dev
server, tests) there is no cooperative way to interrupt a thread, and no limit is set.
"""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask, g

from .errors import RequestTimedOut


def gevent_active() -> bool:
    """True when this process runs under gevent's monkey-patching (a gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def init_app(app: Flask, seconds: float) -> bool:
    """Arm the limit for every request; returns whether it is enforced in this process."""
    enforced = gevent_active()
    app.extensions["ades.request_deadline"] = seconds if enforced else None
    if not enforced:
        return False

    from gevent import Timeout

    def arm() -> None:
        timer = Timeout(seconds, RequestTimedOut(seconds))
        timer.start()
        g.ades_deadline = timer

    def disarm(*_: Any) -> None:
        timer = g.pop("ades_deadline", None)
        if timer is not None:
            timer.close()

    def disarm_response(response: Any) -> Any:
        disarm()
        return response

    # First before-request hook, so the limit covers authentication and rate limiting too.
    app.before_request_funcs.setdefault(None, []).insert(0, arm)
    app.after_request(disarm_response)
    app.teardown_request(disarm)
    return True

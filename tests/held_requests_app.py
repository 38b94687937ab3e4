"""The ui service plus one probe that holds a request open, for the SIGTERM fault test.

`GET /probe/hold?seconds=S&rid=N` sleeps S seconds (cooperatively under gevent) and, while
it does, keeps the marker file `$GAIT_DATA_DIR/held/<port>-<rid>`, so the test can see
which instance holds which request before it signals one. gunicorn loads it with
`held_requests_app:create_app()`; everything else is the real ui app.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ades.hardening.rbac import public
from ades.service import operation
from flask import Blueprint, jsonify, request

probe = Blueprint("held_probe", __name__, url_prefix="/probe")
MAX_HOLD_SECONDS = 30.0


def held_dir() -> Path:
    """Where the markers of held requests are (shared by every instance of a test)."""
    return Path(os.environ["GAIT_DATA_DIR"]) / "held"


@probe.get("/hold")
@public
@operation(query={"seconds": "How long to hold the request", "rid": "The caller's request number"})
def hold():
    """Hold the request for `seconds`, visible as a marker file meanwhile."""
    seconds = min(float(request.args.get("seconds", "0")), MAX_HOLD_SECONDS)
    rid = int(request.args.get("rid", "0"))
    marker = held_dir() / f"{os.environ['GAIT_PORT']}-{rid}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        time.sleep(seconds)
    finally:
        marker.unlink(missing_ok=True)
    return jsonify({"held": seconds, "rid": rid, "port": int(os.environ["GAIT_PORT"])})


def create_app():
    """The ui app with the hold probe."""
    from services.ui import create_app as create_ui_app

    app = create_ui_app()
    app.register_blueprint(probe)
    return app

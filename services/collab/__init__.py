"""The collab service (port 8082): live rooms over /ws/ and annotations under /collab/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ades.config import Config
from flask import Flask

DEFAULT_PORT = 8082


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the collab app: the chassis, the websocket rooms and the collaboration API.

    `config` is a `Config` or overrides for `load_config` (see `create_service_app`).
    """
    from ades.service import create_service_app
    from ades.service.health import add_health_detail

    from . import sockets
    from .live import HUB_KEY, describe_fanout
    from .views import bp

    app = create_service_app("collab", config, default_port=DEFAULT_PORT,
                             blueprints=(bp, sockets.bp))
    sockets.init_app(app)
    add_health_detail(app, "collaboration", lambda: describe_fanout(app.extensions.get(HUB_KEY),
                                                                    app))
    return app

"""The collab service (port 8082): live rooms over /ws/ and annotations under /collab/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ades.config import Config
from flask import Flask

DEFAULT_PORT = 8082


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the collab app: the chassis and the collaboration API.

    `config` is a `Config` or overrides for `load_config` (see `create_service_app`).
    """
    from ades.service import create_service_app

    from .views import bp

    return create_service_app("collab", config, default_port=DEFAULT_PORT, blueprints=(bp,))

"""The viz service (port 8083): analytics pages and their data under /viz/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ades.config import Config
from flask import Flask

DEFAULT_PORT = 8083


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the viz app: the chassis and the analytics pages.

    `config` is a `Config` or overrides for `load_config` (see `create_service_app`).
    """
    from ades.service import create_service_app

    from .views import bp

    return create_service_app("viz", config, default_port=DEFAULT_PORT, blueprints=(bp,))

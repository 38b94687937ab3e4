"""The ide service (port 8081): the IDE and AI-assistant API under /ide/, MCP at /mcp."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ades.config import Config
from flask import Flask

DEFAULT_PORT = 8081


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the ide app: the chassis, the IDE API and the MCP server.

    `config` is a `Config` or overrides for `load_config` (see `create_service_app`).
    """
    from ades.service import create_service_app

    from .mcp import mcp_bp
    from .views import bp

    return create_service_app("ide", config, default_port=DEFAULT_PORT, blueprints=(bp, mcp_bp))

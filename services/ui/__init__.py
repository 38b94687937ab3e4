"""The ui service (port 8080): the web UI and the core REST API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ades.config import Config
from flask import Flask

DEFAULT_PORT = 8080


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """Build the ui app: the chassis, account administration, the REST API and the pages.

    `config` is a `Config` or overrides for `load_config` (see `create_service_app`).
    """
    from ades.hardening import admin_bp
    from ades.service import create_service_app

    from . import (
        admin_pages,
        alert_pages,
        api_alerts,
        api_commits,
        api_experiences,
        api_jobs,
        api_patterns,
        api_repositories,
        pages,
        webhooks,
    )

    return create_service_app("ui", config, default_port=DEFAULT_PORT, blueprints=(
        admin_bp, api_repositories.bp, api_jobs.bp, api_commits.bp, api_experiences.bp,
        api_patterns.bp, webhooks.bp, api_alerts.bp, pages.bp, admin_pages.bp, alert_pages.bp))

"""The service chassis: one factory, health, errors, OpenAPI and the worker's store.

A service's whole `create_app` is::

    def create_app(config=None):
        from ades.service import create_service_app
        from .views import bp
        return create_service_app("viz", config, default_port=8083, blueprints=(bp,))

Views reach the database with `get_store()` and describe query parameters for
`/openapi.json` with `@operation(query=...)`.
"""

from __future__ import annotations

from . import api_schemas
from .app import UndeclaredRoutesError, create_service_app
from .context import ServiceContext, get_store, service_context
from .errors import RequestTimedOut, error_response, wants_html
from .openapi import build_document, operation
from .repositories import repository_summaries

__all__ = ["RequestTimedOut", "api_schemas", "ServiceContext", "UndeclaredRoutesError", "build_document",
           "create_service_app", "error_response", "get_store", "operation",
           "repository_summaries", "service_context", "wants_html"]

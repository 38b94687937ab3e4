"""Endpoints whose `Authorization: Bearer` carries an external sender's shared secret.

Alertmanager, say, authenticates with a token from its own configuration, not with an
API token of an ADES user. On an endpoint marked `@external_bearer` the session layer
does not look the header up among API tokens (nor audit it as a rejected one); the view
checks it itself. Such endpoints are `@public` as far as roles go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

EXTERNAL_BEARER_ATTR = "_ades_external_bearer"

View = TypeVar("View", bound=Callable[..., Any])


def external_bearer(view: View) -> View:
    """Mark a view as verifying its bearer token itself (see the module docstring)."""
    setattr(view, EXTERNAL_BEARER_ATTR, True)
    return view


def expects_external_bearer() -> bool:
    """True when the current request's endpoint is marked `@external_bearer`."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, EXTERNAL_BEARER_ATTR, False))

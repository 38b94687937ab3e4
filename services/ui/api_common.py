"""What the ui's API blueprints share: request parsing that answers bad input with a 4xx,
repository lookup, and the checks on where a repository may come from."""

from __future__ import annotations

import os
import re
from typing import Any

from ades.service import get_store, service_context
from ades.storage.repositories import Repository, get_repository
from flask import current_app, request
from werkzeug.exceptions import HTTPException

NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
HASH_PATTERN = re.compile(r"[0-9a-fA-F]{4,64}")
MAX_LIMIT = 100


class ApiError(HTTPException):
    """A client error answered as `{"error": message, ...}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.code = status


def json_object() -> dict[str, Any]:
    """The request's JSON object body; 415/400 for anything else."""
    if not request.is_json:
        raise ApiError(415, "send a JSON object with Content-Type: application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


def string_field(data: dict[str, Any], key: str, *, required: bool = True,
                 max_length: int = 4096) -> str | None:
    """`data[key]` as a non-empty string of at most `max_length` characters."""
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"'{key}' must be a non-empty string")
    if len(value) > max_length:
        raise ApiError(400, f"'{key}' is longer than {max_length} characters")
    if "\x00" in value:
        raise ApiError(400, f"'{key}' must not contain NUL characters")
    return value


def int_arg(name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """Query parameter `name` as an integer within [low, high]; 400 otherwise."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"'{name}' must be an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, f"'{name}' must be {bound}")
    return value


def limit_arg(default: int = 20) -> int:
    """The `limit` query parameter (1..100)."""
    return int_arg("limit", default, low=1, high=MAX_LIMIT)


def valid_name(name: str) -> str:
    """`name` if it is a valid repository name; 400 otherwise."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ApiError(400, "repository names are 1-100 letters, digits, '.', '_' or '-', "
                            "not starting with '.' or '-'")
    return name


def repository_or_404(name: str) -> Repository:
    """The repository called `name`; 404 when there is none."""
    repo = get_repository(get_store(), name) if NAME_PATTERN.fullmatch(name) else None
    if repo is None:
        raise ApiError(404, f"unknown repository: {name}")
    return repo


def allowed_local_path(text: str) -> str:
    """The real path of `text` when it lies under one of the configured repository roots
    (`GAIT_REPO_ROOTS`); 400 for a relative path, `..`, an option-like value or a path
    outside the roots. Symbolic links are resolved before the check."""
    if text.startswith("-"):
        raise ApiError(400, "a repository path must not start with '-'")
    if not os.path.isabs(text):
        raise ApiError(400, "a repository path must be absolute")
    if ".." in text.replace("\\", "/").split("/"):
        raise ApiError(400, "a repository path must not contain '..'")
    real = os.path.realpath(text)
    roots = [os.path.realpath(str(root)) for root in service_context().config.server.repo_roots]
    if not any(real == root or real.startswith(root.rstrip("/") + "/") for root in roots):
        raise ApiError(400, "the repository path is outside the allowed roots (GAIT_REPO_ROOTS)")
    return real


def config():
    """The service's configuration."""
    return service_context(current_app).config

"""The IDE API under /ide/: file context, diff review, search and similar changes.

IDE plugins and assistants authenticate with bearer API tokens; a read-scope token is
enough for every endpoint, including the POSTs, which only read history. Bad input is
answered 400 with a one-line message, an unknown repository 404.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ades.assist import AssistError
from ades.hardening import allow_code_input
from ades.hardening.rbac import requires
from ades.service import api_schemas, error_response, operation
from flask import Blueprint, Response, jsonify, request

from . import operations
from .operations import RepositoryNotFound

bp = Blueprint("ide", __name__, url_prefix="/ide")

_REPO = {"type": "string", "description": "A registered repository's name"}
_PATH = {"type": "string", "description": "A repository-relative file path"}
CONTEXT_BODY = {
    "type": "object", "required": ["repo", "path"],
    "properties": {
        "repo": _REPO, "path": _PATH,
        "lines": {"description": "[start, end] or \"start-end\": the lines being edited",
                  "oneOf": [{"type": "array", "items": {"type": "integer", "minimum": 1},
                             "minItems": 2, "maxItems": 2}, {"type": "string"}]},
        "symbol": {"type": "string", "maxLength": 200,
                   "description": "A function or class being edited"},
        "snippet": {"type": "string", "maxLength": 20000, "description": "Code being edited"},
        "token_budget": {"type": "integer", "minimum": 200, "maximum": 100000,
                         "description": "Approximate size limit of the answer (default 4000)"},
    },
}
REVIEW_BODY = {"type": "object", "required": ["repo", "diff"],
               "properties": {"repo": _REPO, "diff": {"type": "string",
                                                      "description": "A unified diff"}}}
SIMILAR_BODY = {
    "type": "object", "required": ["repo", "text"],
    "properties": {"repo": _REPO,
                   "text": {"type": "string", "maxLength": 20000,
                            "description": "A code snippet or a description of a change"},
                   "path": {"type": "string", "description": "Where the snippet lives (its "
                            "language lets code patterns be matched too)"},
                   "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
}
SEARCH_QUERY = {"q": "Search words (required)", "repo": "Repository name",
                "category": "Commit category", "language": "Language", "author": "Author",
                "path": "Path prefix", "limit": "1-100 (default 10)", "offset": "Offset"}


def _answer(compute: Callable[[Mapping[str, Any]], dict[str, Any]],
            args: Mapping[str, Any]) -> Response:
    try:
        return jsonify(compute(args))
    except RepositoryNotFound as exc:
        return error_response(404, str(exc))
    except AssistError as exc:
        return error_response(400, str(exc))


def _json_body() -> Mapping[str, Any] | Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "the request body must be a JSON object")
    return body


@bp.get("/")
@requires("viewer", scope="read")
def index() -> Response:
    """The repositories an IDE or assistant can ask about, with their ingested head."""
    return jsonify({"service": "ide", "repositories": operations.repositories()})


@bp.post("/context")
@requires("viewer", scope="read")
@allow_code_input("snippet")
@operation(body=CONTEXT_BODY, responses={400: "Invalid arguments", 404: "Unknown repository"},
           schemas={200: api_schemas.FILE_CONTEXT})
def context() -> Response:
    """History-aware context of one file.

    In reading order: summary, risk, co_changes (`{path, support, confidence}`),
    relevant experiences, experts weighted by recency, change history and patterns,
    trimmed to `token_budget`.
    """
    body = _json_body()
    return body if isinstance(body, Response) else _answer(operations.context, body)


@bp.post("/review")
@requires("viewer", scope="read")
@allow_code_input("diff")
@operation(body=REVIEW_BODY, responses={400: "Invalid diff or arguments",
                                        404: "Unknown repository"})
def review() -> Response:
    """Review suggestions for a unified diff, drawn from history, with an overall risk.

    Each suggestion has a kind, severity, confidence and the commits that support it.
    """
    body = _json_body()
    return body if isinstance(body, Response) else _answer(operations.review, body)


@bp.get("/search")
@requires("viewer", scope="read")
@operation(query=SEARCH_QUERY, responses={400: "Invalid query", 404: "Unknown repository"},
           schemas={200: api_schemas.SEARCH_RESULTS})
def search() -> Response:
    """Experience search for editors, with snippets and why each result matched."""
    return _answer(operations.search, request.args.to_dict())


@bp.post("/similar")
@requires("viewer", scope="read")
@allow_code_input("text")
@operation(body=SIMILAR_BODY, responses={400: "Invalid arguments", 404: "Unknown repository"})
def similar() -> Response:
    """Past changes that did something like a code snippet or a description."""
    body = _json_body()
    return body if isinstance(body, Response) else _answer(operations.similar, body)

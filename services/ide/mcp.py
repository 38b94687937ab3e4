"""The MCP server at /mcp: the Model Context Protocol's streamable HTTP transport.

Every client message is one JSON-RPC 2.0 object POSTed to /mcp and answered with
`application/json` (no SSE stream: GET and DELETE get 405, which the protocol allows).
Requests get a JSON-RPC response; notifications and client responses get 202 and no
body. `initialize` negotiates the protocol version and issues an `Mcp-Session-Id`,
which every later request must carry. The session id is signed with the app's secret
(user id, protocol version, nonce), so any worker of any replica can check it without
shared state. Authentication is the hardening's: a bearer API token (read scope is
enough) or a session cookie; a missing or revoked token is refused with HTTP 401 before
any JSON-RPC is read.

The tools are the IDE API's operations (`services.ide.operations`) with JSON schemas;
arguments that break a schema are a JSON-RPC invalid-params error, while an unknown
repository or a diff that cannot be parsed is a tool result with `isError`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote

import jsonschema
from ades import __version__
from ades.assist import AssistError
from ades.hardening import allow_code_input, current_principal
from ades.hardening.rbac import requires
from ades.service import operation
from flask import Blueprint, Response, current_app, jsonify, request
from itsdangerous import BadSignature, URLSafeSerializer

from . import operations
from .operations import RepositoryNotFound

mcp_bp = Blueprint("mcp", __name__)

SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_VERSION = SUPPORTED_VERSIONS[0]
SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
RESOURCE_NOT_FOUND = -32002

_REPO = {"type": "string", "minLength": 1, "description": "A registered repository's name"}
_PATH = {"type": "string", "minLength": 1, "maxLength": 4096,
         "description": "A repository-relative file path"}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 50}


def _schema(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


def _search(args: Mapping[str, Any]) -> dict[str, Any]:
    query = {k: v for k, v in args.items() if k != "query"}
    return operations.search({"q": args["query"], **query})


# name -> (title, description, input schema, operation)
TOOLS: dict[str, tuple[str, str, dict[str, Any], Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "search_experiences": (
        "Search experiences",
        "Full-text search over past development experiences (commits with their problem, "
        "solution, files, patterns), best first, with snippets and why each matched.",
        _schema(["query"], query={"type": "string", "minLength": 1, "maxLength": 500},
                repo=_REPO, category={"type": "string"}, language={"type": "string"},
                author={"type": "string"}, path={"type": "string", "description": "Path prefix"},
                limit=_LIMIT),
        _search),
    "file_context": (
        "File context",
        "Everything history says about one file, in reading order: summary, risk, "
        "co-changing files, relevant past changes, experts, history, patterns.",
        _schema(["repo", "path"], repo=_REPO, path=_PATH,
                lines={"type": "array", "items": {"type": "integer", "minimum": 1},
                       "minItems": 2, "maxItems": 2, "description": "[start, end]"},
                symbol={"type": "string", "maxLength": 200},
                snippet={"type": "string", "maxLength": 20000},
                token_budget={"type": "integer", "minimum": 200, "maximum": 100000}),
        operations.context),
    "review_diff": (
        "Review a diff",
        "Review suggestions for a unified diff drawn from history (missing co-changes, "
        "hotspots, fix-prone code, missing tests, risky patterns) and an overall risk.",
        _schema(["repo", "diff"], repo=_REPO,
                diff={"type": "string", "minLength": 1, "description": "A unified diff"}),
        operations.review),
    "similar_changes": (
        "Similar changes",
        "Past changes that did something like a code snippet or a description.",
        _schema(["repo", "text"], repo=_REPO,
                text={"type": "string", "minLength": 1, "maxLength": 20000},
                path={"type": "string", "description": "Where the snippet lives"},
                limit=_LIMIT),
        operations.similar),
    "co_changes": (
        "Co-changing files",
        "Files that usually change together with a file (temporal coupling): support is "
        "the number of commits changing both, confidence the share of the file's commits.",
        _schema(["repo", "path"], repo=_REPO, path=_PATH,
                limit={"type": "integer", "minimum": 1, "maximum": 100},
                min_support={"type": "integer", "minimum": 1, "maximum": 1000}),
        operations.co_changes),
    "experts": (
        "Experts",
        "Who knows a file best: authors ranked by the size of their changes, weighted by "
        "recency (a change's weight halves every year).",
        _schema(["repo", "path"], repo=_REPO, path=_PATH, limit=_LIMIT),
        operations.file_experts),
    "repository_overview": (
        "Repository overview",
        "A repository at a glance: size, activity span, hotspots, top authors, categories.",
        _schema(["repo"], repo=_REPO),
        operations.overview),
}

RESOURCE_TEMPLATES = [
    {"uriTemplate": "ades://repositories/{repo}/experiences/{commit}", "name": "experience",
     "title": "Experience", "mimeType": "application/json",
     "description": "One past change (by full or abbreviated commit hash) with its files"},
    {"uriTemplate": "ades://repositories/{repo}/files/{+path}", "name": "file-context",
     "title": "File context", "mimeType": "application/json",
     "description": "The history-aware context of one file"},
]


class RpcError(Exception):
    """A JSON-RPC error to answer with (`code`, one-line `message`, optional `data`)."""

    def __init__(self, code: int, message: str, data: Any = None, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.data, self.status = code, message, data, status


def _rpc_error(request_id: Any, error: RpcError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    response = jsonify({"jsonrpc": "2.0", "id": request_id, "error": body})
    response.status_code = error.status
    return response


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="ades.mcp.session")


def _user_id() -> int:
    principal = current_principal()
    assert principal is not None  # enforce_access let the request through
    return principal.user.id


def _new_session(version: str) -> str:
    return _serializer().dumps({"u": _user_id(), "v": version, "n": secrets.token_hex(8)})


def _check_session() -> None:
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id:
        raise RpcError(INVALID_REQUEST, f"missing {SESSION_HEADER} header: call initialize first",
                       status=400)
    try:
        session = _serializer().loads(session_id)
    except BadSignature:
        session = None
    if not isinstance(session, dict) or session.get("u") != _user_id():
        raise RpcError(INVALID_REQUEST, "unknown or expired MCP session: initialize again",
                       status=404)


_RPC_MESSAGE = {"type": "object", "required": ["jsonrpc"], "properties": {
    "jsonrpc": {"type": "string", "enum": ["2.0"]},
    "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}}}
_RPC_ERROR = {**_RPC_MESSAGE, "required": ["jsonrpc", "error"], "properties": {
    **_RPC_MESSAGE["properties"], "error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}}}
# The chassis answers its own errors (CSRF, a blocked address, ...) with the `Error` object.
_RPC_OR_CHASSIS_ERROR = {"content": {"application/json": {"schema": {"anyOf": [
    _RPC_ERROR, {"$ref": "#/components/schemas/Error"}]}}}}


@mcp_bp.post("/mcp")
@requires("viewer", scope="read")
@allow_code_input()
@operation(body={"type": "object", "required": ["jsonrpc", "method"], "properties": {
    "jsonrpc": {"type": "string", "enum": ["2.0"]}, "method": {"type": "string"},
    "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]}, "params": {"type": "object"}}},
    schemas={200: {"anyOf": [{**_RPC_MESSAGE, "required": ["jsonrpc", "result"]}, _RPC_ERROR]}},
    responses={202: {"description": "a notification or a response: accepted, no body"},
               400: {"description": "not JSON, not a JSON-RPC 2.0 request, or no MCP session",
                     **_RPC_OR_CHASSIS_ERROR},
               404: {"description": "unknown or expired MCP session", **_RPC_OR_CHASSIS_ERROR}})
def mcp() -> Response:
    """MCP streamable HTTP endpoint: one JSON-RPC 2.0 message per POST."""
    try:
        message = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        return _rpc_error(None, RpcError(PARSE_ERROR, "parse error: the body is not JSON",
                                         status=400))
    version = request.headers.get(VERSION_HEADER)
    if version is not None and version not in SUPPORTED_VERSIONS:
        return _rpc_error(None, RpcError(INVALID_REQUEST, f"unsupported {VERSION_HEADER} "
                                         f"{version!r}", status=400))
    try:
        request_id, method, params = _parse(message)
    except RpcError as exc:
        known_id = message.get("id") if isinstance(message, dict) else None
        valid_id = isinstance(known_id, str | int) and not isinstance(known_id, bool)
        return _rpc_error(known_id if valid_id else None, exc)
    if method is None or request_id is None:
        return Response(status=202)  # a notification or a response: nothing to answer
    try:
        if method != "initialize":
            _check_session()
        result, headers = _dispatch(method, params)
    except RpcError as exc:
        return _rpc_error(request_id, exc)
    response = jsonify({"jsonrpc": "2.0", "id": request_id, "result": result})
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _parse(message: Any) -> tuple[Any, str | None, dict[str, Any]]:
    if isinstance(message, list):
        raise RpcError(INVALID_REQUEST, "batch requests are not supported", status=400)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "invalid request: expected a JSON-RPC 2.0 object",
                       status=400)
    request_id = message.get("id")
    if "id" in message and (isinstance(request_id, bool)
                            or not isinstance(request_id, str | int)):
        raise RpcError(INVALID_REQUEST, "invalid request: id must be a string or an integer",
                       status=400)
    if "method" not in message:
        if "result" in message or "error" in message:
            return request_id, None, {}
        raise RpcError(INVALID_REQUEST, "invalid request: no method", status=400)
    method = message["method"]
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "invalid request: method must be a string", status=400)
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object")
    return (request_id if "id" in message else None), method, params


def _dispatch(method: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    if method == "initialize":
        return _initialize(params)
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "ping": lambda _params: {},
        "tools/list": lambda _params: {"tools": _tool_list()},
        "tools/call": _call_tool,
        "resources/list": lambda _params: {"resources": _resource_list()},
        "resources/templates/list": lambda _params: {"resourceTemplates": RESOURCE_TEMPLATES},
        "resources/read": _read_resource,
    }
    handler = handlers.get(method)
    if handler is None:
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
    return handler(params), {}


def _initialize(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    requested = params.get("protocolVersion")
    if not isinstance(requested, str):
        raise RpcError(INVALID_PARAMS, "initialize needs a protocolVersion string")
    version = requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION
    result = {
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": False},
                         "resources": {"subscribe": False, "listChanged": False}},
        "serverInfo": {"name": "ades-ide", "title": "ADES development experience",
                       "version": __version__},
        "instructions": "Ask for a file's context before editing it (file_context), review "
                        "a diff before committing it (review_diff), and search past changes "
                        "(search_experiences, similar_changes). Repositories are resources.",
    }
    return result, {SESSION_HEADER: _new_session(version)}


def _tool_list() -> list[dict[str, Any]]:
    return [{"name": name, "title": title, "description": description, "inputSchema": schema,
             "annotations": {"readOnlyHint": True, "openWorldHint": False}}
            for name, (title, description, schema, _) in TOOLS.items()]


def _call_tool(params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    if not isinstance(name, str) or name not in TOOLS:
        raise RpcError(INVALID_PARAMS, f"unknown tool: {name}")
    arguments = params.get("arguments") or {}
    _, _, schema, run = TOOLS[name]
    try:
        jsonschema.validate(arguments, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
        raise RpcError(INVALID_PARAMS, f"invalid arguments for {name}: {where}: "
                       f"{exc.message}"[:300]) from exc
    try:
        result = run(arguments)
    except (AssistError, RepositoryNotFound) as exc:
        return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
    return {"content": [{"type": "text", "text": json.dumps(result, default=str)}],
            "structuredContent": result, "isError": False}


def _repository_uri(name: str) -> str:
    return f"ades://repositories/{quote(name, safe='')}"


def _resource_list() -> list[dict[str, Any]]:
    return [{"uri": _repository_uri(r["name"]), "name": r["name"],
             "title": f"Repository {r['name']}", "mimeType": "application/json",
             "description": f"{r['commit_count']} commits, head {r['head_commit'] or 'none'}"}
            for r in operations.repositories()]


def _read_resource(params: dict[str, Any]) -> dict[str, Any]:
    uri = params.get("uri")
    if not isinstance(uri, str):
        raise RpcError(INVALID_PARAMS, "resources/read needs a uri string")
    prefix = "ades://repositories/"
    if not uri.startswith(prefix):
        raise RpcError(RESOURCE_NOT_FOUND, "resource not found", {"uri": uri})
    repo, _, rest = uri[len(prefix):].partition("/")
    repo = unquote(repo)
    kind, _, tail = rest.partition("/")
    try:
        if not rest:
            value = operations.overview({"repo": repo})
        elif kind == "experiences" and tail:
            value = operations.experience(repo, unquote(tail))
        elif kind == "files" and tail:
            value = operations.context({"repo": repo, "path": unquote(tail)})
        else:
            raise RpcError(RESOURCE_NOT_FOUND, "resource not found", {"uri": uri})
    except RepositoryNotFound as exc:
        raise RpcError(RESOURCE_NOT_FOUND, str(exc), {"uri": uri}) from exc
    except AssistError as exc:
        raise RpcError(INVALID_PARAMS, str(exc), {"uri": uri}) from exc
    return {"contents": [{"uri": uri, "mimeType": "application/json",
                          "text": json.dumps(value, default=str)}]}

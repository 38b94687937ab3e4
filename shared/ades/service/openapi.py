"""The OpenAPI 3 document of a service, built from its routes, so it cannot drift from them.

Every URL rule becomes an operation: its path parameters come from the rule's converters,
its summary and description from the view's docstring, its required role and token scope
from the RBAC declaration (`x-required-role`, `x-token-scope`, and `security`). What a
rule cannot tell — query parameters, request bodies, response shapes, media types — a view
adds with `@operation(...)`, and a service can pass whole fragments as `openapi_paths`.

The errors every route can meet are documented from what the chassis itself answers: 400
(bad input, or input the SQL-injection/XSS inspection blocks), 403 (a blocked address),
429 (rate limits) and 503 (database down or request time limit) on everything hardening
guards; 404 where the path names something; 413 where a body is taken; 507 (data disk full)
on writes; 401/403 where a role is required. Each error is the `Error` JSON object, or an
HTML page for a browser (`Accept: text/html`). Success responses are JSON unless the view says `produces=`.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask

from ..hardening.rbac import access_rule

OPENAPI_ATTR = "_ades_openapi"
View = TypeVar("View", bound=Callable[..., Any])
_CONVERTER_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"},
                    "uuid": {"type": "string", "format": "uuid"}}
JSON = "application/json"
HTML = "text/html"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"},
                   "status": {"type": "integer"},
                   "request_id": {"type": "string", "nullable": True}},
}
# Media types whose bodies are text: their schema is a plain string.
_TEXT_SCHEMA = {"type": "string"}
_RULE_PART = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?"
                        r"(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


def operation(*, summary: str | None = None, description: str | None = None,
              query: Mapping[str, str | Mapping[str, Any]] | None = None,
              body: Mapping[str, Any] | None = None,
              form: Mapping[str, str] | None = None,
              responses: Mapping[str | int, str | Mapping[str, Any]] | None = None,
              tags: list[str] | None = None, produces: str | list[str] | None = None,
              schemas: Mapping[str | int, Mapping[str, Any]] | None = None,
              ) -> Callable[[View], View]:
    """Add what a route rule cannot tell to a view's OpenAPI operation.

    `query` maps parameter names to a description (or a full parameter object);
    `body` is a JSON schema for the request body; `form` maps the fields of an HTML
    form body to their descriptions (all strings, all optional); `responses` maps status
    codes to a description (or a full response object); `produces` names the media type(s) of the
    success responses (default JSON); `schemas` maps success status codes to the JSON
    schema of their body. Place it below the route decorator.
    """
    def mark(view: View) -> View:
        setattr(view, OPENAPI_ATTR, {"summary": summary, "description": description,
                                     "query": dict(query or {}), "body": body,
                                     "form": dict(form) if form is not None else None,
                                     "responses": dict(responses or {}), "tags": tags,
                                     "produces": [produces] if isinstance(produces, str)
                                     else list(produces or [JSON]),
                                     "schemas": dict(schemas or {})})
        return view

    return mark


def build_document(app: Flask, *, title: str, version: str,
                   extra_paths: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document for every route of `app`, merged with `extra_paths`."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        path, path_params = _openapi_path(rule.rule)
        view = app.view_functions.get(rule.endpoint)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                app, rule.endpoint, method, view, rule.rule, path_params)
    for path, methods in (extra_paths or {}).items():
        for method, fragment in methods.items():
            target = paths.setdefault(path, {}).setdefault(method.lower(), {})
            _deep_merge(target, fragment)
    cookie = app.config.get("SESSION_COOKIE_NAME", "session")
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": {"Error": copy.deepcopy(ERROR_SCHEMA)}, "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": cookie},
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API token created in the UI (scope read or write)."},
        }},
    }


def _openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []

    def replace(match: re.Match[str]) -> str:
        schema = _CONVERTER_TYPES.get(match["converter"] or "", {"type": "string"})
        params.append({"name": match["name"], "in": "path", "required": True,
                       "schema": dict(schema)})
        return "{" + match["name"] + "}"

    return _RULE_PART.sub(replace, rule), params


def _operation(app: Flask, endpoint: str, method: str, view: Any, path: str,
               path_params: list[dict[str, Any]]) -> dict[str, Any]:
    extra = getattr(view, OPENAPI_ATTR, {}) if view is not None else {}
    doc = inspect.getdoc(view) or ""
    first, _, rest = doc.partition("\n")
    op: dict[str, Any] = {
        "operationId": f"{endpoint.replace('.', '_')}_{method.lower()}",
        "summary": extra.get("summary") or first.strip() or endpoint,
        "tags": extra.get("tags") or [endpoint.split(".")[0] if "." in endpoint else "service"],
        "responses": {"200": {"description": "OK"}},
    }
    description = extra.get("description") or rest.strip()
    if description:
        op["description"] = description
    params = copy.deepcopy(path_params)
    for name, spec in (extra.get("query") or {}).items():
        param = ({"name": name, "in": "query", "required": False,
                  "schema": {"type": "string"}, "description": spec}
                 if isinstance(spec, str) else {"name": name, "in": "query", **spec})
        params.append(param)
    if params:
        op["parameters"] = params
    if extra.get("body") is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": extra["body"]}}}
    elif extra.get("form") is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object",
                "properties": {name: {"type": "string", "description": text}
                               for name, text in extra["form"].items()}}}}}
    described = {"200"}  # statuses given by a description alone get media types here
    for status, spec in (extra.get("responses") or {}).items():
        if isinstance(spec, str):
            described.add(str(status))
            op["responses"][str(status)] = {"description": spec}
        else:
            described.discard(str(status))
            op["responses"][str(status)] = copy.deepcopy(dict(spec))
    _add_success_content(op["responses"], described, extra.get("produces") or [JSON],
                         extra.get("schemas") or {})
    rule = access_rule(app, endpoint)
    if rule is None:
        op["x-required-role"] = "undeclared"
    elif rule.is_public:
        op["x-required-role"] = "public"
        op["security"] = []
    else:
        op["x-required-role"] = rule.role
        op["x-token-scope"] = rule.scope_for(method)
        op["security"] = [{"session": []}, {"bearer": []}]
        op["responses"].setdefault("401", error_response_doc("Not logged in / no valid token"))
        op["responses"].setdefault("403", error_response_doc(f"Requires role {rule.role}"))
    _add_chassis_errors(app, op["responses"], path, method,
                        has_path_params=bool(path_params),
                        has_body=extra.get("body") is not None or extra.get("form") is not None)
    return op


def error_response_doc(description: str) -> dict[str, Any]:
    """An error response: the `Error` object, or the HTML error page for a browser."""
    return {"description": description, "content": {
        JSON: {"schema": {"$ref": "#/components/schemas/Error"}},
        HTML: {"schema": dict(_TEXT_SCHEMA)}}}


def _add_success_content(responses: dict[str, Any], described: set[str], produces: list[str],
                         schemas: Mapping[str | int, Mapping[str, Any]]) -> None:
    """Give each 2xx response given as a description its media types (and schema)."""
    for status, response in responses.items():
        if status not in described or not status.startswith("2") or status == "204":
            continue
        schema = schemas.get(status) or schemas.get(int(status)) or {}
        response["content"] = {media: {"schema": copy.deepcopy(dict(schema)) if media == JSON
                                       else dict(_TEXT_SCHEMA)}
                               for media in produces}


def _add_chassis_errors(app: Flask, responses: dict[str, Any], path: str, method: str, *,
                        has_path_params: bool, has_body: bool) -> None:
    """Document the errors the chassis answers on this route, unless the view already did."""
    from ..hardening.context import EXTENSION_KEY as HARDENING_KEY

    for status, response in list(responses.items()):
        if status.startswith(("4", "5")) and "content" not in response:
            responses[status] = {**error_response_doc(response.get("description", status)), **response}
    defaults: dict[str, str] = {}
    if has_path_params:
        defaults["404"] = "Not found: the path names nothing that exists"
    hardening = app.extensions.get(HARDENING_KEY)
    exempt = hardening.options.exempt_paths if hardening is not None else ()
    if path not in exempt:
        defaults["400"] = ("Bad request: invalid parameters or body, or input that looks like "
                           "SQL injection or cross-site scripting (blocked and audited)")
        defaults["403"] = "Forbidden: the client address is blocked for abuse, or a CSRF check failed"
        defaults["429"] = "Too many requests from this client (see Retry-After)"
        defaults["503"] = ("The database is unavailable or the request ran past its time limit "
                           "(see Retry-After)")
    if has_body or method in ("POST", "PUT", "PATCH"):
        defaults["413"] = "The request body is larger than the service accepts"
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        defaults["507"] = "The server's data disk is full; nothing was changed"
    for status, description in defaults.items():
        responses.setdefault(status, error_response_doc(description))


def _deep_merge(target: dict[str, Any], fragment: Mapping[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)

"""The OpenAPI 3 document of a service, built from its routes, so it cannot drift from them.

Every URL rule becomes an operation: its path parameters come from the rule's converters,
its summary and description from the view's docstring, its required role and token scope
from the RBAC declaration (`x-required-role`, `x-token-scope`, and `security`). What a
rule cannot tell — query parameters, request bodies, response shapes — a view adds with
`@operation(...)`, and a service can pass whole fragments as `openapi_paths`.
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
_RULE_PART = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?"
                        r"(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


def operation(*, summary: str | None = None, description: str | None = None,
              query: Mapping[str, str | Mapping[str, Any]] | None = None,
              body: Mapping[str, Any] | None = None,
              responses: Mapping[str | int, str | Mapping[str, Any]] | None = None,
              tags: list[str] | None = None) -> Callable[[View], View]:
    """Add what a route rule cannot tell to a view's OpenAPI operation.

    `query` maps parameter names to a description (or a full parameter object);
    `body` is a JSON schema for the request body; `responses` maps status codes to a
    description (or a full response object). Place it below the route decorator.
    """
    def mark(view: View) -> View:
        setattr(view, OPENAPI_ATTR, {"summary": summary, "description": description,
                                     "query": dict(query or {}), "body": body,
                                     "responses": dict(responses or {}), "tags": tags})
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
                app, rule.endpoint, method, view, path_params)
    for path, methods in (extra_paths or {}).items():
        for method, fragment in methods.items():
            target = paths.setdefault(path, {}).setdefault(method.lower(), {})
            _deep_merge(target, fragment)
    cookie = app.config.get("SESSION_COOKIE_NAME", "session")
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"securitySchemes": {
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


def _operation(app: Flask, endpoint: str, method: str, view: Any,
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
    for status, spec in (extra.get("responses") or {}).items():
        op["responses"][str(status)] = {"description": spec} if isinstance(spec, str) else spec
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
        op["responses"].setdefault("401", {"description": "Not logged in / no valid token"})
        op["responses"].setdefault("403", {"description": f"Requires role {rule.role}"})
    return op


def _deep_merge(target: dict[str, Any], fragment: Mapping[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)

"""Error responses: JSON for API clients, a small HTML page for browsers, never a traceback.

A request whose `Accept` header prefers `text/html` (a browser navigation) gets the page;
everything else — API clients, curl, `Accept: */*` — gets
`{"error": message, "code": ..., "status": ..., "request_id": ...}`, the same `error` key
the hardening package uses for 401/403. Unexpected exceptions are logged with their
traceback and answered with a generic 500 that carries only the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from ..storage import DatabaseUnavailable, InvalidText, StorageFull

log = logging.getLogger("ades.service")


class RequestTimedOut(ServiceUnavailable):
    """The request ran past `server.request_timeout_seconds` and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g} s and was stopped")


def wants_html() -> bool:
    """True when the client prefers HTML to JSON; on a tie (`*/*`) JSON wins."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def error_response(status: int, message: str, *, code: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """An error response in the client's preferred format, with `status`."""
    code = code or _code_for(status)
    if wants_html():
        body = render_template("ades/error.html", status=status, code=code, message=message,
                               request_id=g.get("request_id"))
        response = Response(body, status=status, mimetype="text/html")
    else:
        response = jsonify({"error": message, "code": code, "status": status,
                            "request_id": g.get("request_id"), **extra})
        response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _code_for(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_").replace("-", "_")


def init_app(app: Flask) -> None:
    """Register the handlers for HTTP errors, database outages and everything else."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DatabaseUnavailable, _database_unavailable)
    app.register_error_handler(InvalidText, _invalid_text)
    app.register_error_handler(StorageFull, _storage_full)
    app.register_error_handler(Exception, _unexpected)


def _http_error(exc: HTTPException) -> Response:
    if exc.code is None:  # a RoutingException such as a redirect: let werkzeug answer
        return exc.get_response()
    # Keep the headers the exception carries (Allow on 405, Retry-After, ...).
    headers = {name: value for name, value in exc.get_headers()
               if name.lower() != "content-type"}
    message = exc.description or exc.name
    if isinstance(exc, InternalServerError):
        message = "internal server error"
    return error_response(exc.code, message, headers=headers)


def _database_unavailable(exc: DatabaseUnavailable) -> Response:
    log.warning("database unavailable: %s", exc)
    return error_response(503, "the database is unavailable; try again shortly",
                          code="database_unavailable", headers={"Retry-After": "5"})


def _storage_full(exc: StorageFull) -> Response:
    log.error("write refused, the data disk is full: %s", exc)
    return error_response(507, "the server's data disk is full; nothing was changed",
                          code="storage_full")


def _invalid_text(exc: InvalidText) -> Response:
    return error_response(400, "the request holds text with a NUL byte, which cannot be stored "
                          "or searched", code="invalid_text")


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal server error")

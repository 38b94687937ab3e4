"""JSON log lines in the seed's shape, and the request ids that tie them together.

Every line is one JSON object: `level`, `message`, `timestamp` (ISO-8601, UTC), `logger`,
then whatever the caller passed in `extra` — request logs carry `fields` (`method`, `path`,
`duration` in seconds, `status`). Inside a Flask request the formatter adds `request_id`
and `client_ip` by itself, so any `logger.warning(...)` made while serving is traceable.

This module imports no database driver and no Prometheus client: gunicorn's master process
loads the formatter (through `logconfig_dict`) before any worker has patched for gevent.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from clients or the gateway are kept only when they look like ids, so a header cannot
# smuggle newlines or megabytes into every log line.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_HANDLER_NAME = "ades-json"


class AdesJsonFormatter(JsonFormatter):
    """`pythonjsonlogger`'s formatter with the seed's field names and request context."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        if not args and "fmt" not in kwargs:
            args = (["levelname", "message", "name"],)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        """Add the record's fields, then the request id and client IP when serving."""
        super().add_fields(log_data, record, message_dict)
        if "request_id" in log_data:
            return
        context = _request_context()
        if context:
            log_data.update(context)


def _request_context() -> dict[str, Any] | None:
    # Flask is optional here: the formatter also serves the CLI and gunicorn's master.
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None
    request_id = flask.g.get("request_id")
    if request_id is None:
        return None
    return {"request_id": request_id, "client_ip": flask.request.remote_addr}


def accept_request_id(header_value: str | None) -> str:
    """The request id to use: the caller's `X-Request-ID` if well-formed, else a new one."""
    if header_value and _REQUEST_ID_RE.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def logging_dict(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` mapping that sends every logger through JSON lines.

    Used as gunicorn's `logconfig_dict`, so gunicorn's own messages share the format.
    """
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.AdesJsonFormatter"}},
        "handlers": {"console": handler, "discard": {"class": "logging.NullHandler"}},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["console"], "propagate": False},
            # The app logs every request itself, by path only; gunicorn's access line would
            # repeat it with the full query string, where careless clients put credentials.
            "gunicorn.access": {"handlers": ["discard"], "propagate": False},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """Make the root logger write JSON lines at `level`; safe to call many times.

    When the root logger already formats JSON (gunicorn applied `logging_dict`), only the
    level changes; otherwise one stderr handler is added, never a second one.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if handler.get_name() == _HANDLER_NAME or isinstance(handler.formatter,
                                                              AdesJsonFormatter):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(AdesJsonFormatter())
    root.addHandler(handler)

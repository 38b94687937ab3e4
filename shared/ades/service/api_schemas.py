"""JSON schemas of the API's core objects, for `@operation(schemas=...)` in `/openapi.json`.

They state what clients rely on (SPEC §3's fixed interfaces): the required fields and their
types. Objects may carry more fields than listed; the fuzz tests check every response
against them.
"""

from __future__ import annotations

from typing import Any

_NULLABLE_INT = {"type": "integer", "nullable": True}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_NULLABLE_STRING = {"type": "string", "nullable": True}


def _object(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """An object schema whose `required` fields have the given schemas."""
    return {"type": "object", "required": list(required),
            "properties": {**required, **optional}}


def _list_of(key: str, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": item}}, **extra)


JOB = _object({
    "id": {"type": "integer"}, "repository": {"type": "string"},
    "status": {"type": "string",
               "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
    "progress": _object({"done": {"type": "integer"}, "total": _NULLABLE_INT,
                         "percent": {"type": "number"}}),
}, cancel_requested={"type": "boolean"}, error=_NULLABLE_STRING)

REPOSITORY = _object({
    "id": {"type": "integer"}, "name": {"type": "string"},
    "commit_count": {"type": "integer"}, "source": {"type": "string", "enum": ["path", "url"]},
}, path=_NULLABLE_STRING, url=_NULLABLE_STRING, head_commit=_NULLABLE_STRING,
    last_ingest_at=_NULLABLE_NUMBER, latest_job={**JOB, "nullable": True})

REPOSITORY_LIST = _list_of("repositories", REPOSITORY)
REPOSITORY_DETAIL = _object({"repository": {**REPOSITORY, "properties": {
    **REPOSITORY["properties"], "jobs": {"type": "array", "items": JOB}}}})
REGISTERED = _object({"repository": REPOSITORY, "job": JOB})
QUEUED = _object({"job": JOB})
JOB_LIST = _list_of("jobs", JOB, next_before=_NULLABLE_INT)

STATS = _object({
    "commits": {"type": "integer"}, "authors": {"type": "integer"},
    "lines_added": {"type": "integer"}, "lines_deleted": {"type": "integer"},
    "top_files": {"type": "array", "items": _object({"path": {"type": "string"},
                                                     "count": {"type": "integer"}})},
})

SEARCH_RESULT = _object({
    "commit": {"type": "string", "pattern": "^[0-9a-f]{40}([0-9a-f]{24})?$"},
    "score": {"type": "number"}, "title": {"type": "string"},
}, repository={"type": "string"}, why={"type": "string"})
SEARCH_RESULTS = _list_of("results", SEARCH_RESULT)

CO_CHANGE = _object({"path": {"type": "string"}, "support": {"type": "integer"},
                     "confidence": {"type": "number", "minimum": 0, "maximum": 1}})
FILE_CONTEXT = _object({"repository": {"type": "string"}, "path": {"type": "string"},
                        "co_changes": {"type": "array", "items": CO_CHANGE}},
                       summary={"type": "string"})

USER = _object({"username": {"type": "string"},
                "role": {"type": "string", "enum": ["viewer", "maintainer", "admin"]}})
LOGIN = _object({"user": USER, "csrf_token": {"type": "string"}})

"""The collaboration REST API under /collab/: annotations and presence, for clients that
don't hold a socket. Every change is broadcast to the repository's room as if it had been
made over the websocket, and takes the same cursor."""

from __future__ import annotations

from typing import Any

from ades import annotations
from ades.hardening import current_principal
from ades.hardening.rbac import requires
from ades.service import error_response, get_store, operation, repository_summaries, service_context
from ades.storage.repositories import Repository, get_repository
from flask import Blueprint, Response, current_app, jsonify, request

from .live import hub_for

bp = Blueprint("collab", __name__, url_prefix="/collab")

_ANNOTATION_BODY = {"type": "object", "properties": {
    "target": {"type": "object", "properties": {"kind": {"enum": list(annotations.TARGET_KINDS)},
                                                "id": {"type": "string"}}},
    "body": {"type": "string", "maxLength": annotations.MAX_BODY_CHARS},
    "thread_id": {"type": "integer"}}}
_LIST_QUERY = {
    "target_kind": "commit, experience or file",
    "target": "the commit sha, experience id or file path",
    "author": "username of the author",
    "mention": "username mentioned as @name",
    "resolved": "true or false",
    "thread": "id of a thread: its first annotation and the replies",
    "include_deleted": "true to include deleted annotations (bodies hidden)",
    "limit": f"page size, 1-{annotations.MAX_PAGE} (default 100)",
    "offset": "rows to skip",
}


class BadRequest(ValueError):
    """A query parameter or body that cannot be used (answered with 400)."""


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> Response:
    return error_response(400, str(exc))


@bp.errorhandler(annotations.AnnotationError)
def _annotation_error(exc: annotations.AnnotationError) -> Response:
    return error_response(exc.status, str(exc))


@bp.get("/")
@requires("viewer", scope="read")
def index() -> Response:
    """The repositories teams can collaborate on, and how updates reach other workers."""
    fanout = "redis" if service_context().config.uses_redis else "in-process"
    return jsonify({"service": "collab", "fanout": fanout,
                    "repositories": repository_summaries()})


def _repository(name: str) -> Repository:
    repo = get_repository(get_store(), name)
    if repo is None:
        raise annotations.AnnotationNotFound(f"no repository named {name!r}")
    return repo


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name} must be true or false")
    return raw.lower() in ("true", "1")


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _broadcast(repo: Repository, change: annotations.Change) -> None:
    hub_for(current_app._get_current_object()).publish(repo.name, change.to_message(repo.name))


@bp.get("/repos/<name>/annotations")
@requires("viewer", scope="read")
@operation(query=_LIST_QUERY, responses={200: "annotations, total and the room's cursor",
                                         400: "a bad filter", 404: "no such repository"})
def list_annotations(name: str) -> Response:
    """Annotations of a repository matching the filters, oldest first."""
    repo = _repository(name)
    kind = request.args.get("target_kind")
    if kind is not None and kind not in annotations.TARGET_KINDS:
        raise BadRequest(f"target_kind must be one of {', '.join(annotations.TARGET_KINDS)}")
    filters = annotations.AnnotationFilters(
        target_kind=kind, target=request.args.get("target"), author=request.args.get("author"),
        mention=request.args.get("mention"), resolved=_bool_arg("resolved"),
        thread_id=_int_arg("thread", None, 1, 2**62) if "thread" in request.args else None,
        include_deleted=bool(_bool_arg("include_deleted")))
    store = get_store()
    found, total = annotations.list_annotations(
        store, repo.id, filters, limit=_int_arg("limit", 100, 1, annotations.MAX_PAGE),
        offset=_int_arg("offset", 0, 0, 2**31))
    return jsonify({"annotations": [a.to_dict() for a in found], "total": total,
                    "cursor": annotations.current_cursor(store, repo.id)})


@bp.post("/repos/<name>/annotations")
@requires("viewer")
@operation(body=_ANNOTATION_BODY, responses={201: "the annotation and its cursor",
                                             400: "bad input", 404: "no such repository"})
def create_annotation(name: str) -> tuple[Response, int]:
    """Annotate a commit, experience or file (or reply in a thread with `thread_id`)."""
    repo = _repository(name)
    body = _json_body()
    target = body.get("target") or {}
    if not isinstance(target, dict):
        raise BadRequest("target must be an object {kind, id}")
    change = annotations.create_annotation(
        get_store(), repo.id, author=current_principal().user.username,
        target_kind=target.get("kind"), target=target.get("id"), body=body.get("body"),
        thread_id=body.get("thread_id"))
    _broadcast(repo, change)
    return jsonify({"annotation": change.annotation, "cursor": change.cursor}), 201


@bp.get("/repos/<name>/annotations/<int:annotation_id>")
@requires("viewer", scope="read")
def get_annotation(name: str, annotation_id: int) -> Response:
    """One annotation."""
    repo = _repository(name)
    return jsonify({"annotation": annotations.get_annotation(get_store(), repo.id,
                                                             annotation_id).to_dict()})


@bp.patch("/repos/<name>/annotations/<int:annotation_id>")
@requires("viewer")
@operation(body={"type": "object", "properties": {"body": {"type": "string"},
                                                  "resolved": {"type": "boolean"}}},
           responses={200: "the annotation and its cursor", 403: "not the author"})
def update_annotation(name: str, annotation_id: int) -> Response:
    """Edit one's own annotation (`body`) or resolve/reopen its thread (`resolved`)."""
    repo = _repository(name)
    body = _json_body()
    if ("body" in body) == ("resolved" in body):
        raise BadRequest("send exactly one of 'body' or 'resolved'")
    actor, store = current_principal().user.username, get_store()
    if "body" in body:
        change = annotations.edit_annotation(store, repo.id, annotation_id, actor=actor,
                                             body=body["body"])
    else:
        if not isinstance(body["resolved"], bool):
            raise BadRequest("resolved must be true or false")
        change = annotations.resolve_annotation(store, repo.id, annotation_id, actor=actor,
                                                resolved=body["resolved"])
    _broadcast(repo, change)
    return jsonify({"annotation": change.annotation, "cursor": change.cursor})


@bp.delete("/repos/<name>/annotations/<int:annotation_id>")
@requires("viewer")
def delete_annotation(name: str, annotation_id: int) -> Response:
    """Delete one's own annotation (admins: any); replies stay in the thread."""
    repo = _repository(name)
    user = current_principal().user
    change = annotations.delete_annotation(get_store(), repo.id, annotation_id,
                                           actor=user.username, is_admin=user.role == "admin")
    _broadcast(repo, change)
    return jsonify({"annotation": change.annotation, "cursor": change.cursor})


@bp.get("/repos/<name>/changes")
@requires("viewer", scope="read")
@operation(query={"cursor": "return the changes after this cursor (default 0)",
                  "limit": "at most this many (1-1000, default 1000)"})
def changes(name: str) -> Response:
    """Annotation changes after a cursor, in order: catch-up for clients without a socket."""
    repo = _repository(name)
    store = get_store()
    found = annotations.changes_since(store, repo.id, _int_arg("cursor", 0, 0, 2**62),
                                      limit=_int_arg("limit", 1000, 1, 1000))
    return jsonify({"changes": [c.to_message(repo.name) for c in found],
                    "cursor": found[-1].cursor if found else
                    min(_int_arg("cursor", 0, 0, 2**62), annotations.current_cursor(store, repo.id))})


@bp.get("/repos/<name>/presence")
@requires("viewer", scope="read")
def presence(name: str) -> Response:
    """Who is in the repository's room now, across all workers and pods."""
    repo = _repository(name)
    return jsonify(hub_for(current_app._get_current_object()).presence_message(repo.name))

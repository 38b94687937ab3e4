"""The websocket `/ws/repos/<name>`: one room per repository.

Handshake: the chassis authenticates the upgrade request like any other (session cookie or
`Authorization: Bearer`; viewers may join), then `check_handshake` refuses foreign origins
and unknown repositories with a JSON 4xx before the upgrade. `?cursor=N` asks for the
annotation changes after N before live traffic.

Server messages (all JSON objects with `type` and `v`): `welcome` (room, user, connection
id, current cursor, ping interval and limits), `presence` (the users in the room), the
annotation changes `annotation.created|updated|resolved|reopened|deleted` (each with its
`cursor`), `caught_up`, `ack`, `pong`, `error` (the connection stays up), relayed events
of other services (`ingest.progress|finished|failed`, ...) and `reconnect` before a close
with code 1012 when the server shuts down.

Client messages: `ping`; `focus` with `target` {kind, id} or null; `status` `active` or
`away`; `catch_up` with `cursor`; `annotation.create` (`target`, `body`, optional
`thread_id`), `annotation.edit` (`id`, `body`), `annotation.resolve` (`id`, `resolved`),
`annotation.delete` (`id`) — each may carry a `request_id` that the `ack` or `error` echoes.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from ades import annotations
from ades.hardening import current_principal
from ades.hardening.rbac import requires
from ades.service import error_response, get_store, operation, service_context
from ades.storage.repositories import get_repository
from flask import Blueprint, Response, current_app, g, request
from flask_sock import Sock

from .live import (
    CLOSE_POLICY_VIOLATION,
    MAX_MESSAGE_BYTES,
    MAX_REFUSED_MESSAGES,
    PING_INTERVAL_SECONDS,
    Connection,
    hub_for,
    message,
)

bp = Blueprint("collab_ws", __name__)
sock = Sock()
CATCH_UP_LIMIT = 10_000
_WS_ENDPOINT = "collab_ws.room"


def init_app(app: Any) -> None:
    """Websocket options: pings and the per-message size limit."""
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": PING_INTERVAL_SECONDS,
                                         "max_message_size": MAX_MESSAGE_BYTES}


def allowed_origins() -> set[str]:
    """Origins a browser may open the socket from: the public URL's, and this host's."""
    origins = set()
    public_url = service_context().config.server.public_url
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    host = request.host.lower()
    origins.update({f"http://{host}", f"https://{host}"})
    return origins


@bp.before_request
def check_handshake() -> Response | None:
    """Refuse a cross-site origin (403) or an unknown repository (404) before upgrading."""
    if request.endpoint != _WS_ENDPOINT:
        return None
    origin = request.headers.get("Origin")
    # Browsers always send Origin on websocket handshakes; other clients (IDE plugins,
    # scripts) authenticate with tokens and cannot be tricked into cross-site requests.
    if origin is not None and origin.rstrip("/").lower() not in allowed_origins():
        return error_response(403, "websocket origin not allowed")
    repo = get_repository(get_store(), request.view_args["name"])
    if repo is None:
        return error_response(404, f"no repository named {request.view_args['name']!r}")
    cursor = request.args.get("cursor")
    if cursor is not None and not (cursor.isdigit() and len(cursor) < 19):
        return error_response(400, "cursor must be a non-negative integer")
    g.collab_repo = repo
    return None


@sock.route("/ws/repos/<name>", bp=bp, endpoint="room")
@requires("viewer", scope="read")
@operation(query={"cursor": "replay the annotation changes after this cursor first"},
           responses={101: "switching to the websocket protocol", 400: "a bad cursor",
                      403: "origin not allowed", 404: "no such repository"})
def room(ws: Any, name: str) -> None:
    """A repository's live room: presence, annotations and events (see the module doc)."""
    # A websocket lives far longer than the request time limit the chassis arms.
    deadline = g.pop("ades_deadline", None)
    if deadline is not None:
        deadline.close()
    principal = current_principal()
    repo = g.collab_repo
    store = get_store()
    connection = Connection(
        ws, room=name, repo_id=repo.id, username=principal.user.username,
        role=principal.user.role,
        can_write=principal.token is None or principal.token.scope == "write")
    hub = hub_for(current_app._get_current_object())
    cursor_arg = request.args.get("cursor")
    connection.begin_catch_up()
    hub.join(connection)
    try:
        current = annotations.current_cursor(store, repo.id)
        connection.send(message("welcome", repo=name, user=connection.username,
                                connection=connection.id, cursor=current,
                                ping_interval=PING_INTERVAL_SECONDS,
                                limits={"max_message_bytes": MAX_MESSAGE_BYTES}))
        _catch_up(connection, store, int(cursor_arg) if cursor_arg is not None else current)
        _receive_loop(ws, connection, hub, store)
    finally:
        hub.leave(connection)


def _catch_up(connection: Connection, store: Any, cursor: int) -> None:
    """Replay the changes after `cursor`, then let held live changes through."""
    changes = annotations.changes_since(store, connection.repo_id, cursor, limit=CATCH_UP_LIMIT)
    for change in changes:
        connection.send(change.to_message(connection.room))
    replayed_to = changes[-1].cursor if changes else cursor
    connection.end_catch_up(replayed_to)
    connection.send(message("caught_up", repo=connection.room, cursor=replayed_to,
                            count=len(changes)))


def _receive_loop(ws: Any, connection: Connection, hub: Any, store: Any) -> None:
    from simple_websocket import ConnectionClosed

    while not connection.closed:
        try:
            data = ws.receive()
        except ConnectionClosed:
            return
        if data is None:
            continue
        if not connection.allow_message():
            if connection.refused > MAX_REFUSED_MESSAGES:
                connection.close(CLOSE_POLICY_VIOLATION, "too many messages",
                                 notice=_error("rate_limited", "too many messages; closing"))
                return
            if connection.should_notify_refusal():
                connection.send(_error("rate_limited", "too many messages; slow down"))
            continue
        reply = handle_message(data, connection, hub, store)
        if reply is not None:
            connection.send(reply)


def _error(code: str, text: str, request_id: Any = None) -> dict[str, Any]:
    payload = message("error", code=code, message=text)
    if request_id is not None:
        payload["request_id"] = request_id
    return payload


def handle_message(data: str | bytes, connection: Connection, hub: Any,
                   store: Any) -> dict[str, Any] | None:
    """Act on one client message; returns the direct reply (None when there is none)."""
    if isinstance(data, bytes):
        return _error("unsupported", "binary frames are not supported; send JSON text")
    try:
        incoming = json.loads(data)
    except ValueError:
        return _error("malformed", "message is not valid JSON")
    if not isinstance(incoming, dict) or not isinstance(incoming.get("type"), str):
        return _error("malformed", "message must be a JSON object with a string 'type'")
    request_id = incoming.get("request_id")
    if request_id is not None and not (isinstance(request_id, str | int)
                                       and len(str(request_id)) <= 100):
        return _error("malformed", "request_id must be a short string or integer")
    kind = incoming["type"]
    handler = _HANDLERS.get(kind)
    if handler is None:
        return _error("unknown_type", f"unknown message type {kind[:60]!r}", request_id)
    connection.active_at = time.time()
    try:
        return handler(incoming, connection, hub, store, request_id)
    except annotations.AnnotationError as exc:
        return _error({403: "forbidden", 404: "not_found"}.get(exc.status, "invalid"),
                      str(exc), request_id)


def _on_ping(incoming: dict, connection: Connection, hub: Any, store: Any,
             request_id: Any) -> dict[str, Any]:
    return message("pong", request_id=request_id) if request_id is not None else message("pong")


def _on_focus(incoming: dict, connection: Connection, hub: Any, store: Any,
              request_id: Any) -> dict[str, Any] | None:
    target = incoming.get("target")
    if target is None:
        connection.focus = None
    else:
        if not isinstance(target, dict):
            return _error("invalid", "target must be an object {kind, id} or null", request_id)
        kind, ident = annotations.check_target(target.get("kind"), target.get("id"))
        connection.focus = {"kind": kind, "id": ident}
    connection.away = False
    hub.update_presence(connection)
    return None


def _on_status(incoming: dict, connection: Connection, hub: Any, store: Any,
               request_id: Any) -> dict[str, Any] | None:
    status = incoming.get("status")
    if status not in ("active", "away"):
        return _error("invalid", "status must be 'active' or 'away'", request_id)
    connection.away = status == "away"
    hub.update_presence(connection)
    return None


def _on_catch_up(incoming: dict, connection: Connection, hub: Any, store: Any,
                 request_id: Any) -> dict[str, Any] | None:
    cursor = incoming.get("cursor")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        return _error("invalid", "cursor must be a non-negative integer", request_id)
    connection.begin_catch_up()
    _catch_up(connection, store, cursor)
    return None


def _writer(handler: Any) -> Any:
    def guarded(incoming: dict, connection: Connection, hub: Any, store: Any,
                request_id: Any) -> dict[str, Any]:
        if not connection.can_write:
            return _error("forbidden", "a read-scope token cannot change annotations", request_id)
        change = handler(incoming, connection, store)
        hub.publish(connection.room, change.to_message(connection.room))
        return message("ack", request_id=request_id, cursor=change.cursor,
                       annotation_id=change.annotation["id"])
    return guarded


def _annotation_id(incoming: dict) -> int:
    ident = incoming.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int) or ident < 1:
        raise annotations.AnnotationError("id must be a positive integer")
    return ident


def _create(incoming: dict, connection: Connection, store: Any) -> annotations.Change:
    target = incoming.get("target") or {}
    if not isinstance(target, dict):
        raise annotations.AnnotationError("target must be an object {kind, id}")
    return annotations.create_annotation(
        store, connection.repo_id, author=connection.username, target_kind=target.get("kind"),
        target=target.get("id"), body=incoming.get("body"), thread_id=incoming.get("thread_id"))


def _edit(incoming: dict, connection: Connection, store: Any) -> annotations.Change:
    return annotations.edit_annotation(store, connection.repo_id, _annotation_id(incoming),
                                       actor=connection.username, body=incoming.get("body"))


def _resolve(incoming: dict, connection: Connection, store: Any) -> annotations.Change:
    resolved = incoming.get("resolved", True)
    if not isinstance(resolved, bool):
        raise annotations.AnnotationError("resolved must be true or false")
    return annotations.resolve_annotation(store, connection.repo_id, _annotation_id(incoming),
                                          actor=connection.username, resolved=resolved)


def _delete(incoming: dict, connection: Connection, store: Any) -> annotations.Change:
    return annotations.delete_annotation(store, connection.repo_id, _annotation_id(incoming),
                                         actor=connection.username,
                                         is_admin=connection.role == "admin")


_HANDLERS = {"ping": _on_ping, "focus": _on_focus, "status": _on_status,
             "catch_up": _on_catch_up, "annotation.create": _writer(_create),
             "annotation.edit": _writer(_edit), "annotation.resolve": _writer(_resolve),
             "annotation.delete": _writer(_delete)}

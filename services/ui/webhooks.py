"""`/api/webhooks/...`: pushes announced by GitHub (or any signed sender) queue an ingest.

Both endpoints are public (the sender has no account) and trust nothing but the
HMAC-SHA256 signature of the raw body under `GAIT_WEBHOOK_SECRET`; without a configured
secret they refuse every request. Each delivery id is stored once, so a replayed delivery
is refused; the queued job fetches the clone URL (for URL repositories) and ingests
incrementally.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from ades import jobs
from ades.hardening import allow_code_input, csrf_exempt, public
from ades.service import get_store, operation
from ades.storage.repositories import get_repository, list_repositories
from flask import Blueprint, Response, jsonify, request

from .api_common import NAME_PATTERN, ApiError, config

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")

MAX_WEBHOOK_BYTES = 1024 * 1024


def signature_of(secret: str, body: bytes) -> str:
    """The `sha256=<hex>` signature of `body`, as GitHub sends it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _verified_body(header: str) -> bytes:
    secret = config().security.webhook_secret
    if not secret:
        raise ApiError(403, "webhooks are disabled: GAIT_WEBHOOK_SECRET is not set")
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, f"webhook bodies are limited to {MAX_WEBHOOK_BYTES} bytes")
    body = request.get_data(cache=True)
    sent = request.headers.get(header, "")
    if not sent:
        raise ApiError(401, f"the {header} signature header is missing")
    if not hmac.compare_digest(sent.encode("utf-8", "replace"), signature_of(secret, body).encode()):
        raise ApiError(401, "the webhook signature does not match")
    return body


def _payload(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the webhook body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the webhook body must be a JSON object")
    return data


def _delivery_id(header: str) -> str:
    delivery = request.headers.get(header, "")
    if not delivery or len(delivery) > 200:
        raise ApiError(400, f"the {header} header (a unique delivery id) is required")
    return delivery


def _remember_delivery(source: str, delivery: str, repo_id: int) -> None:
    store = get_store()
    with store.transaction() as tx:
        seen = tx.fetchall("SELECT 1 FROM webhook_deliveries WHERE source = ? AND delivery_id = ?",
                           (source, delivery))
        if not seen:
            tx.execute("INSERT INTO webhook_deliveries (source, delivery_id, repo_id, received_at) "
                       "VALUES (?, ?, ?, ?)", (source, delivery, repo_id, time.time()))
    if seen:
        raise ApiError(409, f"delivery {delivery} was already received (replay refused)")


def _github_repository(payload: dict[str, Any]):
    info = payload.get("repository")
    if not isinstance(info, dict):
        raise ApiError(400, "the push event has no 'repository' object")
    urls = {info.get(k) for k in ("clone_url", "git_url", "ssh_url", "html_url", "url")
            if isinstance(info.get(k), str)}
    for repo in list_repositories(get_store()):
        if repo.url and repo.url in urls:
            return repo
    name = info.get("name")
    valid = isinstance(name, str) and NAME_PATTERN.fullmatch(name)
    repo = get_repository(get_store(), name) if valid else None
    if repo is None:
        raise ApiError(404, "no registered repository matches this push")
    return repo


def _queued(repo, source: str) -> tuple[Response, int]:
    job = jobs.enqueue_ingest(get_store(), repo.id, reason=f"webhook:{source}")
    return jsonify({"repository": repo.name, "job": job.to_dict()}), 202


@bp.post("/github")
@public
@csrf_exempt
@allow_code_input()  # signed commit messages may quote code or SQL; only ever data here
@operation(responses={202: "an ingest was queued", 200: "ping or a non-push event (ignored)",
                      401: "missing or wrong X-Hub-Signature-256", 404: "unknown repository",
                      409: "replayed delivery"})
def github() -> tuple[Response, int]:
    """A GitHub push event (`X-GitHub-Event: push`, `X-Hub-Signature-256`, `X-GitHub-Delivery`)."""
    body = _verified_body("X-Hub-Signature-256")
    event = request.headers.get("X-GitHub-Event", "")
    delivery = _delivery_id("X-GitHub-Delivery")
    payload = _payload(body)
    if event == "ping":
        return jsonify({"pong": True}), 200
    if event != "push":
        return jsonify({"ignored": event or "unknown event"}), 200
    repo = _github_repository(payload)
    _remember_delivery("github", delivery, repo.id)
    return _queued(repo, "github")


@bp.post("/generic")
@public
@csrf_exempt
@allow_code_input()  # signed commit messages may quote code or SQL; only ever data here
@operation(body={"type": "object", "required": ["repository"],
                 "properties": {"repository": {"type": "string"}}},
           responses={202: "an ingest was queued", 401: "missing or wrong X-ADES-Signature",
                      404: "unknown repository", 409: "replayed delivery"})
def generic() -> tuple[Response, int]:
    """Any sender: `{"repository": name}` signed in `X-ADES-Signature: sha256=<hex>`, with a
    unique `X-ADES-Delivery` id."""
    body = _verified_body("X-ADES-Signature")
    delivery = _delivery_id("X-ADES-Delivery")
    name = _payload(body).get("repository")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'repository' must be a repository name")
    repo = get_repository(get_store(), name) if NAME_PATTERN.fullmatch(name) else None
    if repo is None:
        raise ApiError(404, f"unknown repository: {name}")
    _remember_delivery("generic", delivery, repo.id)
    return _queued(repo, "generic")

"""Webhook signature forgery and replay, for the GitHub and the generic endpoint.

The ui app runs in process on SQLite with "payments" registered and its first ingest done,
so no job is waiting: a delivery that got through would add an ingest job (and a delivery
row). Every forged or replayed attempt must be refused and leave both tables as they were.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from gitrepos import make_linear_repo
from security_world import (
    WEBHOOK_SECRET,
    clear_gait_env,
    close,
    create_accounts,
    ingest_queued,
    logged_in,
    overrides,
    service_factory,
    store_of,
)

CATEGORY = "webhook forgery and replay"
ENDPOINTS = {
    "github": ("/api/webhooks/github", "X-Hub-Signature-256", "X-GitHub-Delivery",
               {"X-GitHub-Event": "push"}),
    "generic": ("/api/webhooks/generic", "X-ADES-Signature", "X-ADES-Delivery", {}),
}


def _sign(secret: str, body: bytes) -> str:
    # Computed here from the HMAC definition, not with the product's own helper.
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _body(kind: str, repo: str = "payments") -> bytes:
    if kind == "github":
        return json.dumps({"ref": "refs/heads/main", "repository": {"name": repo}}).encode()
    return json.dumps({"repository": repo}).encode()


@pytest.fixture
def ui(tmp_path, monkeypatch):
    """The ui app with "payments" registered and ingested (no job waiting)."""
    clear_gait_env(monkeypatch)
    root = tmp_path / "roots"
    make_linear_repo(root / "payments", commits=5, files=3)
    app = service_factory("ui")(overrides(tmp_path / "data", root))
    create_accounts(app)
    client, csrf = logged_in(app, "mark")
    response = client.post("/api/repositories", json={"name": "payments", "path": str(root / "payments")},
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 202
    ingest_queued(app)
    yield app
    close(app)


def _state(app) -> tuple[int, int]:
    store = store_of(app)
    return (store.query_one("SELECT COUNT(*) FROM ingest_jobs")[0],
            store.query_one("SELECT COUNT(*) FROM webhook_deliveries")[0])


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_forged_webhook_signatures_are_refused_and_change_nothing(ui, kind, attacks):
    path, sig_header, delivery_header, extra = ENDPOINTS[kind]
    body = _body(kind)
    good = _sign(WEBHOOK_SECRET, body)
    forgeries = {
        "no signature header": None,
        "empty signature": "",
        "wrong HMAC (random hex)": "sha256=" + "0" * 64,
        "signed with another secret": _sign("another-secret", body),
        "truncated signature": good[:30],
        "signature without the sha256= prefix": good.removeprefix("sha256="),
        "sha1= form of the right key": "sha1=" + hmac.new(WEBHOOK_SECRET.encode(), body, "sha1").hexdigest(),
        "right digest, upper-case hex": "sha256=" + good.removeprefix("sha256=").upper(),
        "signature of the empty body": _sign(WEBHOOK_SECRET, b""),
        "signature of the body with the secret as key and message swapped":
            "sha256=" + hmac.new(body, WEBHOOK_SECRET.encode(), hashlib.sha256).hexdigest(),
        "non-ASCII garbage": "sha256=\u00e9\u00e9",
    }
    client = ui.test_client()
    before = _state(ui)
    for n, (label, signature) in enumerate(forgeries.items()):
        headers = {delivery_header: f"forged-{kind}-{n}", "Content-Type": "application/json", **extra}
        if signature is not None:
            headers[sig_header] = signature
        response = client.post(path, data=body, headers=headers)
        attacks.record(CATEGORY, f"{kind}: {label}", f"POST {path}",
                       expected="401, no job, no delivery stored",
                       observed=f"{response.status_code}; jobs/deliveries {before}->{_state(ui)}",
                       passed=response.status_code == 401 and _state(ui) == before)
    changed = {"another repository name": _body(kind, "search"),
               "a trailing space": body + b" ", "a key added": body[:-1] + b', "extra": 1}'}
    for n, (label, tampered) in enumerate(changed.items()):
        headers = {delivery_header: f"tampered-{kind}-{n}", sig_header: good,
                   "Content-Type": "application/json", **extra}
        response = client.post(path, data=tampered, headers=headers)
        attacks.record(CATEGORY, f"{kind}: body changed after signing ({label})", f"POST {path}",
                       expected="401, no job, no delivery stored",
                       observed=f"{response.status_code}; jobs/deliveries {before}->{_state(ui)}",
                       passed=response.status_code == 401 and _state(ui) == before)
    big = json.dumps({"repository": "payments", "pad": "x" * (2 * 1024 * 1024)}).encode()
    response = client.post(path, data=big, headers={delivery_header: f"big-{kind}", **extra,
                                                    sig_header: _sign(WEBHOOK_SECRET, big),
                                                    "Content-Type": "application/json"})
    attacks.record(CATEGORY, f"{kind}: correctly signed 2 MiB body", f"POST {path}",
                   expected="413 before any work", observed=f"{response.status_code}",
                   passed=response.status_code == 413 and _state(ui) == before)
    attacks.assert_all_refused()


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_replayed_webhook_deliveries_are_refused_or_add_no_work(ui, kind, attacks):
    path, sig_header, delivery_header, extra = ENDPOINTS[kind]
    body = _body(kind)
    headers = {sig_header: _sign(WEBHOOK_SECRET, body), delivery_header: f"real-{kind}-1",
               "Content-Type": "application/json", **extra}
    client = ui.test_client()
    jobs_before, deliveries_before = _state(ui)
    first = client.post(path, data=body, headers=headers)
    assert first.status_code == 202, first.get_data(as_text=True)
    assert _state(ui) == (jobs_before + 1, deliveries_before + 1)
    job_id = first.get_json()["job"]["id"]
    after_first = _state(ui)

    replay = client.post(path, data=body, headers=headers)
    attacks.record(CATEGORY, f"{kind}: the same delivery replayed (same id, same signature)", f"POST {path}",
                   expected="409, no job, no delivery stored",
                   observed=f"{replay.status_code}; jobs/deliveries {after_first}->{_state(ui)}",
                   passed=replay.status_code == 409 and _state(ui) == after_first)
    for variant in (f"real-{kind}-1 ", f"REAL-{kind}-1"):
        replay = client.post(path, data=body, headers={**headers, delivery_header: variant})
        same_job = replay.status_code == 202 and replay.get_json()["job"]["id"] == job_id
        attacks.record(CATEGORY, f"{kind}: replay with a look-alike delivery id {variant!r}", f"POST {path}",
                       expected="409, or coalesced into the waiting job (no new job)",
                       observed=f"{replay.status_code}; same job={same_job}; "
                                f"jobs {after_first[0]}->{_state(ui)[0]}",
                       passed=replay.status_code in (409, 202) and _state(ui)[0] == after_first[0]
                       and (replay.status_code == 409 or same_job))
    # The delivery id is not covered by the signature (GitHub signs only the body), so a
    # captured body under a fresh id verifies; it must add no work while a job waits.
    fresh = client.post(path, data=body, headers={**headers, delivery_header: f"fresh-{kind}-2"})
    same_job = fresh.status_code == 202 and fresh.get_json()["job"]["id"] == job_id
    attacks.record(CATEGORY, f"{kind}: captured body replayed under a fresh delivery id", f"POST {path}",
                   expected="no new job: coalesced into the waiting one (the id is unsigned by design)",
                   observed=f"{fresh.status_code}; same job={same_job}; "
                            f"jobs {after_first[0]}->{_state(ui)[0]}",
                   passed=same_job and _state(ui)[0] == after_first[0])
    # After the job ran, such a replay can at most queue one incremental re-ingest that
    # finds nothing new: the stored history stays the same.
    ingest_queued(ui)
    commits = store_of(ui).query_one("SELECT COUNT(*) FROM commits")[0]
    late = client.post(path, data=body, headers={**headers, delivery_header: f"late-{kind}-3"})
    again = client.post(path, data=body, headers={**headers, delivery_header: f"late-{kind}-4"})
    ingest_queued(ui)
    waiting = store_of(ui).query_one("SELECT COUNT(*) FROM ingest_jobs WHERE status = 'queued'")[0]
    attacks.record(CATEGORY, f"{kind}: captured body replayed twice after the job ran", f"POST {path}",
                   expected="at most one re-ingest that changes no stored data",
                   observed=f"{late.status_code}/{again.status_code}; commits {commits}->"
                            f"{store_of(ui).query_one('SELECT COUNT(*) FROM commits')[0]}; waiting={waiting}",
                   passed=store_of(ui).query_one("SELECT COUNT(*) FROM commits")[0] == commits
                   and waiting == 0 and late.get_json()["job"]["id"] == again.get_json()["job"]["id"])
    attacks.assert_all_refused()

"""Schemathesis against every service's own `/openapi.json`, logged in as an admin.

Each service runs in process (its app factory) on a fresh PostgreSQL database holding an
ingested repository, an ingest job, an annotation and an API token, so generated requests
reach real data. For every documented operation, schemathesis generates requests that fit
the document (positive) and requests that break it (negative); half of them name the
fixture's real repository, commit, job or annotation instead of a random one, so the views
get past their 404s. Every response must be below 500 and match the document: its status
code documented, its content type documented, its JSON body valid against the schema.

`FUZZ_REQUESTS` sets the generated requests per service (`make fuzz` raises it);
`FUZZ_REPORT` names a JSON file to which each service's numbers are appended (the
Makefile turns it into reports/fuzz.md).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import pytest
import schemathesis
from gitrepos import make_realistic_repo
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SERVICES = ("ui", "ide", "collab", "viz")
ADMIN, PASSWORD = "alice", "alice-fuzz-password-long"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
# Generated requests per service, spread over the operations that take input (one without
# any is exhausted after a request or two). `make fuzz` raises it.
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "2000"))
# The fuzzer authenticates as the admin itself: generated cookies or bearer headers for
# the security schemes would replace the admin's and test only the 401 path (the
# authorization matrix covers that).
FUZZ_CONFIG = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
# Operations never fuzzed, and why.
EXCLUDED = {
    # Ends the admin session every later request relies on; login/logout are covered by
    # the auth tests and the authorization matrix.
    ("POST", "/api/auth/logout"), ("POST", "/logout"),
}


@dataclass
class FuzzWorld:
    """The fixture's real names and ids, which half of the generated requests use."""

    values: dict[str, object]

    def name_real_things(self, case):
        """`case` with its path parameters, `repo` query and body field set to real ones."""
        for key in list(case.path_parameters or {}):
            if key in self.values:
                case.path_parameters[key] = self.values[key]
        if isinstance(case.query, dict) and "repo" in case.query:
            case.query["repo"] = self.values["repo"]
        if isinstance(case.body, dict) and "repo" in case.body:
            case.body["repo"] = self.values["repo"]
        return case


@dataclass
class ServiceTally:
    """What one service's fuzz run did: requests, operations and failures."""

    service: str
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    operations: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"service": self.service, "requests": self.requests,
                "operations": len(self.operations), "failures": len(self.failures),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "failure_details": self.failures, "target": REQUESTS}


def _factory(name):
    import importlib

    return importlib.import_module(f"services.{name}").create_app


def _seed(app, repo_path) -> FuzzWorld:
    """Users, the ingested repository, a queued job, an annotation and a token."""
    from ades import annotations, jobs
    from ades.hardening import tokens, users
    from ades.mining.ingest import ingest_repository
    from ades.service import service_context
    from ades.storage.repositories import get_repository

    store = service_context(app).stores.get().inner
    users.create_user(store, ADMIN, PASSWORD, "admin")
    users.create_user(store, "vera", PASSWORD, "viewer")
    ingest_repository(store, str(repo_path), name="orders", shards=1)
    repo = get_repository(store, "orders")
    commit = store.query("SELECT hash FROM commits WHERE repo_id = ? ORDER BY author_time DESC LIMIT 1",
                         (repo.id,))[0][0]
    pattern = store.query("SELECT pattern FROM pattern_occurrences WHERE repo_id = ? LIMIT 1",
                          (repo.id,))[0][0]
    job = jobs.enqueue_ingest(store, repo.id)
    note = annotations.create_annotation(store, repo.id, author=ADMIN, target_kind="commit",
                                         target=commit, body="a note @vera")
    meta, _ = tokens.create_token(store, ADMIN, "read", "fuzz")
    return FuzzWorld({"name": "orders", "repo": "orders", "ref": commit, "hash": commit,
                      "job_id": job.id, "annotation_id": note.annotation["id"],
                      "pattern": pattern, "token_id": meta.id, "username": "vera"})


@pytest.fixture(scope="module")
def orders_repo(tmp_path_factory):
    """The realistic repository every service's database holds, built once."""
    return make_realistic_repo(tmp_path_factory.mktemp("fuzz") / "orders")


@pytest.fixture
def fuzz_report():
    """Appends each service's tally to $FUZZ_REPORT (JSON lines) when it is set."""
    path = os.environ.get("FUZZ_REPORT")

    def write(tally: ServiceTally) -> None:
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(tally.as_dict()) + "\n")

    return write


def _takes_input(operation) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters")) or "requestBody" in definition


def _fuzz_operation(app, auth: dict, operation, world, tally: ServiceTally, examples: int) -> None:
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        base = operation.as_strategy(generation_mode=mode)
        strategies.append(st.one_of(base, base.map(world.name_real_things)))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(case=st.one_of(strategies))
    def run(case):
        # Explicit cookies and headers override the ones generated for the security schemes.
        # Each request from its own loopback address, as many clients would send them: the
        # product's per-address login and rate limits stay as configured without one
        # address's budget (or a block) ending the run.
        tally.requests += 1
        address = f"127.{tally.requests // 65536 % 256}.{tally.requests // 256 % 256}.{tally.requests % 256}"
        # buffered: the test client closes the app's iterator (a sent file) once it is read.
        response = case.call(app=app, environ_base={"REMOTE_ADDR": address}, buffered=True, **auth)
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.parametrize("service", SERVICES)
def test_generated_requests_never_fail_and_match_the_document(service, postgres_url, orders_repo,
                                                            tmp_path, monkeypatch, fuzz_report):
    for var in [n for n in os.environ if n.startswith("GAIT_")]:
        monkeypatch.delenv(var)
    app = _factory(service)({
        "server": {"data_dir": str(tmp_path / "data"), "redis_url": None,
                   "postgres_url": postgres_url},
        "security": {"secret_key": "fuzz-secret"},
    })
    from ades.service import service_context

    try:
        world = _seed(app, orders_repo)
        client = app.test_client()
        login = client.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        assert login.status_code == 200, login.get_data(as_text=True)
        cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        auth = {"cookies": {cookie.key: cookie.value},
                "headers": {"X-CSRF-Token": login.get_json()["csrf_token"]}}
        schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=FUZZ_CONFIG)
        tally = ServiceTally(service)
        operations = [result.ok() for result in schema.get_all_operations()]
        operations = [op for op in operations if (op.method.upper(), op.path) not in EXCLUDED]
        # Deletions last: once the fixture's repository or annotation is gone, the other
        # operations would meet nothing but 404s.
        operations.sort(key=lambda op: op.method.upper() == "DELETE")
        # The operations without input add a request or two each on top.
        examples = math.ceil(REQUESTS / sum(1 for op in operations if _takes_input(op)))
        for operation in operations:
            tally.operations.append(f"{operation.method.upper()} {operation.path}")
            try:
                _fuzz_operation(app, auth, operation, world, tally, examples)
            # Schemathesis raises a (Base)ExceptionGroup of its findings; one operation's
            # failure must not hide the others'.
            except (Exception, BaseExceptionGroup) as exc:
                tally.failures.append(f"{operation.method.upper()} {operation.path}: "
                                      f"{type(exc).__name__}: {exc}"[:2000])
        fuzz_report(tally)
        assert tally.failures == [], "\n\n".join(tally.failures)
        assert len(tally.operations) >= 15
        assert tally.requests >= REQUESTS
    finally:
        service_context(app).close()


def test_text_with_a_nul_byte_is_a_400_not_a_500_on_postgresql(postgres_url, tmp_path, monkeypatch):
    """Found by the fuzzer: psycopg refuses NUL in text, which used to surface as a 500."""
    from ades.hardening import users
    from ades.service import service_context

    for var in [n for n in os.environ if n.startswith("GAIT_")]:
        monkeypatch.delenv(var)
    app = _factory("ide")({"server": {"data_dir": str(tmp_path / "data"), "redis_url": None,
                                      "postgres_url": postgres_url},
                           "security": {"secret_key": "fuzz-secret"}})
    try:
        users.create_user(service_context(app).stores.get().inner, ADMIN, PASSWORD, "admin")
        client = app.test_client()
        login = client.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        headers = {"X-CSRF-Token": login.get_json()["csrf_token"]}
        response = client.post("/ide/context", json={"repo": "or\x00ders", "path": "a.py"},
                               headers=headers)
        assert response.status_code == 400
        assert response.get_json()["code"] == "invalid_text"
        assert client.get("/ide/search", query_string={"q": "retry", "repo": "x\x00"}).status_code == 400
    finally:
        service_context(app).close()

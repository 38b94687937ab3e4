"""The service chassis in-process: health, readiness, errors, request ids, OpenAPI, metrics."""

from __future__ import annotations

import json
import logging
import re

import pytest
from ades.config import load_config
from ades.logs import AdesJsonFormatter
from ades.service import UndeclaredRoutesError, create_service_app, service_context
from chassis_app import create_app, probe
from flask import Blueprint
from pgserver import free_port
from service_runner import metric_samples


def _config(tmp_path, database_url=None, **sections):
    overrides = {"server": {"data_dir": str(tmp_path / "data"), "postgres_url": database_url,
                            "port": 18080}, **sections}
    overrides["server"] = {**overrides["server"], **sections.get("server", {})}
    return load_config({}, overrides=overrides)


@pytest.fixture
def database_url(backend, request):
    return request.getfixturevalue("postgres_url") if backend == "postgres" else None


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(database_url=None, factory=create_app, **sections):
        app = factory(_config(tmp_path, database_url, **sections))
        apps.append(app)
        return app

    yield make
    for app in apps:
        service_context(app).close()


@pytest.fixture
def client(make_app, database_url):
    return make_app(database_url).test_client()


def test_liveness_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "service": "probe"}


def test_readiness_reports_the_database_check(client, backend):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["database"]["backend"] == backend
    assert "redis" not in body["checks"]


def test_health_has_the_seed_fields(client):
    body = client.get("/api/health").get_json()
    assert body["status"] == "healthy"
    assert body["service"] == "probe"
    assert body["version"]
    assert body["uptime_seconds"] >= 0
    assert body["timestamp"].endswith("Z")
    assert body["components"]["database"]["status"] == "up"


def test_detailed_health_adds_versions_alerts_and_the_missing_bus(client, backend):
    body = client.get("/api/health/detailed").get_json()
    assert {"versions", "process", "metrics", "database", "cache", "slow_queries",
            "cross_process_bus", "alerts", "warnings"} <= body.keys()
    assert body["versions"]["flask"] and body["versions"]["ades"]
    assert body["database"]["backend"] == backend
    assert body["database"]["pool"]["pooled"] is (backend == "postgres")
    bus = body["cross_process_bus"]
    assert bus["available"] is False and bus["backend"] == "in-process"
    assert {f["feature"] for f in bus["features_needing_it"]} >= {"rate_limits", "sessions"}
    assert any(w["source"] == "configuration" for w in body["warnings"])
    assert {"error_rate", "latency_p95_seconds", "memory_percent"} <= \
        body["alerts"]["values"].keys()


def test_readiness_fails_when_the_database_port_is_closed(make_app):
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/ades"
    client = make_app(closed).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["status"] == "not_ready"
    assert ready.get_json()["checks"]["database"]["status"] == "down"
    health = client.get("/api/health")
    assert health.status_code == 503 and health.get_json()["status"] == "unhealthy"
    detailed = client.get("/api/health/detailed").get_json()
    assert any(w.get("component") == "database" for w in detailed["warnings"])
    # A route that needs the database answers 503 in JSON, not a traceback.
    response = client.get("/probe/db-sleep?seconds=0")
    assert response.status_code == 503
    assert response.get_json()["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def test_readiness_reports_redis_down_as_degraded_but_stays_ready(make_app):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = make_app(server={"redis_url": closed}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded" and body["degraded"] == ["redis"]
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["redis"]["status"] == "down"


@pytest.mark.parametrize("method, path, status, code", [
    ("GET", "/no/such/page", 404, "not_found"),
    ("GET", "/probe/echo/3", 405, "method_not_allowed"),
    ("GET", "/probe/boom", 500, "internal_server_error"),
])
def test_errors_are_json_without_a_traceback(client, method, path, status, code):
    response = client.open(path, method=method, headers={"X-Request-ID": "req-42"})
    assert response.status_code == status
    assert response.is_json
    body = response.get_json()
    assert body["status"] == status and body["code"] == code and body["error"]
    assert body["request_id"] == "req-42"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret detail" not in text and "/etc/passwd" not in text


def test_method_not_allowed_lists_the_allowed_methods(client):
    response = client.get("/probe/echo/3")
    assert "POST" in response.headers["Allow"]


def test_browsers_get_an_html_error_page(client):
    response = client.get("/probe/boom", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "<h1>500</h1>" in text and "Traceback" not in text and "secret detail" not in text


def test_an_unexpected_error_is_logged_with_its_traceback(client, caplog):
    with caplog.at_level(logging.ERROR, logger="ades.service"):
        client.get("/probe/boom")
    [record] = [r for r in caplog.records if r.name == "ades.service"]
    assert record.exc_info and "secret detail" in str(record.exc_info[1])


def test_a_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers[
        "X-Request-ID"] == "abc-123"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    forged = client.get("/healthz", headers={"X-Request-ID": "<script>" + "x" * 200})
    assert len(forged.headers["X-Request-ID"]) == 32


def test_request_logs_are_json_in_the_seed_shape(client, caplog):
    with caplog.at_level(logging.INFO, logger="ades.access"):
        client.get("/openapi.json", headers={"X-Request-ID": "log-me"})
    [record] = [r for r in caplog.records if r.name == "ades.access"]
    line = json.loads(AdesJsonFormatter().format(record))
    assert line["level"] == "INFO" and line["message"] == "request"
    assert line["timestamp"].startswith("20")
    assert line["fields"]["method"] == "GET" and line["fields"]["path"] == "/openapi.json"
    assert line["fields"]["status"] == 200 and line["fields"]["duration"] >= 0
    assert line["request_id"] == "log-me" and line["client_ip"] == "127.0.0.1"


def test_the_openapi_document_lists_every_route_with_its_role(make_app):
    app = make_app()
    document = app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], (path, method)
            assert paths[path][method.lower()]["x-required-role"] != "undeclared"
    assert paths["/healthz"]["get"]["x-required-role"] == "public"
    assert paths["/healthz"]["get"]["security"] == []
    performance = paths["/api/performance"]["get"]
    assert performance["x-required-role"] == "admin" and "401" in performance["responses"]
    echo = paths["/probe/echo/{number}"]["post"]
    assert echo["parameters"] == [{"name": "number", "in": "path", "required": True,
                                   "schema": {"type": "integer"}}]
    sleep = paths["/probe/sleep"]["get"]
    assert sleep["summary"].startswith("Sleep")
    assert sleep["parameters"][0]["name"] == "seconds" and sleep["parameters"][0]["in"] == "query"


def test_openapi_fragments_from_the_service_are_merged(tmp_path):
    def factory(config):
        return create_service_app("probe", config, blueprints=(probe,), openapi_paths={
            "/probe/sleep": {"get": {"responses": {"200": {"description": "Slept"}}}}})

    app = factory(_config(tmp_path))
    try:
        document = app.test_client().get("/openapi.json").get_json()
        assert document["paths"]["/probe/sleep"]["get"]["responses"]["200"]["description"] == "Slept"
    finally:
        service_context(app).close()


def test_a_route_without_a_declared_role_stops_the_factory(tmp_path):
    careless = Blueprint("careless", __name__)

    @careless.get("/forgot")
    def forgot():
        return "no role declared"

    with pytest.raises(UndeclaredRoutesError, match="careless.forgot"):
        create_service_app("careless", _config(tmp_path), blueprints=(careless,))


def test_the_performance_report_is_for_admins_only(client):
    assert client.get("/api/performance").status_code == 401


def test_many_apps_in_one_process_each_serve_their_own_metrics(make_app):
    first, second = make_app().test_client(), make_app().test_client()
    for _ in range(3):
        first.get("/probe/sleep?seconds=0")
    second.get("/probe/sleep?seconds=0")

    def count(client):
        text = client.get("/metrics").get_data(as_text=True)
        return sum(value for labels, value in metric_samples(
            text, "flask_http_request_duration_seconds_count")
            if labels["endpoint"] == "probe.sleep")

    assert (count(first), count(second)) == (3, 1)
    text = first.get("/metrics").get_data(as_text=True)
    assert metric_samples(text, "ades_cache_hits_total") is not None
    assert "ades_commits_analyzed_total" in text and "ades_alert_firing" in text


def test_metrics_group_requests_by_endpoint_not_by_path(make_app):
    client = make_app().test_client()
    for number in range(5):
        client.post(f"/probe/echo/{number}")
    text = client.get("/metrics").get_data(as_text=True)
    endpoints = {labels["endpoint"] for labels, _ in metric_samples(
        text, "flask_http_request_duration_seconds_count")}
    assert "probe.echo" in endpoints
    assert not any("/probe/echo/" in e for e in endpoints)


def test_the_metrics_port_serves_only_metrics(make_app):
    app = make_app()
    client = app.test_client()
    port = str(service_context(app).metrics_port)
    assert port == str(18080 + 1010)
    on_metrics_port = {"SERVER_PORT": port}
    assert client.get("/metrics", environ_overrides=on_metrics_port).status_code == 200
    response = client.get("/healthz", environ_overrides=on_metrics_port)
    assert response.status_code == 404
    assert client.get("/healthz").status_code == 200


def test_threshold_alerts_show_as_warnings_and_gauges(make_app):
    app = make_app(monitoring={"alert_error_rate": 0.01})
    client = app.test_client()
    for _ in range(25):
        client.get("/probe/boom")
    body = client.get("/api/health/detailed").get_json()
    [warning] = [w for w in body["warnings"] if w.get("alert") == "error_rate"]
    assert warning["value"] == 1.0 and warning["threshold"] == 0.01
    text = client.get("/metrics").get_data(as_text=True)
    firing = {labels["alert"]: value for labels, value in
              metric_samples(text, "ades_alert_firing")}
    assert firing["error_rate"] == 1.0


def test_a_database_down_at_start_is_picked_up_once_it_answers(make_app, monkeypatch):
    import ades.service.store as store_module
    from ades.storage import DatabaseUnavailable

    real_open = store_module._open_migrated
    attempts = []

    def flaky_open(config):
        attempts.append(config)
        if len(attempts) == 1:
            raise DatabaseUnavailable("connection refused (simulated)")
        return real_open(config)

    monkeypatch.setattr(store_module, "_open_migrated", flaky_open)
    app = make_app()
    stores = service_context(app).stores
    assert not stores.is_open
    client = app.test_client()
    assert client.get("/readyz").status_code == 503  # within the retry pause: no new attempt
    assert len(attempts) == 1
    stores.retry_seconds = 0
    stores._next_attempt = 0
    assert client.get("/readyz").status_code == 200
    assert stores.is_open and len(attempts) == 2


def test_a_cached_repository_list_is_served_until_an_ingest(make_app):
    from ades.optimizer import invalidate_repository, query_cache
    from ades.service import repository_summaries
    from ades.storage.repositories import register_repository

    app = make_app()
    with app.test_request_context():
        assert repository_summaries() == []
        assert repository_summaries() == []
        assert query_cache().stats().hits == 1
        store = service_context(app).stores.get()
        repo = register_repository(store.inner, "late", "/tmp/late")
        invalidate_repository(repo.id)
        assert [r["name"] for r in repository_summaries()] == ["late"]


def test_admins_see_slow_queries_and_index_advice(make_app, tmp_path):
    from ades.hardening import users

    app = make_app(performance={"slow_query_ms": 0})
    client = app.test_client()
    store = service_context(app).stores.get()
    users.create_user(store.inner, "alice", "correct horse battery", "admin")
    login = client.post("/api/auth/login", json={"username": "alice",
                                                 "password": "correct horse battery"})
    assert login.status_code == 200
    client.get("/probe/db-sleep?seconds=0")
    with app.test_request_context():
        store.query("SELECT COUNT(*) FROM repositories")
    report = client.get("/api/performance").get_json()
    assert report["slow_query_threshold_ms"] == 0
    assert any("repositories" in q["sql"] for q in report["slow_queries"])
    assert isinstance(report["index_recommendations"], list)

"""Business metrics, alert windows, GC tuning, pool health and the JSON log format."""

from __future__ import annotations

import gc
import json
import logging

import pytest
from ades import metrics
from ades.config import load_config
from ades.logs import AdesJsonFormatter, accept_request_id, configure_logging, logging_dict
from ades.metrics import instruments
from ades.metrics.alerts import RequestWindow, disk_percent, evaluate, memory_percent
from ades.optimizer import apply_gc_settings, check_pool, pool_stats, thresholds_for
from ades.storage import open_store


def _value(name, labels=None):
    return instruments.REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_business_helpers_move_their_metrics():
    before = (_value("ades_commits_analyzed_total"), _value("ades_patterns_extracted_total"),
              _value("ades_ingest_duration_seconds_count", {"outcome": "succeeded"}))
    metrics.record_commits_analyzed(120)
    metrics.record_commits_analyzed(0)
    metrics.record_patterns_extracted(7)
    metrics.observe_ingest_duration(3.5)
    metrics.set_active_sessions(4)
    assert _value("ades_commits_analyzed_total") == before[0] + 120
    assert _value("ades_patterns_extracted_total") == before[1] + 7
    assert _value("ades_ingest_duration_seconds_count", {"outcome": "succeeded"}) == before[2] + 1
    assert _value("ades_active_user_sessions") == 4


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_the_request_window_forgets_old_requests():
    clock = Clock()
    window = RequestWindow(60, clock=clock)
    for status in (200, 200, 500, 200):
        window.observe(0.1, status)
    assert window.summary()["error_rate"] == 0.25
    clock.now = 61
    window.observe(0.2, 200)
    summary = window.summary()
    assert (summary["requests"], summary["errors"]) == (1, 0)


def test_p95_latency_is_the_95th_percentile():
    window = RequestWindow(60)
    for ms in range(1, 101):
        window.observe(ms / 1000, 200)
    assert window.summary()["latency_p95_seconds"] == pytest.approx(0.095)


def test_alerts_need_enough_requests_before_firing(tmp_path):
    config = load_config({}, overrides={"server": {"data_dir": str(tmp_path)},
                                        "monitoring": {"alert_latency_p95_seconds": 0.5}})
    window = RequestWindow(60)
    for _ in range(5):
        window.observe(2.0, 200)
    assert not [w for w in evaluate(window, config).warnings if w["alert"] == "latency_p95"]
    for _ in range(20):
        window.observe(2.0, 200)
    report = evaluate(window, config)
    assert [w["alert"] for w in report.warnings if w["alert"] == "latency_p95"] == ["latency_p95"]
    assert _value("ades_alert_firing", {"alert": "latency_p95"}) == 1
    assert _value("ades_http_latency_p95_seconds") == 2.0


def test_memory_and_disk_use_are_percentages(tmp_path):
    assert 0 < memory_percent() <= 100
    assert 0 < disk_percent(tmp_path / "not" / "yet" / "created") <= 100


def test_gc_tuning_is_off_by_default_and_scales_with_the_percentage(tmp_path):
    before = gc.get_threshold()
    config = load_config({}, overrides={"server": {"data_dir": str(tmp_path)}})
    settings = apply_gc_settings(config)
    assert settings.after == settings.before == before == gc.get_threshold()
    assert thresholds_for(0) == (700, 10, 10)
    assert thresholds_for(100) == (50_000, 20, 20)
    assert thresholds_for(50) == (25_350, 15, 15)
    tuned = load_config({}, overrides={"server": {"data_dir": str(tmp_path)},
                                       "performance": {"gc_target_percentage": 50}})
    try:
        applied = apply_gc_settings(tuned, freeze=False)
        assert applied.after == gc.get_threshold() == (25_350, 15, 15)
    finally:
        gc.set_threshold(*before)


def test_pool_stats_and_check_describe_the_postgres_pool(backend, tmp_path, request):
    url = (request.getfixturevalue("postgres_url") if backend == "postgres"
           else f"sqlite:///{tmp_path / 'a.db'}")
    store = open_store(url, pool_min=2, pool_max=4)
    try:
        stats = check_pool(store)
        if backend == "postgres":
            assert stats["pooled"] is True
            assert stats["pool_min"] == 2 and stats["pool_max"] == 4
            assert stats["pool_size"] >= 2
        else:
            assert stats == {"backend": "sqlite", "pooled": False}
        assert pool_stats(store)["backend"] == store.dialect
    finally:
        store.close()


def test_log_lines_have_the_seed_shape():
    record = logging.LogRecord("ades.test", logging.WARNING, __file__, 1, "disk %s", ("full",),
                               None)
    record.fields = {"method": "GET", "path": "/x", "duration": 0.25, "status": 503}
    line = json.loads(AdesJsonFormatter().format(record))
    assert line["level"] == "WARNING" and line["message"] == "disk full"
    assert line["logger"] == "ades.test" and line["timestamp"].endswith("+00:00")
    assert line["fields"] == {"method": "GET", "path": "/x", "duration": 0.25, "status": 503}


def test_configuring_logging_twice_adds_one_handler():
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        configure_logging("WARNING")
        configure_logging("DEBUG")
        added = [h for h in root.handlers if h not in before]
        assert len(added) <= 1
        assert root.level == logging.DEBUG
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)


def test_the_gunicorn_logging_config_is_valid():
    import logging.config

    config = logging_dict("INFO")
    assert config["formatters"]["json"]["()"] == "ades.logs.AdesJsonFormatter"
    logging.config.dictConfig({**config, "root": {"level": "INFO", "handlers": []},
                               "loggers": {}})


@pytest.mark.parametrize("header, kept", [
    ("abc-123", True), ("9f1c2e.x:y@z_", True), ("", False), (None, False),
    ("has space", False), ("x" * 129, False), ("<script>", False)])
def test_request_ids_from_clients_are_kept_only_when_well_formed(header, kept):
    assert (accept_request_id(header) == header) is kept

"""Slow queries are caught with their EXPLAIN plan, and plans turn into index advice."""

from __future__ import annotations

import pytest
from ades.metrics import instruments
from ades.optimizer import MonitoredStore, SlowQueryLog, explain
from ades.storage import open_store


@pytest.fixture
def store(backend, tmp_path, request):
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'ades.db'}"
    opened = open_store(url)
    yield opened
    opened.close()


def _slow_sql(store):
    if store.dialect == "postgres":
        return "SELECT pg_sleep(0.05), COUNT(*) FROM repositories WHERE name <> ?", ("x",)
    return ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
            "SELECT COUNT(*) FROM c", (300_000,))


def _slow_total():
    return instruments.REGISTRY.get_sample_value("ades_slow_queries_total") or 0


def test_a_query_above_the_threshold_is_recorded_with_its_plan(store):
    monitored = MonitoredStore(store, SlowQueryLog(threshold_ms=10))
    before = _slow_total()
    sql, params = _slow_sql(store)
    monitored.query(sql, params)
    [entry] = monitored.slow_log.entries()
    assert entry.duration_ms > 10
    assert entry.sql == " ".join(sql.split())
    assert entry.parameters == 1 and entry.dialect == store.dialect
    assert entry.plan and not entry.plan[0].startswith("(no plan")
    if store.dialect == "postgres":
        assert any("Scan" in line for line in entry.plan)
    else:
        assert any("SCAN" in line for line in entry.plan)
    assert _slow_total() == before + 1


def test_a_fast_query_is_timed_but_not_recorded(store):
    monitored = MonitoredStore(store, SlowQueryLog(threshold_ms=5_000))
    assert monitored.query_one("SELECT 1") == (1,)
    assert monitored.query_dicts("SELECT 2 AS two") == [{"two": 2}]
    assert monitored.slow_log.entries() == []


def test_a_slow_query_is_logged_as_a_warning(store, caplog):
    monitored = MonitoredStore(store, SlowQueryLog(threshold_ms=0))
    with caplog.at_level("WARNING", logger="ades.slow_query"):
        monitored.query("SELECT COUNT(*) FROM repositories")
    [record] = [r for r in caplog.records if r.name == "ades.slow_query"]
    assert record.fields["sql"] == "SELECT COUNT(*) FROM repositories"
    assert record.fields["plan"]


def test_a_repeated_statement_reuses_its_plan(store, monkeypatch):
    log = SlowQueryLog(threshold_ms=0)
    monitored = MonitoredStore(store, log)
    calls = []
    import ades.optimizer.slow_queries as module

    real = module.explain
    monkeypatch.setattr(module, "explain", lambda *a: calls.append(a) or real(*a))
    for _ in range(3):
        monitored.query("SELECT name FROM repositories WHERE id = ?", (1,))
    assert len(calls) == 1
    assert len(log.entries()) == 3


def test_the_monitored_store_still_writes_through_transactions(store):
    monitored = MonitoredStore(store, SlowQueryLog(threshold_ms=0))
    with monitored.transaction() as tx:
        tx.execute("INSERT INTO repositories (name, path, commit_count, created_at) "
                   "VALUES (?, ?, 0, 0)", ("w", "/w"))
    assert monitored.query_one("SELECT path FROM repositories WHERE name = ?", ("w",)) == ("/w",)
    assert monitored.dialect == store.dialect
    monitored.ping()


def _measurements(store, rows=300):
    with store.transaction() as tx:
        tx.execute("CREATE TABLE measurements (id INTEGER PRIMARY KEY, label TEXT NOT NULL, "
                   "value INTEGER NOT NULL)")
        tx.executemany("INSERT INTO measurements (id, label, value) VALUES (?, ?, ?)",
                       [(i, f"label-{i % 17}", i) for i in range(1, rows + 1)])
    if store.dialect == "postgres":
        with store.transaction() as tx:
            tx.execute("ANALYZE measurements")


def test_a_full_scan_of_a_big_table_recommends_an_index_on_the_filtered_column(store):
    _measurements(store)
    log = SlowQueryLog(threshold_ms=0)
    monitored = MonitoredStore(store, log)
    monitored.query("SELECT m.id, m.value FROM measurements m WHERE m.label = ? AND "
                    "m.value > ?", ("label-3", 10))
    [advice] = log.index_recommendations(monitored, min_rows=100)
    assert advice.table == "measurements"
    assert advice.columns == ("label", "value")
    assert advice.statement == ("CREATE INDEX measurements_label_value_idx ON measurements "
                                "(label, value)")
    assert advice.slow_executions == 1
    assert "measurements" in advice.reason


def test_no_index_is_recommended_for_a_small_table(store):
    _measurements(store, rows=20)
    log = SlowQueryLog(threshold_ms=0)
    MonitoredStore(store, log).query("SELECT id FROM measurements WHERE label = ?", ("a",))
    assert log.index_recommendations(store, min_rows=100) == []


def test_no_index_is_recommended_once_one_leads_with_the_column(store):
    _measurements(store)
    log = SlowQueryLog(threshold_ms=0)
    MonitoredStore(store, log).query("SELECT id FROM measurements WHERE label = ?", ("a",))
    assert [r.columns for r in log.index_recommendations(store, min_rows=100)] == [("label",)]
    with store.transaction() as tx:
        tx.execute("CREATE INDEX measurements_by_label ON measurements (label)")
    assert log.index_recommendations(store, min_rows=100) == []


def test_explaining_a_broken_statement_gives_a_reason_not_an_error(store):
    [line] = explain(store, "SELECT * FROM no_such_table")
    assert line.startswith("(no plan:")

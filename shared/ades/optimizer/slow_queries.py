"""Slow-query detection with EXPLAIN plans, and index recommendations drawn from them.

Services read the database through a `MonitoredStore`: the same `Store` interface, but
every read query is timed (the `ades_db_query_duration_seconds` histogram) and one slower
than `performance.slow_query_ms` is explained — `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN`
on PostgreSQL, never ANALYZE, so nothing runs twice — and kept in a ring buffer with a
warning log line. A statement seen again within `explain_interval` reuses its plan.

`SlowQueryLog.index_recommendations(store)` reads the plans back: a full scan of a big
table filtered on columns that no index leads with becomes a suggested `CREATE INDEX`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from ..metrics import instruments
from ..storage import StorageError, Store, Transaction

log = logging.getLogger("ades.slow_query")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SQL_KEYWORDS = frozenset((
    "where", "join", "inner", "left", "right", "full", "cross", "outer", "on", "using",
    "order", "group", "limit", "offset", "having", "union", "except", "intersect", "natural",
    "set", "values", "window", "as", "select", "from", "and", "or", "not", "returning"))
# "FROM commits c" / "JOIN file_changes AS fc"
_TABLE_REF = re.compile(r"\b(?:from|join)\s+([A-Za-z_]\w*)(?:\s+(?:as\s+)?([A-Za-z_]\w*))?",
                        re.IGNORECASE)
# A column compared with something: "c.author_email = ?", "path LIKE ?", "x IN (...)".
_PREDICATE = re.compile(
    r"(?:\b([A-Za-z_]\w*)\.)?\b([A-Za-z_]\w*)\s*(=|<>|!=|<=|>=|<|>|~~\*?|"
    r"\bin\b|\blike\b|\bglob\b|\bbetween\b|\bis\b)", re.IGNORECASE)
_SQLITE_SCAN = re.compile(r"^SCAN (\w+)(?: AS (\w+))?$")
_PG_SEQ_SCAN = re.compile(r"Seq Scan on (\w+)(?: (\w+))?")


@dataclass(frozen=True)
class SlowQuery:
    """One slow execution: the statement (never its parameters), its time and plan."""

    sql: str
    duration_ms: float
    plan: tuple[str, ...]
    dialect: str
    parameters: int
    recorded_at: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        data = asdict(self)
        data["plan"] = list(self.plan)
        return data


@dataclass(frozen=True)
class IndexRecommendation:
    """A suggested index, and the slow statements that would have used it."""

    table: str
    columns: tuple[str, ...]
    statement: str
    reason: str
    slow_executions: int
    example_sql: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        data = asdict(self)
        data["columns"] = list(self.columns)
        return data


def normalize_sql(sql: str) -> str:
    """The statement with runs of whitespace collapsed, used to group executions."""
    return " ".join(sql.split())


class SlowQueryLog:
    """The last `capacity` slow queries of this process, with their plans."""

    def __init__(self, threshold_ms: float, *, capacity: int = 200,
                 explain_interval: float = 60.0) -> None:
        self.threshold_ms = threshold_ms
        self.explain_interval = explain_interval
        self._entries: deque[SlowQuery] = deque(maxlen=capacity)
        self._plans: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self._lock = threading.Lock()
        self.total = 0

    def is_slow(self, duration_ms: float) -> bool:
        """Whether a query that took `duration_ms` counts as slow."""
        return duration_ms > self.threshold_ms

    def record(self, store: Store, sql: str, params: Sequence[Any],
               duration_ms: float) -> SlowQuery:
        """Explain (or reuse the recent plan of) `sql`, remember it and log a warning."""
        text = normalize_sql(sql)
        plan = self._cached_plan(text)
        if plan is None:
            plan = explain(store, sql, params)
            with self._lock:
                self._plans[text] = (time.monotonic(), plan)
                self._plans.move_to_end(text)
                while len(self._plans) > 500:
                    self._plans.popitem(last=False)
        entry = SlowQuery(text, round(duration_ms, 3), plan, store.dialect, len(params),
                          time.time())
        with self._lock:
            self._entries.append(entry)
            self.total += 1
        instruments.SLOW_QUERIES.inc()
        log.warning("slow query", extra={"fields": {
            "duration_ms": entry.duration_ms, "threshold_ms": self.threshold_ms,
            "sql": text[:2000], "plan": list(plan)}})
        return entry

    def _cached_plan(self, text: str) -> tuple[str, ...] | None:
        with self._lock:
            cached = self._plans.get(text)
        if cached and time.monotonic() - cached[0] < self.explain_interval:
            return cached[1]
        return None

    def entries(self) -> list[SlowQuery]:
        """Recorded slow queries, newest first."""
        with self._lock:
            return list(reversed(self._entries))

    def index_recommendations(self, store: Store, *, min_rows: int = 10_000
                              ) -> list[IndexRecommendation]:
        """Indexes that would turn the recorded full scans of big tables into searches.

        A table is big when it holds at least `min_rows` rows; a recommendation needs a
        filtered column that is a real column of the table and leads no existing index.
        """
        found: dict[tuple[str, tuple[str, ...]], list[SlowQuery]] = {}
        schema = _Schema(store)
        for entry in self.entries():
            for table, columns in _scanned_filters(entry, schema):
                if schema.row_count_at_least(table, min_rows) and columns:
                    if schema.leads_an_index(table, columns[0]):
                        continue
                    found.setdefault((table, columns), []).append(entry)
        recommendations = []
        for (table, columns), entries in found.items():
            name = f"{table}_{'_'.join(columns)}_idx"[:63]
            recommendations.append(IndexRecommendation(
                table=table, columns=columns,
                statement=f"CREATE INDEX {name} ON {table} ({', '.join(columns)})",
                reason=(f"{len(entries)} slow execution(s) read all of {table} "
                        f"(at least {min_rows} rows) to filter on {', '.join(columns)}"),
                slow_executions=len(entries), example_sql=entries[0].sql))
        recommendations.sort(key=lambda r: -r.slow_executions)
        return recommendations


def explain(store: Store, sql: str, params: Sequence[Any] = ()) -> tuple[str, ...]:
    """The planner's view of `sql` as lines of text (indented by depth on SQLite)."""
    raw = store.inner if isinstance(store, MonitoredStore) else store
    try:
        if raw.dialect == "sqlite":
            rows = raw.query(f"EXPLAIN QUERY PLAN {sql}", params)
            depth: dict[int, int] = {}
            lines = []
            for node, parent, _unused, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + str(detail))
            return tuple(lines)
        return tuple(str(row[0]) for row in raw.query(f"EXPLAIN {sql}", params))
    except StorageError as exc:
        return (f"(no plan: {exc})",)


def _scanned_filters(entry: SlowQuery, schema: _Schema) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(table, filtered columns) for each full table scan in `entry`'s plan."""
    aliases = _aliases(entry.sql)
    lines = list(entry.plan)
    for i, line in enumerate(lines):
        text = line.strip()
        if entry.dialect == "sqlite":
            match = _SQLITE_SCAN.match(text)
            if not match:
                continue
            name = match[2] or match[1]
            table = aliases.get(name.lower(), name.lower())
            if not schema.has_table(table):
                continue
            names = {name.lower(), table}
            columns = _filtered_columns(entry.sql, names, schema.columns(table))
        else:
            match = _PG_SEQ_SCAN.search(text)
            if not match:
                continue
            table = match[1].lower()
            if not schema.has_table(table):
                continue
            indent = len(line) - len(line.lstrip())
            filters = []
            for detail in lines[i + 1:]:
                if len(detail) - len(detail.lstrip()) <= indent or "->" in detail:
                    break
                if detail.strip().startswith("Filter:"):
                    filters.append(detail.strip().removeprefix("Filter:"))
            names = {table, (match[2] or table).lower()}
            columns = _filtered_columns(" AND ".join(filters), names,
                                        schema.columns(table))
        yield table, columns


def _aliases(sql: str) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for table, alias in _TABLE_REF.findall(sql):
        if alias and alias.lower() not in _SQL_KEYWORDS:
            aliases[alias.lower()] = table.lower()
    return aliases


def _filtered_columns(text: str, names: set[str], table_columns: set[str]) -> tuple[str, ...]:
    """Columns of one table compared in `text`: equality first, at most three."""
    equality: list[str] = []
    other: list[str] = []
    for qualifier, column, operator in _PREDICATE.findall(text):
        column = column.lower()
        if column not in table_columns:
            continue
        # Unqualified names are kept: valid SQL only leaves a column unqualified when
        # one table in scope has it, and this table does.
        if qualifier and qualifier.lower() not in names:
            continue
        bucket = equality if operator in ("=", "is", "IS", "in", "IN") else other
        if column not in equality and column not in other:
            bucket.append(column)
    return tuple((equality + other)[:3])


class _Schema:
    """Cached catalogue lookups for one recommendation pass."""

    def __init__(self, store: Store) -> None:
        self.store = store.inner if isinstance(store, MonitoredStore) else store
        self._columns: dict[str, set[str]] = {}
        self._counts: dict[str, int] = {}

    def columns(self, table: str) -> set[str]:
        if table not in self._columns:
            if self.store.dialect == "sqlite":
                rows = self.store.query(f"PRAGMA table_info({table})")
                self._columns[table] = {r[1].lower() for r in rows}
            else:
                rows = self.store.query(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = ?", (table,))
                self._columns[table] = {r[0].lower() for r in rows}
        return self._columns[table]

    def has_table(self, table: str) -> bool:
        return bool(_IDENT.fullmatch(table)) and bool(self.columns(table))

    def row_count_at_least(self, table: str, rows: int) -> bool:
        if table not in self._counts:
            # Bounded: counting stops at `rows`, so a huge table costs no more than that.
            (count,) = self.store.query_one(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT {int(rows)}) AS sample")
            self._counts[table] = count
        return self._counts[table] >= rows

    def leads_an_index(self, table: str, column: str) -> bool:
        if self.store.dialect == "sqlite":
            for _seq, name, *_ in self.store.query(f"PRAGMA index_list({table})"):
                info = self.store.query(f"PRAGMA index_info({name})")
                if info and str(info[0][2]).lower() == column:
                    return True
            return False
        row = self.store.query_one(
            "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(?) AND a.attname = ?",
            (table, column))
        return row is not None


class MonitoredStore(Store):
    """A `Store` whose read queries are timed and, when slow, explained and recorded.

    Everything else (transactions, the pool, backend-specific methods) is the wrapped
    store's own. Writes inside `transaction()` are not timed: they belong to ingests,
    which have their own duration metric.
    """

    def __init__(self, store: Store, slow_log: SlowQueryLog) -> None:
        self.inner = store
        self.slow_log = slow_log
        self.dialect = store.dialect

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def _timed(self, sql: str, params: Sequence[Any]) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        instruments.QUERY_DURATION.observe(elapsed)
        if self.slow_log.is_slow(elapsed * 1000):
            self.slow_log.record(self.inner, sql, params, elapsed * 1000)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a read-only statement, timing it; see `Store.query`."""
        with self._timed(sql, params):
            return self.inner.query(sql, params)

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts, timing the statement; see `Store.query_dicts`."""
        with self._timed(sql, params):
            return self.inner.query_dicts(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """The wrapped store's write transaction."""
        with self.inner.transaction() as tx:
            yield tx

    def ping(self, timeout: float = 2.0) -> None:
        """See `Store.ping`."""
        self.inner.ping(timeout)

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()

"""The project's own Prometheus instruments, and the helpers the engine and services call.

All live in one module-level registry, `REGISTRY`, never in prometheus_client's global
one: each Flask app exposes its own exporter registry plus this one, so many apps in one
test process never collide. Under gunicorn's multiprocess mode (PROMETHEUS_MULTIPROC_DIR
set before Python starts) every value is written to the shared directory instead and the
exporter aggregates all workers; the gauges say how (`multiprocess_mode`).

Creating an instrument opens nothing: with multiprocess mode on, a worker's value files
appear on first use, after the fork.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# --- business ---------------------------------------------------------------------------
COMMITS_ANALYZED = Counter(
    "ades_commits_analyzed", "Commits mined, classified and stored by ingests.",
    registry=REGISTRY)
PATTERNS_EXTRACTED = Counter(
    "ades_patterns_extracted", "Pattern occurrences detected in ingested diffs.",
    registry=REGISTRY)
ACTIVE_SESSIONS = Gauge(
    "ades_active_user_sessions", "Logged-in user sessions that have not expired.",
    registry=REGISTRY, multiprocess_mode="livemostrecent")
INGEST_DURATION = Histogram(
    "ades_ingest_duration_seconds", "Wall time of one repository ingest.", ["outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf")),
    registry=REGISTRY)

# --- optimizer: cache, pool, queries ------------------------------------------------------
CACHE_HITS = Counter("ades_cache_hits", "Lookups answered from a cache.", ["cache"],
                     registry=REGISTRY)
CACHE_MISSES = Counter("ades_cache_misses", "Lookups a cache could not answer.", ["cache"],
                       registry=REGISTRY)
CACHE_EVICTIONS = Counter("ades_cache_evictions",
                          "Entries dropped from a cache to make room or because they expired.",
                          ["cache", "reason"], registry=REGISTRY)
CACHE_SHARED_ERRORS = Counter("ades_cache_shared_errors",
                              "Redis failures of a shared cache tier (the lookup went on without it).",
                              ["cache"], registry=REGISTRY)
CACHE_SHARED_SKIPPED = Counter("ades_cache_shared_skipped",
                               "Values not written to a shared cache tier (too_large, not_json).",
                               ["cache", "reason"], registry=REGISTRY)
CACHE_ENTRIES = Gauge("ades_cache_entries", "Entries held in a cache.", ["cache"],
                      registry=REGISTRY, multiprocess_mode="livesum")
DB_POOL_SIZE = Gauge("ades_db_pool_size", "Open connections in the PostgreSQL pools.",
                     registry=REGISTRY, multiprocess_mode="livesum")
DB_POOL_AVAILABLE = Gauge("ades_db_pool_available",
                          "Idle connections ready in the PostgreSQL pools.",
                          registry=REGISTRY, multiprocess_mode="livesum")
DB_POOL_MAX = Gauge("ades_db_pool_max_size", "Configured maximum of the PostgreSQL pools.",
                    registry=REGISTRY, multiprocess_mode="livesum")
DB_POOL_WAITING = Gauge("ades_db_pool_requests_waiting",
                        "Requests queued for a PostgreSQL connection.",
                        registry=REGISTRY, multiprocess_mode="livesum")
QUERY_DURATION = Histogram(
    "ades_db_query_duration_seconds", "Time spent in read queries issued by services.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")),
    registry=REGISTRY)
SLOW_QUERIES = Counter("ades_slow_queries",
                       "Queries slower than performance.slow_query_ms.", registry=REGISTRY)

# --- threshold alerts (computed per worker over a sliding window) --------------------------
ERROR_RATE = Gauge("ades_http_error_rate", "Share of 5xx responses in the alert window.",
                   registry=REGISTRY, multiprocess_mode="livemax")
LATENCY_P95 = Gauge("ades_http_latency_p95_seconds",
                    "95th percentile request latency in the alert window.",
                    registry=REGISTRY, multiprocess_mode="livemax")
MEMORY_PERCENT = Gauge("ades_memory_used_percent",
                       "Memory in use, as a percentage of the container limit or of RAM.",
                       registry=REGISTRY, multiprocess_mode="livemax")
ALERT_FIRING = Gauge("ades_alert_firing", "1 while a threshold alert is exceeded.",
                     ["alert"], registry=REGISTRY, multiprocess_mode="livemax")


def record_commits_analyzed(count: int) -> None:
    """Count `count` commits stored by an ingest."""
    if count > 0:
        COMMITS_ANALYZED.inc(count)


def record_patterns_extracted(count: int) -> None:
    """Count `count` pattern occurrences found by an ingest."""
    if count > 0:
        PATTERNS_EXTRACTED.inc(count)


def observe_ingest_duration(seconds: float, outcome: str = "succeeded") -> None:
    """Record one ingest's wall time; `outcome` is succeeded, failed or cancelled."""
    INGEST_DURATION.labels(outcome=outcome).observe(max(0.0, seconds))


def set_active_sessions(count: int) -> None:
    """Publish the number of live user sessions (as counted by the session store)."""
    ACTIVE_SESSIONS.set(max(0, count))

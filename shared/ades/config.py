"""Typed configuration: `ades-config.json` overridden by `GAIT_*` env vars, checked at start.

Precedence, lowest first: built-in defaults, the JSON file, env vars, then `overrides`
(a nested dict that tests and app factories pass to `load_config`). Every setting is
declared once in `SETTINGS`; the loader, `ENV_VARS` (which the README table and the
deployment-consistency tests read) and the error messages all come from that table, so
they cannot drift apart.

Loading is strict and side-effect free: an unknown section, key or `GAIT_*` variable, a
value of the wrong type or out of range raises `ConfigError` with a one-line message that
names the key, and nothing is ever written. The one setting that may need a file on disk,
the session secret key, is materialised only by the explicit `ensure_secret_key(config)`.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

CONFIG_FILE_NAME = "ades-config.json"
SECRET_KEY_FILE_NAME = "secret_key"  # noqa: S105 -- a file name, not a secret
SECTIONS = ("server", "performance", "security", "monitoring")
# Services without an explicit metrics port serve /metrics on their own port + this offset.
METRICS_PORT_OFFSET = 1010
# `ades worker` has no service port: without an explicit metrics port it takes the one
# after the four services' local metrics ports (8080-8083 + 1010).
WORKER_METRICS_PORT = 9094

_ENV_PREFIX = "GAIT_"
_FILE_SUFFIX = "_FILE"
_REDACTED = "***"


class ConfigError(ValueError):
    """A configuration source holds something the loader cannot accept.

    The message is one line and starts with where the value came from: an env var name
    (`GAIT_PORT: ...`) or the config file and key (`/etc/ades/ades-config.json: server.port: ...`).
    """


# --------------------------------------------------------------------------- value kinds


class _BadValue(Exception):
    """Raised by a kind's parser; the loader turns it into a ConfigError naming the source."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class _Kind:
    """How one setting is parsed from an env string and from a JSON (or Python) value.

    Parsers return the typed value or raise `_BadValue`; `base` is the directory that
    relative paths are resolved against (the working directory, or the config file's).
    """

    expected = "a value"

    def from_env(self, text: str, base: Path) -> Any:
        raise NotImplementedError

    def from_json(self, value: Any, base: Path) -> Any:
        raise NotImplementedError


class _Int(_Kind):
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.expected = f"an integer between {low} and {high}"

    def from_env(self, text: str, base: Path) -> int:
        text = text.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise _BadValue
        return self._check(int(text))

    def from_json(self, value: Any, base: Path) -> int:
        # bool is a subclass of int; `"port": true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadValue
        return self._check(value)

    def _check(self, value: int) -> int:
        if not self.low <= value <= self.high:
            raise _BadValue
        return value


class _Float(_Kind):
    def __init__(self, low: float, high: float, *, low_inclusive: bool = True) -> None:
        self.low, self.high, self.low_inclusive = low, high, low_inclusive
        lower = "at least" if low_inclusive else "greater than"
        self.expected = f"a number {lower} {low:g} and at most {high:g}"

    def from_env(self, text: str, base: Path) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise _BadValue from None
        return self._check(value)

    def from_json(self, value: Any, base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _BadValue
        return self._check(float(value))

    def _check(self, value: float) -> float:
        if not math.isfinite(value) or value > self.high:
            raise _BadValue
        if value < self.low or (value == self.low and not self.low_inclusive):
            raise _BadValue
        return value


class _Bool(_Kind):
    expected = "a boolean (1/0, true/false, yes/no, on/off)"
    _WORDS = {"1": True, "true": True, "yes": True, "on": True,
              "0": False, "false": False, "no": False, "off": False}

    def from_env(self, text: str, base: Path) -> bool:
        try:
            return self._WORDS[text.strip().lower()]
        except KeyError:
            raise _BadValue from None

    def from_json(self, value: Any, base: Path) -> bool:
        # JSON has real booleans; "true" as a string is almost always a templating slip.
        if not isinstance(value, bool):
            raise _BadValue("JSON booleans are written true or false, without quotes")
        return value


class _Text(_Kind):
    def __init__(self, expected: str = "a non-empty string", pattern: str = r".+") -> None:
        self.expected, self.pattern = expected, pattern

    def from_env(self, text: str, base: Path) -> str:
        return self.from_json(text, base)

    def from_json(self, value: Any, base: Path) -> str:
        if not isinstance(value, str):
            raise _BadValue
        value = value.strip()
        if not re.fullmatch(self.pattern, value, flags=re.DOTALL):
            raise _BadValue
        return value


class _Choice(_Kind):
    """One word out of a fixed set, matched case-insensitively, stored upper-case."""

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.expected = f"one of {', '.join(choices)}"

    def from_env(self, text: str, base: Path) -> str:
        return self.from_json(text, base)

    def from_json(self, value: Any, base: Path) -> str:
        if not isinstance(value, str) or value.strip().upper() not in self.choices:
            raise _BadValue
        return value.strip().upper()


class _Url(_Kind):
    def __init__(self, schemes: tuple[str, ...], *, require_host: bool = False,
                 strip_slash: bool = False) -> None:
        self.schemes, self.require_host, self.strip_slash = schemes, require_host, strip_slash
        self.expected = "a URL starting with " + " or ".join(f"{s}://" for s in schemes)

    def from_env(self, text: str, base: Path) -> str:
        return self.from_json(text, base)

    def from_json(self, value: Any, base: Path) -> str:
        if not isinstance(value, str):
            raise _BadValue
        value = value.strip()
        scheme, sep, _ = value.partition("://")
        if not sep or scheme.lower() not in self.schemes:
            raise _BadValue
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- raises ValueError on a malformed port
        except ValueError as exc:
            raise _BadValue(str(exc)) from None
        if self.require_host and not parts.hostname:
            raise _BadValue("no host")
        return value.rstrip("/") if self.strip_slash else value


class _Dir(_Kind):
    """A directory path, made absolute (relative to `base`); it need not exist yet."""

    expected = "a directory path"

    def from_env(self, text: str, base: Path) -> Path:
        return self.from_json(text, base)

    def from_json(self, value: Any, base: Path) -> Path:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip():
            raise _BadValue
        return _absolute(value.strip(), base)


class _DirList(_Kind):
    expected = (f"one or more directory paths (a JSON list, or {os.pathsep!r}-separated "
                "in the environment)")

    def from_env(self, text: str, base: Path) -> tuple[Path, ...]:
        return self._check([p.strip() for p in text.split(os.pathsep) if p.strip()], base)

    def from_json(self, value: Any, base: Path) -> tuple[Path, ...]:
        if not isinstance(value, list | tuple):
            raise _BadValue
        items = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        if not all(isinstance(v, str) and v.strip() for v in items):
            raise _BadValue
        return self._check([v.strip() for v in items], base)

    def _check(self, items: list[str], base: Path) -> tuple[Path, ...]:
        if not items:
            raise _BadValue
        return tuple(dict.fromkeys(_absolute(item, base) for item in items))


class _WordList(_Kind):
    """A set of lower-case words from a fixed vocabulary; comma-separated in the environment."""

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.expected = f"a list of {', '.join(choices)} (comma-separated in the environment)"

    def from_env(self, text: str, base: Path) -> tuple[str, ...]:
        return self._check([w for w in (w.strip() for w in text.split(",")) if w])

    def from_json(self, value: Any, base: Path) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _BadValue
        return self._check([v.strip() for v in value])

    def _check(self, words: list[str]) -> tuple[str, ...]:
        lowered = [w.lower() for w in words]
        unknown = [w for w in lowered if w not in self.choices]
        if unknown:
            raise _BadValue(f"unknown {unknown[0]!r}")
        return tuple(dict.fromkeys(lowered))


class _RateLimit(_Kind):
    """Flask-Limiter style limits, e.g. "100/minute" or "10/second;1000/hour"."""

    expected = ('limits like "100/minute", several separated by ";" '
                "(units: second, minute, hour, day)")
    _ONE = re.compile(r"\s*([0-9]+)\s*/\s*(second|minute|hour|day)\s*")

    def from_env(self, text: str, base: Path) -> str:
        return self.from_json(text, base)

    def from_json(self, value: Any, base: Path) -> str:
        if not isinstance(value, str):
            raise _BadValue
        limits = []
        for part in value.split(";"):
            match = self._ONE.fullmatch(part)
            if not match or int(match[1]) < 1:
                raise _BadValue(f"bad limit {part.strip()!r}" if ";" in value else "")
            limits.append(f"{int(match[1])}/{match[2]}")
        return ";".join(limits)


def _absolute(path: str, base: Path) -> Path:
    return Path(os.path.normpath(base / Path(path).expanduser()))


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True)
class _Setting:
    """One configuration key: where it lives in the JSON, its env var, type and default.

    `default` is given in JSON form and parsed like any other value, so the defaults obey
    the same rules as user input. `nullable` settings accept JSON null (None); `secret`
    settings may also be read from `<ENV>_FILE` and are redacted in messages and dumps.
    """

    section: str
    key: str
    env: str
    kind: _Kind
    default: Any
    doc: str
    nullable: bool = False
    secret: bool = False

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}"


_PORT = _Int(1, 65535)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_CLONE_SCHEMES = ("https", "http", "ssh", "git", "file")

SETTINGS: tuple[_Setting, ...] = (
    # server
    _Setting("server", "host", "GAIT_HOST", _Text("a host name or IP address", r"[^\s/]+"),
             "127.0.0.1", "Interface the service listens on."),
    _Setting("server", "port", "GAIT_PORT", _PORT, 8080, "Port the service listens on."),
    _Setting("server", "data_dir", "GAIT_DATA_DIR", _Dir(), "./data",
             "Directory for the SQLite database, cloned repositories and the generated "
             "secret key (made absolute)."),
    _Setting("server", "log_level", "GAIT_LOG_LEVEL", _Choice(_LOG_LEVELS), "INFO",
             "Log level: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)."),
    _Setting("server", "postgres_url", "GAIT_POSTGRES_URL",
             _Url(("postgresql", "postgres")), None,
             "PostgreSQL URL; unset means SQLite at $GAIT_DATA_DIR/ades.db.",
             nullable=True, secret=True),
    _Setting("server", "redis_url", "GAIT_REDIS_URL", _Url(("redis", "rediss", "unix")), None,
             "Redis URL for sessions, rate limits and pub/sub; unset means in-process "
             "equivalents.", nullable=True, secret=True),
    _Setting("server", "redis_timeout_seconds", "GAIT_REDIS_TIMEOUT",
             _Float(0.0, 60.0, low_inclusive=False), 0.5,
             "Seconds a Redis call (sessions, rate limits, shared cache) may take before "
             "the feature falls back; the shared query cache waits at most 0.1 s."),
    _Setting("server", "repo_roots", "GAIT_REPO_ROOTS", _DirList(), None,
             f"Directories local repositories may be registered from ({os.pathsep!r}-"
             "separated); default $GAIT_DATA_DIR/repos.", nullable=True),
    _Setting("server", "allow_clone_urls", "GAIT_ALLOW_CLONE_URLS", _Bool(), True,
             "Whether repositories may be registered by clone URL."),
    _Setting("server", "allowed_url_schemes", "GAIT_ALLOWED_URL_SCHEMES",
             _WordList(_CLONE_SCHEMES), ("https", "ssh", "git"),
             "Comma-separated URL schemes accepted for clone URLs."),
    _Setting("server", "workers", "GAIT_WORKERS", _Int(1, 256), 2,
             "Gunicorn worker processes per service."),
    _Setting("server", "request_timeout_seconds", "GAIT_REQUEST_TIMEOUT", _Int(1, 3600), 30,
             "Request timeout in seconds."),
    _Setting("server", "public_url", "GAIT_PUBLIC_URL",
             _Url(("https", "http"), require_host=True, strip_slash=True), None,
             "External base URL of the gateway, used in links and webhooks.", nullable=True),
    # performance
    _Setting("performance", "cache_size", "GAIT_CACHE_SIZE", _Int(0, 10_000_000), 1024,
             "Entries in the in-process LRU query cache (0 disables it)."),
    _Setting("performance", "cache_ttl_seconds", "GAIT_CACHE_TTL", _Int(1, 86_400), 300,
             "Seconds a cached query result stays valid."),
    _Setting("performance", "pool_min_size", "GAIT_POOL_MIN_SIZE", _Int(0, 1000), 1,
             "Minimum PostgreSQL connections kept open per worker."),
    _Setting("performance", "pool_max_size", "GAIT_POOL_MAX_SIZE", _Int(1, 1000), 10,
             "Maximum PostgreSQL connections per worker (at least the minimum)."),
    _Setting("performance", "pool_timeout_seconds", "GAIT_POOL_TIMEOUT",
             _Float(0.0, 300.0, low_inclusive=False), 5.0,
             "Seconds to wait for a free PostgreSQL connection, or for a new one to open."),
    _Setting("performance", "statement_timeout_ms", "GAIT_STATEMENT_TIMEOUT_MS",
             _Int(0, 3_600_000), 15000, "PostgreSQL statement timeout in ms (0 = none)."),
    _Setting("performance", "slow_query_ms", "GAIT_SLOW_QUERY_MS", _Int(0, 3_600_000), 200,
             "Queries slower than this many ms are logged with their plan."),
    _Setting("performance", "gc_target_percentage", "GAIT_GC_TARGET_PERCENTAGE", _Int(0, 100),
             0, "Tune Python's GC thresholds towards this percentage (0 = leave GC alone)."),
    _Setting("performance", "ingest_batch_size", "GAIT_INGEST_BATCH_SIZE", _Int(1, 100_000),
             500, "Commits written per ingest batch."),
    _Setting("performance", "ingest_shards", "GAIT_INGEST_SHARDS", _Int(1, 16), 2,
             "Parallel git log readers per ingest."),
    # security
    _Setting("security", "secret_key", "GAIT_SECRET_KEY", _Text(), None,
             "Key that signs sessions; required in production (shared by all services). "
             "Unset: generated once into $GAIT_DATA_DIR/secret_key.",
             nullable=True, secret=True),
    _Setting("security", "session_idle_minutes", "GAIT_SESSION_IDLE_MINUTES", _Int(1, 10_080),
             60, "Minutes of inactivity after which a session ends."),
    _Setting("security", "session_absolute_hours", "GAIT_SESSION_ABSOLUTE_HOURS",
             _Int(1, 8_760), 12, "Hours after login at which a session ends regardless."),
    _Setting("security", "max_login_attempts", "GAIT_MAX_LOGIN_ATTEMPTS", _Int(1, 1000), 5,
             "Failed logins before an account is locked."),
    _Setting("security", "lockout_minutes", "GAIT_LOCKOUT_MINUTES", _Int(1, 10_080), 15,
             "Minutes an account stays locked."),
    _Setting("security", "rate_limit", "GAIT_RATE_LIMIT", _RateLimit(), "100/minute",
             'Default per-client rate limit, e.g. "100/minute" or "10/second;1000/hour".'),
    _Setting("security", "trusted_proxy_hops", "GAIT_TRUSTED_PROXY_HOPS", _Int(0, 5), 1,
             "Reverse proxies in front of the service whose X-Forwarded-* headers are "
             "trusted."),
    _Setting("security", "enforce_https", "GAIT_ENFORCE_HTTPS", _Bool(), False,
             "Redirect plain HTTP to HTTPS and send HSTS."),
    _Setting("security", "webhook_secret", "GAIT_WEBHOOK_SECRET", _Text(), None,
             "Shared secret that verifies incoming webhook signatures.",
             nullable=True, secret=True),
    _Setting("security", "cookie_secure", "GAIT_COOKIE_SECURE", _Bool(), False,
             "Mark session cookies Secure (HTTPS only)."),
    _Setting("security", "alert_webhook_token", "GAIT_ALERT_WEBHOOK_TOKEN",
             _Text("a token of at least 16 characters", r"\S{16,}"), None,
             "Bearer token Alertmanager sends to the ui's POST /api/alerts/webhook; unset "
             "disables that endpoint.", nullable=True, secret=True),
    _Setting("security", "token_cache_seconds", "GAIT_TOKEN_CACHE_SECONDS", _Float(0.0, 3600.0),
             30.0, "PostgreSQL only: seconds a worker may keep a resolved API token in memory; a "
             "revocation or account change notifies every worker at once (LISTEN/NOTIFY), this "
             "bounds the rest. 0 looks every token up (needed behind a transaction-mode "
             "pgbouncer, which drops notifications)."),
    # monitoring
    _Setting("monitoring", "enable_metrics", "GAIT_ENABLE_METRICS", _Bool(), True,
             "Serve Prometheus metrics."),
    _Setting("monitoring", "metrics_port", "GAIT_METRICS_PORT", _PORT, None,
             f"Port for /metrics; unset means the service port + {METRICS_PORT_OFFSET} "
             f"(for `ades worker`: {WORKER_METRICS_PORT}).", nullable=True),
    _Setting("monitoring", "alert_error_rate", "GAIT_ALERT_ERROR_RATE",
             _Float(0.0, 1.0, low_inclusive=False), 0.05,
             "Alert when the 5xx ratio exceeds this fraction."),
    _Setting("monitoring", "alert_latency_p95_seconds", "GAIT_ALERT_LATENCY_P95_SECONDS",
             _Float(0.0, 3600.0, low_inclusive=False), 2.0,
             "Alert when p95 request latency exceeds this many seconds."),
    _Setting("monitoring", "alert_memory_percent", "GAIT_ALERT_MEMORY_PERCENT", _Int(1, 100),
             80, "Alert when memory use exceeds this percentage."),
    _Setting("monitoring", "alert_disk_percent", "GAIT_ALERT_DISK_PERCENT", _Int(1, 100), 85,
             "Alert when disk use exceeds this percentage."),
)

_BY_ENV = {s.env: s for s in SETTINGS}
_BY_PATH = {s.path: s for s in SETTINGS}
_SECRET_ENVS = tuple(s.env for s in SETTINGS if s.secret)


class EnvVar(NamedTuple):
    """One row of the env var table: the JSON key it sets, its default and what it does.

    `key` is None for variables that are not settings themselves (`GAIT_CONFIG_PATH`, and
    `*_FILE` forms carry the key they fill). `default` is None when unset means "derived"
    or "absent"; the doc line says which.
    """

    key: str | None
    default: Any
    doc: str


def _env_table() -> dict[str, EnvVar]:
    table = {"GAIT_CONFIG_PATH": EnvVar(
        None, None,
        f"Path of {CONFIG_FILE_NAME}; default $GAIT_DATA_DIR/{CONFIG_FILE_NAME} if it exists.")}
    for s in SETTINGS:
        table[s.env] = EnvVar(s.path, s.default, s.doc)
        if s.secret:
            table[s.env + _FILE_SUFFIX] = EnvVar(
                s.path, None, f"File whose contents (stripped) are used as {s.env}.")
    return table


ENV_VARS: dict[str, EnvVar] = _env_table()


# --------------------------------------------------------------------------- the config


@dataclass(frozen=True)
class ServerConfig:
    """Where and how a service listens, and where its data lives."""

    host: str
    port: int
    data_dir: Path
    log_level: str
    postgres_url: str | None = field(repr=False)
    redis_url: str | None = field(repr=False)
    redis_timeout_seconds: float
    repo_roots: tuple[Path, ...]
    allow_clone_urls: bool
    allowed_url_schemes: tuple[str, ...]
    workers: int
    request_timeout_seconds: int
    public_url: str | None


@dataclass(frozen=True)
class PerformanceConfig:
    """Cache, connection pool, query and ingest tuning."""

    cache_size: int
    cache_ttl_seconds: int
    pool_min_size: int
    pool_max_size: int
    pool_timeout_seconds: float
    statement_timeout_ms: int
    slow_query_ms: int
    gc_target_percentage: int
    ingest_batch_size: int
    ingest_shards: int


@dataclass(frozen=True)
class SecurityConfig:
    """Sessions, login lockout, rate limits, proxies and secrets."""

    secret_key: str | None = field(repr=False)
    session_idle_minutes: int
    session_absolute_hours: int
    max_login_attempts: int
    lockout_minutes: int
    rate_limit: str
    trusted_proxy_hops: int
    enforce_https: bool
    webhook_secret: str | None = field(repr=False)
    cookie_secure: bool
    alert_webhook_token: str | None = field(repr=False)
    token_cache_seconds: float


@dataclass(frozen=True)
class MonitoringConfig:
    """Prometheus metrics and the thresholds the alert rules use."""

    enable_metrics: bool
    metrics_port: int | None
    alert_error_rate: float
    alert_latency_p95_seconds: float
    alert_memory_percent: int
    alert_disk_percent: int


_SECTION_TYPES: dict[str, type] = {
    "server": ServerConfig,
    "performance": PerformanceConfig,
    "security": SecurityConfig,
    "monitoring": MonitoringConfig,
}


@dataclass(frozen=True)
class Config:
    """The whole validated configuration, plus values derived from it.

    `config_path` is the JSON file that was read, or None when there was none.
    """

    server: ServerConfig
    performance: PerformanceConfig
    security: SecurityConfig
    monitoring: MonitoringConfig
    config_path: Path | None = None

    @property
    def data_dir(self) -> Path:
        """The absolute data directory (`server.data_dir`)."""
        return self.server.data_dir

    @property
    def sqlite_path(self) -> Path:
        """Where the SQLite database lives when PostgreSQL is not configured."""
        return self.server.data_dir / "ades.db"

    @property
    def uses_postgres(self) -> bool:
        """True when `GAIT_POSTGRES_URL` (or the file's `server.postgres_url`) is set."""
        return self.server.postgres_url is not None

    @property
    def uses_redis(self) -> bool:
        """True when Redis is configured; otherwise in-process equivalents are used."""
        return self.server.redis_url is not None

    @property
    def database_url(self) -> str:
        """The PostgreSQL URL, else `sqlite:///<absolute sqlite_path>`."""
        if self.server.postgres_url is not None:
            return self.server.postgres_url
        return f"sqlite:///{self.sqlite_path}"

    @property
    def secret_key_path(self) -> Path:
        """Where `ensure_secret_key` keeps a generated key when none is configured."""
        return self.server.data_dir / SECRET_KEY_FILE_NAME

    def metrics_port_for(self, service_port: int | None = None) -> int:
        """The port that serves /metrics for a service listening on `service_port`.

        That is `monitoring.metrics_port` when set, else the service port (default
        `server.port`) + METRICS_PORT_OFFSET.
        """
        if self.monitoring.metrics_port is not None:
            return self.monitoring.metrics_port
        port = self.server.port if service_port is None else service_port
        return port + METRICS_PORT_OFFSET

    def to_public_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data with secrets redacted.

        Secret keys read `"***"` when set; database and Redis URLs keep scheme, host,
        port and path but lose their password and query string. Meant for
        `/api/health/detailed` and `ades ... --json` diagnostics.
        """
        public: dict[str, Any] = {}
        for name in SECTIONS:
            section = getattr(self, name)
            public[name] = {s.key: _public_value(s, getattr(section, s.key))
                            for s in SETTINGS if s.section == name}
        public["config_path"] = str(self.config_path) if self.config_path else None
        return public


def _public_value(setting: _Setting, value: Any) -> Any:
    if value is None:
        return None
    if setting.secret:
        return _redact_url(value) if isinstance(setting.kind, _Url) else _REDACTED
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [str(v) for v in value]
    return value


def _redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return _REDACTED
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    user = ""
    if parts.username is not None or parts.password is not None:
        user = (parts.username or "") + (f":{_REDACTED}" if parts.password is not None else "")
        user += "@"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


# --------------------------------------------------------------------------- the loader

# A parsed value and the label of where it came from, used to prefix error messages.
_Sourced = tuple[Any, str]


def load_config(environ: Mapping[str, str] | None = None, *,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Build the validated `Config` from defaults, the JSON file, env vars and `overrides`.

    `environ` defaults to `os.environ`. The JSON file is `GAIT_CONFIG_PATH` (which must
    exist), else `<data_dir>/ades-config.json` when that file exists. An empty env var
    counts as unset. `overrides` is a nested mapping like `{"server": {"port": 1}}`,
    checked like the JSON file and applied last; Python values such as `Path` objects and
    tuples are accepted there.

    Raises ConfigError naming the offending env var or key. Reads files, never writes.
    """
    env = os.environ if environ is None else environ
    _reject_unknown_env_vars(env)
    env_values = _read_env(env)
    override_values = (_read_tree(overrides, "overrides", Path.cwd())
                       if overrides is not None else {})
    config_path = _find_config_file(env, env_values, override_values)
    file_values = _read_config_file(config_path) if config_path else {}

    values: dict[_Setting, _Sourced] = {s: _default(s) for s in SETTINGS}
    for layer in (file_values, env_values, override_values):
        values.update(layer)
    return _build(values, config_path)


def _default(setting: _Setting) -> _Sourced:
    label = f"{setting.path} (default)"
    if setting.default is None:
        return None, label
    return setting.kind.from_json(setting.default, Path.cwd()), label


def _reject_unknown_env_vars(env: Mapping[str, str]) -> None:
    for name in sorted(env):
        if not name.startswith(_ENV_PREFIX) or name in ENV_VARS:
            continue
        if name.endswith(_FILE_SUFFIX) and name.removesuffix(_FILE_SUFFIX) in _BY_ENV:
            raise ConfigError(
                f"{name}: {name.removesuffix(_FILE_SUFFIX)} cannot be read from a file; "
                f"only {', '.join(_SECRET_ENVS)} can")
        raise ConfigError(f"{name}: unknown setting{_suggest(name, ENV_VARS)}")


def _read_env(env: Mapping[str, str]) -> dict[_Setting, _Sourced]:
    values: dict[_Setting, _Sourced] = {}
    cwd = Path.cwd()
    for setting in SETTINGS:
        label, text = setting.env, env.get(setting.env, "")
        file_var = setting.env + _FILE_SUFFIX
        if setting.secret and env.get(file_var, ""):
            if text:
                raise ConfigError(f"{setting.env}: both {setting.env} and {file_var} are set; "
                                  "use one")
            label, text = file_var, _read_secret_file(file_var, env[file_var])
        if not text:
            continue
        try:
            values[setting] = setting.kind.from_env(text, cwd), label
        except _BadValue as exc:
            raise ConfigError(_bad_value_message(label, setting, text, exc, env=True)) from None
    return values


def _read_secret_file(var: str, path_text: str) -> str:
    path = Path(path_text).expanduser()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{var}: cannot read {str(path)!r}: {reason}") from None
    if not text:
        raise ConfigError(f"{var}: file {str(path)!r} is empty")
    return text


def _find_config_file(env: Mapping[str, str], env_values: dict[_Setting, _Sourced],
                      override_values: dict[_Setting, _Sourced]) -> Path | None:
    explicit = env.get("GAIT_CONFIG_PATH", "")
    if explicit:
        path = _absolute(explicit, Path.cwd())
        if not path.is_file():
            raise ConfigError(f"GAIT_CONFIG_PATH: no such file {str(path)!r}")
        return path
    # The file may set data_dir too, but it cannot be found through its own setting.
    data_dir_setting = _BY_PATH["server.data_dir"]
    for layer in (override_values, env_values):
        if data_dir_setting in layer:
            data_dir = layer[data_dir_setting][0]
            break
    else:
        data_dir = _default(data_dir_setting)[0]
    candidate = data_dir / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


def _read_config_file(path: Path) -> dict[_Setting, _Sourced]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read: {reason}") from None
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg}") from None
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: key {exc.args[0]!r} appears twice in one object") from None
    return _read_tree(data, str(path), path.parent)


class _DuplicateKey(Exception):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _read_tree(tree: Any, origin: str, base: Path) -> dict[_Setting, _Sourced]:
    """Check a `{section: {key: value}}` mapping (the JSON file or overrides)."""
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{origin}: expected an object of sections "
                          f"({', '.join(SECTIONS)}), got {_show_json(tree)}")
    values: dict[_Setting, _Sourced] = {}
    for section, keys in tree.items():
        if section not in SECTIONS:
            raise ConfigError(f"{origin}: unknown section {section!r}"
                              f"{_suggest(str(section), SECTIONS)}; expected one of "
                              f"{', '.join(SECTIONS)}")
        if not isinstance(keys, Mapping):
            raise ConfigError(f"{origin}: {section}: expected an object, "
                              f"got {_show_json(keys)}")
        for key, value in keys.items():
            dotted = f"{section}.{key}"
            setting = _BY_PATH.get(dotted)
            if setting is None:
                raise ConfigError(f"{origin}: {dotted}: unknown key"
                                  f"{_suggest(dotted, _BY_PATH)}")
            label = f"{origin}: {dotted}"
            if value is None and setting.nullable:
                values[setting] = None, label
                continue
            try:
                values[setting] = setting.kind.from_json(value, base), label
            except _BadValue as exc:
                raise ConfigError(
                    _bad_value_message(label, setting, value, exc, env=False)) from None
    return values


def _build(values: dict[_Setting, _Sourced], config_path: Path | None) -> Config:
    fields: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for setting, (value, _) in values.items():
        fields[setting.section][setting.key] = value
    server = fields["server"]
    if server["repo_roots"] is None:
        server["repo_roots"] = (server["data_dir"] / "repos",)
    _check_relations(values)
    sections = {name: _SECTION_TYPES[name](**fields[name]) for name in SECTIONS}
    return Config(**sections, config_path=config_path)


def _check_relations(values: dict[_Setting, _Sourced]) -> None:
    """Checks that involve two settings; the message blames the one the user set."""

    def get(path: str) -> _Sourced:
        return values[_BY_PATH[path]]

    def is_default(label: str) -> bool:
        return label.endswith("(default)")

    (low, low_label), (high, high_label) = (get("performance.pool_min_size"),
                                            get("performance.pool_max_size"))
    if high < low:
        if is_default(high_label):
            raise ConfigError(f"{low_label}: must be at most performance.pool_max_size "
                              f"({high}), got {low}")
        raise ConfigError(f"{high_label}: must be at least performance.pool_min_size "
                          f"({low}), got {high}")

    (idle, idle_label), (hours, hours_label) = (get("security.session_idle_minutes"),
                                                get("security.session_absolute_hours"))
    if idle > hours * 60:
        if is_default(hours_label):
            raise ConfigError(f"{idle_label}: must not exceed security.session_absolute_hours "
                              f"({hours} h = {hours * 60} min), got {idle}")
        raise ConfigError(f"{hours_label}: must cover security.session_idle_minutes "
                          f"({idle} min), got {hours}")

    (port, port_label), (metrics, metrics_label) = (get("server.port"),
                                                    get("monitoring.metrics_port"))
    if metrics is not None and metrics == port:
        raise ConfigError(f"{metrics_label}: must differ from server.port ({port})")
    if metrics is None and port + METRICS_PORT_OFFSET > 65535:
        raise ConfigError(f"{port_label}: {port} + {METRICS_PORT_OFFSET} (the default metrics "
                          "port) exceeds 65535; choose a lower port or set GAIT_METRICS_PORT")


def _bad_value_message(label: str, setting: _Setting, value: Any, exc: _BadValue,
                       *, env: bool) -> str:
    shown = _show_secret(value) if setting.secret else repr(value) if env else _show_json(value)
    reason = f" ({exc.reason})" if exc.reason and not setting.secret else ""
    return f"{label}: expected {setting.kind.expected}, got {shown}{reason}"


def _show_json(value: Any) -> str:
    """Describe a JSON value so its type is obvious: `the string "80"` vs `80`."""
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return type(value).__name__


def _show_secret(value: Any) -> str:
    """Describe a secret without echoing it: only a URL scheme, if any, is shown."""
    if isinstance(value, str) and "://" in value:
        return f"{value.split('://', 1)[0] + '://'!r}... (rest redacted)"
    return "a value (redacted)"


def _suggest(name: str, known: Any) -> str:
    matches = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {matches[0]}?)" if matches else ""


# --------------------------------------------------------------------------- secret key


def ensure_secret_key(config: Config) -> str:
    """Return the key that signs sessions, creating a persistent one if none is configured.

    With `security.secret_key` set (GAIT_SECRET_KEY or its _FILE form) that key is
    returned and nothing touches the disk. Otherwise the key in `config.secret_key_path`
    (`<data_dir>/secret_key`) is returned, generated first if missing: created with mode
    0600, atomically, so concurrent workers agree on one key. Raises ConfigError when the
    file cannot be read or created, or when its permissions let others read it.
    """
    if config.security.secret_key:
        return config.security.secret_key
    path = config.secret_key_path
    existing = _read_key_file(path)
    if existing is not None:
        return existing
    key = secrets.token_urlsafe(48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file 0600; linking it into place publishes a complete file
        # or fails if another process won the race, in which case its key is used.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as tmp:
                tmp.write(key + "\n")
                tmp.flush()
                os.fsync(tmp.fileno())
            os.link(tmp_name, path)
        finally:
            os.unlink(tmp_name)
    except FileExistsError:
        winner = _read_key_file(path)
        if winner is None:
            raise ConfigError(f"{path}: vanished while being created") from None
        return winner
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the secret key file ({exc.strerror}); "
                          "set GAIT_SECRET_KEY or make the data directory writable") from None
    return key


def _read_key_file(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secret key file ({exc.strerror})") from None
    with os.fdopen(fd, encoding="utf-8") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & 0o077:
            raise ConfigError(f"{path}: permissions {mode:04o} let other users read the "
                              "secret key; run chmod 600 on it")
        key = handle.read().strip()
    if not key:
        raise ConfigError(f"{path}: the secret key file is empty; delete it to regenerate")
    return key

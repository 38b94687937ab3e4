"""The configuration loader: defaults, the JSON file, env vars, secrets and strict checking.

Tests pass an `environ` dict instead of touching os.environ, and point GAIT_DATA_DIR at a
temporary directory so no real ades-config.json can leak in.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ades.config import (
    ENV_VARS,
    SECTIONS,
    Config,
    ConfigError,
    MonitoringConfig,
    PerformanceConfig,
    SecurityConfig,
    ServerConfig,
    ensure_secret_key,
    load_config,
)

SECTION_TYPES = {
    "server": ServerConfig,
    "performance": PerformanceConfig,
    "security": SecurityConfig,
    "monitoring": MonitoringConfig,
}
SECRET_VARS = ["GAIT_SECRET_KEY", "GAIT_POSTGRES_URL", "GAIT_REDIS_URL", "GAIT_WEBHOOK_SECRET"]
SECRET_VALUES = {
    "GAIT_SECRET_KEY": ("security", "secret_key", "s3cret-key-value"),
    "GAIT_POSTGRES_URL": ("server", "postgres_url", "postgresql://ades:pw@db:5432/ades"),
    "GAIT_REDIS_URL": ("server", "redis_url", "redis://:pw@cache:6379/0"),
    "GAIT_WEBHOOK_SECRET": ("security", "webhook_secret", "hook-secret"),
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data directory that does not exist yet (the loader must not create it)."""
    return tmp_path / "data"


@pytest.fixture
def environ(data_dir: Path) -> dict[str, str]:
    """A minimal environment: only the data directory is set."""
    return {"GAIT_DATA_DIR": str(data_dir)}


def write_config(path: Path, content: object) -> Path:
    """Write `content` (JSON-encoded unless already a string) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def load_error(environ: dict[str, str], **kwargs: object) -> str:
    """Load and return the ConfigError message, failing if loading succeeds."""
    with pytest.raises(ConfigError) as excinfo:
        load_config(environ, **kwargs)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- defaults


def test_it_uses_the_documented_defaults_when_nothing_is_configured(environ, data_dir):
    config = load_config(environ)

    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8080
    assert config.server.data_dir == data_dir
    assert config.server.log_level == "INFO"
    assert config.server.postgres_url is None
    assert config.server.redis_url is None
    assert config.server.allow_clone_urls is True
    assert config.server.allowed_url_schemes == ("https", "ssh", "git")
    assert config.server.workers == 2
    assert config.server.request_timeout_seconds == 30
    assert config.server.public_url is None
    assert config.server.redis_timeout_seconds == 0.5
    assert config.performance == PerformanceConfig(
        cache_size=1024, cache_ttl_seconds=300, pool_min_size=1, pool_max_size=10,
        pool_timeout_seconds=5.0, statement_timeout_ms=15000, slow_query_ms=200, gc_target_percentage=0,
        ingest_batch_size=500, ingest_shards=2)
    assert config.security == SecurityConfig(
        secret_key=None, session_idle_minutes=60, session_absolute_hours=12,
        max_login_attempts=5, lockout_minutes=15, rate_limit="100/minute",
        trusted_proxy_hops=1, enforce_https=False, webhook_secret=None, cookie_secure=False,
        alert_webhook_token=None, token_cache_seconds=30.0)
    assert config.monitoring == MonitoringConfig(
        enable_metrics=True, metrics_port=None, alert_error_rate=0.05,
        alert_latency_p95_seconds=2.0, alert_memory_percent=80, alert_disk_percent=85)
    assert config.config_path is None


def test_the_default_data_dir_is_data_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    config = load_config({})

    assert config.server.data_dir == tmp_path / "data"
    assert config.server.data_dir.is_absolute()


def test_repo_roots_default_to_repos_under_the_data_dir(environ, data_dir):
    assert load_config(environ).server.repo_roots == (data_dir / "repos",)


def test_it_uses_sqlite_in_the_data_dir_without_a_postgres_url(environ, data_dir):
    config = load_config(environ)

    assert not config.uses_postgres
    assert not config.uses_redis
    assert config.sqlite_path == data_dir / "ades.db"
    assert config.database_url == f"sqlite:///{data_dir / 'ades.db'}"


def test_it_uses_the_postgres_url_as_database_url_when_set(environ):
    url = "postgresql://ades@127.0.0.1:5432/ades"

    config = load_config({**environ, "GAIT_POSTGRES_URL": url})

    assert config.uses_postgres
    assert config.database_url == url


def test_the_config_is_immutable(environ):
    config = load_config(environ)

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]


def test_the_metrics_port_defaults_to_the_service_port_plus_1010(environ):
    config = load_config(environ)

    assert config.metrics_port_for() == 9090
    assert config.metrics_port_for(8082) == 9092


def test_an_explicit_metrics_port_serves_every_service(environ):
    config = load_config({**environ, "GAIT_METRICS_PORT": "9090"})

    assert config.metrics_port_for(8083) == 9090


# --------------------------------------------------------------------------- the env table


def test_every_dataclass_field_has_exactly_one_env_var():
    keys = {row.key for name, row in ENV_VARS.items() if not name.endswith("_FILE")} - {None}
    fields = {f"{section}.{f.name}" for section in SECTIONS
              for f in dataclasses.fields(SECTION_TYPES[section])}

    assert keys == fields


def test_the_env_table_names_key_default_and_doc_for_each_var():
    assert ENV_VARS["GAIT_PORT"] == ("server.port", 8080, ENV_VARS["GAIT_PORT"].doc)
    assert ENV_VARS["GAIT_REQUEST_TIMEOUT"].key == "server.request_timeout_seconds"
    assert ENV_VARS["GAIT_CACHE_TTL"].key == "performance.cache_ttl_seconds"
    assert ENV_VARS["GAIT_CONFIG_PATH"].key is None
    for name, (_, _, doc) in ENV_VARS.items():
        assert name.startswith("GAIT_")
        assert doc and "\n" not in doc, name


@pytest.mark.parametrize("name", [n for n, row in ENV_VARS.items()
                                  if row.key and not n.endswith("_FILE")])
def test_each_env_var_default_is_what_the_loader_produces(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    section, key = ENV_VARS[name].key.split(".")
    default = ENV_VARS[name].default
    value = getattr(getattr(load_config({}), section), key)

    if default is None:
        assert value is None or key == "repo_roots"
    elif key == "data_dir":
        assert value == tmp_path / "data"
    else:
        assert value == default


def test_secret_vars_have_file_forms_in_the_env_table():
    for name in SECRET_VARS:
        assert ENV_VARS[f"{name}_FILE"].key == ENV_VARS[name].key


# --------------------------------------------------------------------------- the JSON file


def test_it_loads_the_file_named_by_gait_config_path(environ, tmp_path):
    path = write_config(tmp_path / "etc" / "ades-config.json", {
        "server": {"port": 9000, "log_level": "debug", "allowed_url_schemes": ["https"]},
        "performance": {"cache_size": 10},
        "security": {"enforce_https": True, "rate_limit": "10/second;1000/hour"},
        "monitoring": {"alert_error_rate": 0.1},
    })

    config = load_config({**environ, "GAIT_CONFIG_PATH": str(path)})

    assert config.server.port == 9000
    assert config.server.log_level == "DEBUG"
    assert config.server.allowed_url_schemes == ("https",)
    assert config.performance.cache_size == 10
    assert config.security.enforce_https is True
    assert config.security.rate_limit == "10/second;1000/hour"
    assert config.monitoring.alert_error_rate == 0.1
    assert config.config_path == path


def test_it_finds_ades_config_json_in_the_data_dir(environ, data_dir):
    path = write_config(data_dir / "ades-config.json", {"server": {"workers": 4}})

    config = load_config(environ)

    assert config.server.workers == 4
    assert config.config_path == path


def test_overrides_can_move_the_data_dir_where_the_file_is_found(tmp_path):
    write_config(tmp_path / "elsewhere" / "ades-config.json", {"server": {"workers": 3}})

    config = load_config({}, overrides={"server": {"data_dir": tmp_path / "elsewhere"}})

    assert config.server.workers == 3


def test_a_missing_explicit_config_file_is_an_error(environ, tmp_path):
    missing = tmp_path / "nope.json"

    message = load_error({**environ, "GAIT_CONFIG_PATH": str(missing)})

    assert message == f"GAIT_CONFIG_PATH: no such file {str(missing)!r}"


def test_relative_paths_in_the_file_are_relative_to_the_file(environ, tmp_path):
    path = write_config(tmp_path / "etc" / "ades-config.json",
                        {"server": {"data_dir": "state", "repo_roots": ["../src", "/srv/git"]}})

    config = load_config({"GAIT_CONFIG_PATH": str(path)})

    assert config.server.data_dir == tmp_path / "etc" / "state"
    assert config.server.repo_roots == (tmp_path / "src", Path("/srv/git"))


def test_an_env_var_beats_the_file(environ, data_dir):
    write_config(data_dir / "ades-config.json", {"server": {"port": 9000, "workers": 4}})

    config = load_config({**environ, "GAIT_PORT": "9100"})

    assert config.server.port == 9100
    assert config.server.workers == 4


def test_overrides_beat_env_and_file(environ, data_dir):
    write_config(data_dir / "ades-config.json", {"server": {"port": 9000}})

    config = load_config({**environ, "GAIT_PORT": "9100"}, overrides={"server": {"port": 9200}})

    assert config.server.port == 9200


def test_json_null_resets_an_optional_setting(environ, data_dir):
    write_config(data_dir / "ades-config.json", {"monitoring": {"metrics_port": None}})

    assert load_config({**environ, "GAIT_METRICS_PORT": "9999"}).monitoring.metrics_port == 9999
    assert load_config(environ).monitoring.metrics_port is None


def test_malformed_json_is_reported_with_line_and_column(environ, data_dir):
    path = write_config(data_dir / "ades-config.json", '{\n  "server": {"port": 80,}\n}\n')

    message = load_error(environ)

    assert message.startswith(f"{path}: invalid JSON at line 2, column 25: "
                              "Expecting property name")


def test_a_key_repeated_in_the_file_is_an_error(environ, data_dir):
    path = write_config(data_dir / "ades-config.json", '{"server": {"port": 1, "port": 2}}')

    assert load_error(environ) == f"{path}: key 'port' appears twice in one object"


def test_a_file_that_is_not_an_object_is_an_error(environ, data_dir):
    path = write_config(data_dir / "ades-config.json", [1, 2])

    assert load_error(environ).startswith(f"{path}: expected an object of sections")


def test_a_section_that_is_not_an_object_is_an_error(environ, data_dir):
    path = write_config(data_dir / "ades-config.json", {"server": 8080})

    assert load_error(environ) == f"{path}: server: expected an object, got 8080"


def test_an_unknown_section_is_named(environ, data_dir):
    path = write_config(data_dir / "ades-config.json", {"sever": {}})

    message = load_error(environ)

    assert message.startswith(f"{path}: unknown section 'sever' (did you mean server?)")


def test_an_unknown_key_is_named_with_a_suggestion(environ, data_dir):
    path = write_config(data_dir / "ades-config.json", {"server": {"prot": 80}})

    assert load_error(environ) == f"{path}: server.prot: unknown key (did you mean server.port?)"


def test_an_unknown_override_key_is_named(environ):
    message = load_error(environ, overrides={"performance": {"cache": 1}})

    assert message.startswith("overrides: performance.cache: unknown key")


@pytest.mark.parametrize(("section", "key", "value", "got"), [
    ("server", "port", "abc", 'got the string "abc"'),
    ("server", "port", "8080", 'got the string "8080"'),
    ("server", "port", 0, "got 0"),
    ("server", "port", 70000, "got 70000"),
    ("server", "port", 80.5, "got 80.5"),
    ("server", "port", True, "got true"),
    ("server", "port", None, "got null"),
    ("server", "host", "", 'got the string ""'),
    ("server", "host", "my host", 'got the string "my host"'),
    ("server", "data_dir", 5, "got 5"),
    ("server", "log_level", "verbose", 'got the string "verbose"'),
    ("server", "repo_roots", "/srv/git", 'got the string "/srv/git"'),
    ("server", "repo_roots", [], "got a list"),
    ("server", "allow_clone_urls", "true", 'got the string "true"'),
    ("server", "allow_clone_urls", 1, "got 1"),
    ("server", "allowed_url_schemes", ["https", "ftp"], "got a list (unknown 'ftp')"),
    ("server", "allowed_url_schemes", "https", 'got the string "https"'),
    ("server", "workers", 0, "got 0"),
    ("server", "public_url", "example.com", 'got the string "example.com"'),
    ("server", "public_url", "https://", 'got the string "https://" (no host)'),
    ("performance", "cache_size", -1, "got -1"),
    ("performance", "gc_target_percentage", 101, "got 101"),
    ("performance", "ingest_batch_size", 100001, "got 100001"),
    ("performance", "ingest_shards", 17, "got 17"),
    ("performance", "ingest_shards", {}, "got an object"),
    ("security", "rate_limit", "100 per minute", 'got the string "100 per minute"'),
    ("security", "rate_limit", "0/minute", 'got the string "0/minute"'),
    ("security", "trusted_proxy_hops", 6, "got 6"),
    ("security", "enforce_https", "yes", 'got the string "yes"'),
    ("monitoring", "enable_metrics", "false", 'got the string "false"'),
    ("monitoring", "alert_error_rate", 1.5, "got 1.5"),
    ("monitoring", "alert_error_rate", 0, "got 0"),
    ("monitoring", "alert_memory_percent", 150, "got 150"),
])
def test_a_bad_value_in_the_file_names_the_key(environ, data_dir, section, key, value, got):
    path = write_config(data_dir / "ades-config.json", {section: {key: value}})

    message = load_error(environ)

    assert message.startswith(f"{path}: {section}.{key}: expected ")
    assert got in message


def test_json_booleans_given_as_strings_say_how_to_write_them(environ, data_dir):
    write_config(data_dir / "ades-config.json", {"monitoring": {"enable_metrics": "true"}})

    assert "written true or false, without quotes" in load_error(environ)


def test_a_bad_secret_in_the_file_is_not_echoed(environ, data_dir):
    write_config(data_dir / "ades-config.json",
                 {"server": {"postgres_url": "mysql://root:hunter2@db/ades"}})

    message = load_error(environ)

    assert "server.postgres_url: expected a URL starting with postgresql://" in message
    assert "hunter2" not in message


# --------------------------------------------------------------------------- env vars


def test_env_vars_set_every_kind_of_setting(environ, tmp_path):
    roots = os.pathsep.join([str(tmp_path / "a"), "relative", str(tmp_path / "a")])

    config = load_config({
        **environ,
        "GAIT_HOST": "0.0.0.0",
        "GAIT_LOG_LEVEL": "warning",
        "GAIT_REPO_ROOTS": roots,
        "GAIT_ALLOWED_URL_SCHEMES": " HTTPS, ssh ,",
        "GAIT_PUBLIC_URL": "https://ades.example.com/",
        "GAIT_REDIS_URL": "unix:///run/redis.sock?db=1",
        "GAIT_POOL_MAX_SIZE": "20",
        "GAIT_ENFORCE_HTTPS": "on",
        "GAIT_RATE_LIMIT": "5/second; 100/minute",
        "GAIT_ALERT_LATENCY_P95_SECONDS": "0.5",
    })

    assert config.server.host == "0.0.0.0"
    assert config.server.log_level == "WARNING"
    assert config.server.repo_roots == (tmp_path / "a", Path.cwd() / "relative")
    assert config.server.allowed_url_schemes == ("https", "ssh")
    assert config.server.public_url == "https://ades.example.com"
    assert config.uses_redis
    assert config.performance.pool_max_size == 20
    assert config.security.enforce_https is True
    assert config.security.rate_limit == "5/second;100/minute"
    assert config.monitoring.alert_latency_p95_seconds == 0.5


@pytest.mark.parametrize(("text", "expected"), [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), ("On", True),
    ("0", False), ("false", False), ("no", False), ("off", False), (" False ", False),
])
def test_booleans_accept_the_usual_spellings(environ, text, expected):
    config = load_config({**environ, "GAIT_ENABLE_METRICS": text})

    assert config.monitoring.enable_metrics is expected


def test_an_empty_env_var_counts_as_unset(environ, data_dir):
    write_config(data_dir / "ades-config.json", {"server": {"port": 9000}})

    config = load_config({**environ, "GAIT_PORT": "", "GAIT_REDIS_URL": ""})

    assert config.server.port == 9000
    assert config.server.redis_url is None


def test_the_exact_message_for_a_bad_port(environ):
    message = load_error({**environ, "GAIT_PORT": "eighty"})

    assert message == "GAIT_PORT: expected an integer between 1 and 65535, got 'eighty'"


@pytest.mark.parametrize(("name", "text"), [
    ("GAIT_PORT", "eighty"),
    ("GAIT_PORT", "0"),
    ("GAIT_PORT", "70000"),
    ("GAIT_PORT", "80.5"),
    ("GAIT_PORT", "1_000"),
    ("GAIT_HOST", "my host"),
    ("GAIT_LOG_LEVEL", "verbose"),
    ("GAIT_REPO_ROOTS", os.pathsep),
    ("GAIT_ALLOW_CLONE_URLS", "maybe"),
    ("GAIT_ALLOWED_URL_SCHEMES", "https,ftp"),
    ("GAIT_WORKERS", "-1"),
    ("GAIT_REQUEST_TIMEOUT", "30s"),
    ("GAIT_PUBLIC_URL", "ades.example.com"),
    ("GAIT_PUBLIC_URL", "https://host:port"),
    ("GAIT_CACHE_TTL", "0"),
    ("GAIT_POOL_MIN_SIZE", "-1"),
    ("GAIT_STATEMENT_TIMEOUT_MS", "fast"),
    ("GAIT_GC_TARGET_PERCENTAGE", "-1"),
    ("GAIT_GC_TARGET_PERCENTAGE", "101"),
    ("GAIT_INGEST_BATCH_SIZE", "0"),
    ("GAIT_INGEST_BATCH_SIZE", "100001"),
    ("GAIT_INGEST_SHARDS", "17"),
    ("GAIT_SESSION_IDLE_MINUTES", "0"),
    ("GAIT_MAX_LOGIN_ATTEMPTS", "many"),
    ("GAIT_RATE_LIMIT", "100/fortnight"),
    ("GAIT_RATE_LIMIT", "100"),
    ("GAIT_RATE_LIMIT", "100/minute;"),
    ("GAIT_TRUSTED_PROXY_HOPS", "6"),
    ("GAIT_ENFORCE_HTTPS", "2"),
    ("GAIT_COOKIE_SECURE", "yes please"),
    ("GAIT_ENABLE_METRICS", "maybe"),
    ("GAIT_METRICS_PORT", "0"),
    ("GAIT_ALERT_ERROR_RATE", "nan"),
    ("GAIT_ALERT_ERROR_RATE", "5%"),
    ("GAIT_ALERT_LATENCY_P95_SECONDS", "0"),
    ("GAIT_ALERT_MEMORY_PERCENT", "80.5"),
    ("GAIT_ALERT_DISK_PERCENT", "101"),
])
def test_a_bad_env_value_names_the_variable(environ, name, text):
    message = load_error({**environ, name: text})

    assert message.startswith(f"{name}: expected ")
    assert f"got {text.strip()!r}" in message


def test_an_unknown_gait_env_var_is_named_with_a_suggestion(environ):
    message = load_error({**environ, "GAIT_PROT": "80"})

    assert message == "GAIT_PROT: unknown setting (did you mean GAIT_PORT?)"


def test_an_unknown_gait_env_var_is_an_error_even_when_empty(environ):
    assert load_error({**environ, "GAIT_NOTHING": ""}).startswith("GAIT_NOTHING: unknown")


def test_a_file_form_of_a_non_secret_var_is_refused(environ, tmp_path):
    message = load_error({**environ, "GAIT_PORT_FILE": str(tmp_path / "port")})

    assert message.startswith("GAIT_PORT_FILE: GAIT_PORT cannot be read from a file")


def test_env_vars_without_the_gait_prefix_are_ignored(environ):
    config = load_config({**environ, "PATH": "/usr/bin", "ADES_TEST_POSTGRES_URL": "x"})

    assert config.server.port == 8080


def test_it_reads_os_environ_when_no_environ_is_given(monkeypatch, data_dir):
    for name in list(os.environ):
        if name.startswith("GAIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GAIT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GAIT_PORT", "9300")

    assert load_config().server.port == 9300


# --------------------------------------------------------------------------- cross checks


def test_a_pool_max_below_the_min_names_the_max(environ):
    message = load_error({**environ, "GAIT_POOL_MIN_SIZE": "5", "GAIT_POOL_MAX_SIZE": "3"})

    assert message == "GAIT_POOL_MAX_SIZE: must be at least performance.pool_min_size (5), got 3"


def test_a_pool_min_above_the_default_max_names_the_min(environ):
    message = load_error({**environ, "GAIT_POOL_MIN_SIZE": "20"})

    assert message == "GAIT_POOL_MIN_SIZE: must be at most performance.pool_max_size (10), got 20"


def test_an_idle_timeout_longer_than_the_session_is_an_error(environ):
    message = load_error({**environ, "GAIT_SESSION_IDLE_MINUTES": "800"})

    assert message.startswith("GAIT_SESSION_IDLE_MINUTES: must not exceed "
                              "security.session_absolute_hours")


def test_a_metrics_port_equal_to_the_service_port_is_an_error(environ):
    message = load_error({**environ, "GAIT_PORT": "9090", "GAIT_METRICS_PORT": "9090"})

    assert message == "GAIT_METRICS_PORT: must differ from server.port (9090)"


def test_a_port_without_room_for_the_default_metrics_port_is_an_error(environ):
    assert load_error({**environ, "GAIT_PORT": "65000"}).startswith("GAIT_PORT: 65000 + 1010")
    assert load_config({**environ, "GAIT_PORT": "65000", "GAIT_METRICS_PORT": "9090"})


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("name", SECRET_VARS)
def test_a_secret_can_come_from_a_file(environ, tmp_path, name):
    section, key, value = SECRET_VALUES[name]
    secret_file = tmp_path / "secret"
    secret_file.write_text(f"  {value}\n")

    config = load_config({**environ, f"{name}_FILE": str(secret_file)})

    assert getattr(getattr(config, section), key) == value


@pytest.mark.parametrize("name", SECRET_VARS)
def test_setting_a_secret_and_its_file_is_an_error(environ, tmp_path, name):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET_VALUES[name][2])

    message = load_error({**environ, name: SECRET_VALUES[name][2],
                          f"{name}_FILE": str(secret_file)})

    assert message == f"{name}: both {name} and {name}_FILE are set; use one"


def test_an_unreadable_secret_file_is_named(environ, tmp_path):
    missing = tmp_path / "missing"

    message = load_error({**environ, "GAIT_SECRET_KEY_FILE": str(missing)})

    assert message == (f"GAIT_SECRET_KEY_FILE: cannot read {str(missing)!r}: "
                       "No such file or directory")


def test_an_empty_secret_file_is_an_error(environ, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")

    message = load_error({**environ, "GAIT_POSTGRES_URL_FILE": str(empty)})

    assert message == f"GAIT_POSTGRES_URL_FILE: file {str(empty)!r} is empty"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("GAIT_POSTGRES_URL", "mysql://root:hunter2@db/ades", "postgresql:// or postgres://"),
    ("GAIT_REDIS_URL", "http://:hunter2@cache:6379", "redis:// or rediss:// or unix://"),
])
def test_a_bad_secret_from_a_file_names_the_file_var_without_echoing_it(
        environ, tmp_path, name, value, expected):
    secret_file = tmp_path / "secret"
    secret_file.write_text(value)

    message = load_error({**environ, f"{name}_FILE": str(secret_file)})

    assert message.startswith(f"{name}_FILE: expected ")
    assert expected in message
    assert "hunter2" not in message


def test_secrets_are_left_out_of_repr(environ):
    config = load_config({**environ, "GAIT_SECRET_KEY": "k3y-value",
                          "GAIT_WEBHOOK_SECRET": "hook-value",
                          "GAIT_POSTGRES_URL": "postgresql://u:pg-pass@db/ades"})

    text = repr(config)

    for secret in ("k3y-value", "hook-value", "pg-pass"):
        assert secret not in text


def test_the_public_dict_redacts_secrets_and_is_json_ready(environ, data_dir):
    config = load_config({
        **environ,
        "GAIT_SECRET_KEY": "k3y-value",
        "GAIT_WEBHOOK_SECRET": "hook-value",
        "GAIT_POSTGRES_URL": "postgresql://ades:pg-pass@db:5432/ades?sslpassword=x",
        "GAIT_REDIS_URL": "redis://:redis-pass@cache:6379/0",
    })

    public = config.to_public_dict()
    text = json.dumps(public)

    for secret in ("k3y-value", "hook-value", "pg-pass", "redis-pass", "sslpassword"):
        assert secret not in text
    assert public["security"]["secret_key"] == "***"
    assert public["server"]["postgres_url"] == "postgresql://ades:***@db:5432/ades"
    assert public["server"]["redis_url"] == "redis://:***@cache:6379/0"
    assert public["server"]["data_dir"] == str(data_dir)
    assert public["security"]["webhook_secret"] == "***"
    assert public["monitoring"]["alert_error_rate"] == 0.05
    assert set(public) == {*SECTIONS, "config_path"}


def test_the_public_dict_shows_unset_secrets_as_null(environ):
    public = load_config(environ).to_public_dict()

    assert public["security"]["secret_key"] is None
    assert public["server"]["postgres_url"] is None


# --------------------------------------------------------------------------- side effects


def test_loading_writes_no_files_and_creates_no_directories(tmp_path, data_dir, environ):
    before = sorted(tmp_path.rglob("*"))

    config = load_config(environ)

    assert sorted(tmp_path.rglob("*")) == before
    assert not data_dir.exists()
    assert config.security.secret_key is None


# --------------------------------------------------------------------------- ensure_secret_key


def test_ensure_secret_key_creates_a_private_key_file_once_and_reuses_it(environ, data_dir):
    config = load_config(environ)

    key = ensure_secret_key(config)
    path = data_dir / "secret_key"
    first_stat = path.stat()
    again = ensure_secret_key(load_config(environ))

    assert len(key) >= 32
    assert again == key
    assert stat.S_IMODE(first_stat.st_mode) == 0o600
    assert path.stat().st_mtime_ns == first_stat.st_mtime_ns
    assert path.read_text().strip() == key
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]


def test_workers_racing_to_create_the_key_all_get_the_same_one(environ, data_dir):
    config = load_config(environ)

    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: ensure_secret_key(config), range(16)))

    assert keys == {(data_dir / "secret_key").read_text().strip()}
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]


def test_ensure_secret_key_returns_the_configured_key_without_touching_disk(environ, data_dir):
    config = load_config({**environ, "GAIT_SECRET_KEY": "configured"})

    assert ensure_secret_key(config) == "configured"
    assert not data_dir.exists()


def test_ensure_secret_key_refuses_a_key_file_others_can_read(environ, data_dir):
    data_dir.mkdir()
    (data_dir / "secret_key").write_text("leaky")
    (data_dir / "secret_key").chmod(0o644)

    with pytest.raises(ConfigError, match="permissions 0644"):
        ensure_secret_key(load_config(environ))


def test_ensure_secret_key_refuses_an_empty_key_file(environ, data_dir):
    data_dir.mkdir()
    (data_dir / "secret_key").write_text("")
    (data_dir / "secret_key").chmod(0o600)

    with pytest.raises(ConfigError, match="empty"):
        ensure_secret_key(load_config(environ))


def test_ensure_secret_key_reports_a_data_dir_it_cannot_create(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = load_config({"GAIT_DATA_DIR": str(blocker / "data")})

    with pytest.raises(ConfigError, match="cannot create the secret key file"):
        ensure_secret_key(config)


def test_config_objects_are_the_public_types(environ):
    config = load_config(environ)

    assert isinstance(config, Config)
    for section, section_type in SECTION_TYPES.items():
        assert isinstance(getattr(config, section), section_type)


def test_the_datastore_timeouts_reach_the_clients(tmp_path, monkeypatch, postgres_url):
    """GAIT_POOL_TIMEOUT and GAIT_REDIS_TIMEOUT are what the pool and the Redis client use."""
    from ades.hardening import redis_client
    from ades.service import create_service_app, service_context

    monkeypatch.setenv("GAIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GAIT_POSTGRES_URL", postgres_url)
    monkeypatch.setenv("GAIT_REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("GAIT_POOL_TIMEOUT", "2.5")
    monkeypatch.setenv("GAIT_REDIS_TIMEOUT", "0.25")
    app = create_service_app("ui")
    try:
        store = service_context(app).stores.get().inner
        assert store.pool.timeout == 2.5
        kwargs = redis_client(app).connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.25
    finally:
        service_context(app).close()


@pytest.mark.parametrize("name, value", [("GAIT_POOL_TIMEOUT", "0"), ("GAIT_POOL_TIMEOUT", "soon"),
                                         ("GAIT_REDIS_TIMEOUT", "-1"), ("GAIT_REDIS_TIMEOUT", "61")])
def test_bad_datastore_timeouts_fail_fast_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({"GAIT_DATA_DIR": str(tmp_path), name: value})

"""gunicorn settings and hooks, and how a service's port is chosen."""

from __future__ import annotations

import pytest
from ades.config import ConfigError
from ades.launch import child_exit, gunicorn_settings, on_starting, service_config


def test_the_service_port_applies_unless_gait_port_is_set(tmp_path):
    env = {"GAIT_DATA_DIR": str(tmp_path)}
    assert service_config(None, 8082, env).server.port == 8082
    assert service_config(None, 8082, {**env, "GAIT_PORT": "9999"}).server.port == 9999
    assert service_config({"server": {"port": 7000}}, 8082, env).server.port == 7000
    assert service_config(None, None, env).server.port == 8080


def test_bad_overrides_fail_fast_with_the_key_name(tmp_path):
    with pytest.raises(ConfigError, match="server.workers"):
        service_config({"server": {"workers": 0}}, 8080, {"GAIT_DATA_DIR": str(tmp_path)})


def test_gunicorn_runs_gevent_workers_without_preload(monkeypatch, tmp_path):
    for name in ("GAIT_PORT", "GAIT_METRICS_PORT", "GAIT_WORKERS", "GAIT_ENABLE_METRICS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GAIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GAIT_WORKERS", "3")
    settings = gunicorn_settings("viz", default_port=8083, root=tmp_path)
    assert settings["worker_class"] == "gevent"
    assert settings["preload_app"] is False
    assert settings["workers"] == 3
    assert settings["bind"] == ["127.0.0.1:8083", "127.0.0.1:9093"]
    assert settings["worker_tmp_dir"] == "/dev/shm"
    assert settings["graceful_timeout"] == 30
    assert settings["wsgi_app"] == "services.viz.wsgi:app"
    assert settings["logconfig_dict"]["formatters"]["json"]["()"].endswith("AdesJsonFormatter")
    monkeypatch.setenv("GAIT_ENABLE_METRICS", "false")
    assert gunicorn_settings("viz", default_port=8083, root=tmp_path)["bind"] == [
        "127.0.0.1:8083"]


def test_on_starting_empties_the_multiprocess_directory(monkeypatch, tmp_path):
    directory = tmp_path / "multiproc"
    (directory / "nested").mkdir(parents=True)
    (directory / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    on_starting(server=None)
    assert directory.is_dir() and list(directory.iterdir()) == []


def test_child_exit_removes_a_dead_workers_live_gauges(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")

    class Worker:
        pid = 4242

    child_exit(server=None, worker=Worker())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db"]


def test_the_hooks_do_nothing_without_the_multiprocess_directory(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    on_starting(server=None)

    class Worker:
        pid = 1

    child_exit(server=None, worker=Worker())


@pytest.mark.parametrize("service", ["ui", "ide", "collab", "viz"])
def test_reading_a_gunicorn_conf_imports_no_database_driver(service, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "services" / service / "gunicorn.conf.py"
    script = (
        "import runpy, sys\n"
        f"settings = runpy.run_path({str(conf)!r})\n"
        "loaded = [m for m in ('psycopg', 'psycopg_pool', 'prometheus_client', 'gevent', "
        "'ades.metrics', 'ades.service') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert settings['worker_class'] == 'gevent' and settings['preload_app'] is False\n"
        "print(settings['bind'][0])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "GAIT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    ports = {"ui": 8080, "ide": 8081, "collab": 8082, "viz": 8083}
    assert result.stdout.strip() == f"127.0.0.1:{ports[service]}"


def test_gunicorn_does_not_build_the_access_line_the_app_already_writes(monkeypatch, tmp_path):
    from ades.gunicorn_logger import AppLogsAccess
    from gunicorn.config import Config as GunicornConfig
    from gunicorn.glogging import Logger

    monkeypatch.setenv("GAIT_DATA_DIR", str(tmp_path))
    settings = gunicorn_settings("ui", default_port=8080, root=tmp_path)
    cfg = GunicornConfig()
    cfg.set("logger_class", settings["logger_class"])
    assert cfg.logger_class is AppLogsAccess
    cfg.set("accesslog", str(tmp_path / "access.log"))

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the access line read {name}")

    def close(logger):
        for log in (logger.access_log, logger.error_log):
            for handler in list(log.handlers):
                handler.close()
                log.removeHandler(handler)

    ours = AppLogsAccess(cfg)
    try:
        ours.access(Untouchable(), Untouchable(), {}, Untouchable())
    finally:
        close(ours)
    theirs = Logger(cfg)
    try:
        with pytest.raises(AssertionError):  # gunicorn's own logger builds the line from them
            theirs.access(Untouchable(), Untouchable(), {}, Untouchable())
    finally:
        close(theirs)

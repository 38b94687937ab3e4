"""A real Alertmanager with the project's config delivers alerts to the real ui service.

The ui runs under gunicorn (SQLite, its alert webhook token in a file, as the deployments
mount it); Alertmanager runs the project's alertmanager.yml with the receiver's host
pointed at that ui and the token file's path rewritten (the test only). The route,
grouping, bearer authorization and payload are the project's. One change for the test's
sake: `group_interval` is cut from 5 minutes to 2 seconds, so the resolution, which
Alertmanager sends at the group's next interval, arrives within the test.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from pgserver import free_port
from service_runner import http, run_service, service_env, stop

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_TOKEN = "test-token-0123456789abcdef"
PASSWORD = "alert-admin-password-long-enough"

pytestmark = pytest.mark.slow


def _ades(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "ades", *args], env=env, input=stdin,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _post_to_alertmanager(base: str, alert: dict) -> None:
    request = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps([alert]).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _recorded(ui, api_token: str) -> list[dict]:
    response = ui.get("/api/alerts", headers={"Authorization": f"Bearer {api_token}"})
    assert response.status == 200, response.body
    return response.json()["alerts"]


def _wait_for(predicate, timeout: float, describe) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(describe())
        time.sleep(0.3)


def _wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not become ready")


def test_alertmanager_delivers_a_firing_then_resolved_alert_to_the_ui_which_records_it(tmp_path):
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail("Alertmanager is not installed (.ci/run installs prometheus-alertmanager)")
    token_file = tmp_path / "webhook_token"
    token_file.write_text(WEBHOOK_TOKEN + "\n")
    env = {"GAIT_ALERT_WEBHOOK_TOKEN_FILE": str(token_file)}
    cli_env = service_env(tmp_path, env)
    _ades(cli_env, "db", "upgrade")
    _ades(cli_env, "users", "create", "alice", "--role", "admin", stdin=PASSWORD + "\n")
    api_token = _ades(cli_env, "tokens", "create", "--user", "alice", "--scope", "read").strip()

    with run_service("ui", tmp_path, workers=1, env=env) as ui:
        config = yaml.safe_load((ROOT / "deployments" / "prometheus" / "alertmanager.yml").read_text())
        webhook = config["receivers"][0]["webhook_configs"][0]
        project_url = urllib.parse.urlsplit(webhook["url"])
        assert (project_url.hostname, project_url.port) == ("ui", 8080)
        webhook["url"] = ui.url + project_url.path
        assert webhook["http_config"]["authorization"]["credentials_file"]
        webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
        config["route"]["group_interval"] = "2s"
        (tmp_path / "am.yml").write_text(yaml.safe_dump(config))

        am_port, cluster_port = free_port(), free_port()
        log = open(tmp_path / "alertmanager.log", "wb")  # noqa: SIM115 -- closed below
        process = subprocess.Popen([binary, f"--config.file={tmp_path / 'am.yml'}",
                                    f"--storage.path={tmp_path / 'am-data'}",
                                    f"--web.listen-address=127.0.0.1:{am_port}",
                                    f"--cluster.listen-address=127.0.0.1:{cluster_port}"],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{am_port}"
            _wait_ready(f"{base}/-/ready")
            started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
            alert = {"labels": {"alertname": "AdesTargetDown", "severity": "critical", "service": "viz",
                                "job": "ades-viz"},
                     "annotations": {"summary": "ades-viz is not answering"},
                     "startsAt": _rfc3339(started)}
            _post_to_alertmanager(base, alert)

            def diagnose() -> str:
                am_log = (tmp_path / "alertmanager.log").read_text()[-3000:]
                return (f"ui alerts: {_recorded(ui, api_token)}\n--- alertmanager log\n{am_log}\n"
                        f"--- ui log\n{ui.log()[-3000:]}")

            # The critical route waits 10 s to group before its first notification.
            _wait_for(lambda: _recorded(ui, api_token), 60, diagnose)
            (firing,) = _recorded(ui, api_token)
            assert (firing["alertname"], firing["status"], firing["severity"]) == \
                ("AdesTargetDown", "firing", "critical")
            assert firing["labels"]["service"] == "viz"
            assert firing["annotations"] == {"summary": "ades-viz is not answering"}
            assert firing["starts_at"] == pytest.approx(started.timestamp(), abs=0.001)
            assert firing["ends_at"] is None

            # The alert clears: Alertmanager sends the resolution (send_resolved), and the
            # ui updates the same record instead of adding one.
            ended = datetime.datetime.now(datetime.UTC)
            _post_to_alertmanager(base, {**alert, "endsAt": _rfc3339(ended)})
            _wait_for(lambda: _recorded(ui, api_token)[0]["status"] == "resolved", 60, diagnose)
            (resolved,) = _recorded(ui, api_token)
            assert resolved["id"] == firing["id"] and resolved["fingerprint"] == firing["fingerprint"]
            assert resolved["ends_at"] == pytest.approx(ended.timestamp(), abs=0.001)
        finally:
            stop(process)
            log.close()

        # Every delivery was accepted with the token; nothing answered 4xx or 5xx.
        deliveries = [json.loads(line)["fields"]["status"] for line in ui.log().splitlines()
                      if '"/api/alerts/webhook"' in line and line.startswith("{")]
        assert deliveries and set(deliveries) == {200}, deliveries
        refused = http("POST", ui.url + "/api/alerts/webhook", body=b"{}",
                       headers={"Content-Type": "application/json"})
        assert refused.status == 401

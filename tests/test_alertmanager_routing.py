"""A real Alertmanager with the project's config delivers alerts to the ui's webhook path.

The receiver URL is rewritten to a local HTTP server standing where the ui would be (the
test only); the route, grouping, bearer token file and payload are the project's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from pgserver import free_port
from service_runner import stop

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def receiver():
    received: list[tuple[str, dict[str, str], dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, dict(self.headers), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def test_a_critical_alert_reaches_the_ui_webhook_with_the_bearer_token(tmp_path, receiver):
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail("Alertmanager is not installed (.ci/run installs prometheus-alertmanager)")
    port, received = receiver
    config = yaml.safe_load((ROOT / "deployments" / "prometheus" / "alertmanager.yml").read_text())
    webhook = config["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == "http://ui:8080/api/alerts/webhook"
    webhook["url"] = f"http://127.0.0.1:{port}/api/alerts/webhook"
    token = tmp_path / "webhook_token"
    token.write_text("test-token-0123456789")
    webhook["http_config"]["authorization"]["credentials_file"] = str(token)
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))

    am_port, cluster_port = free_port(), free_port()
    log = open(tmp_path / "alertmanager.log", "wb")  # noqa: SIM115 -- closed below
    process = subprocess.Popen([binary, f"--config.file={tmp_path / 'am.yml'}",
                                f"--storage.path={tmp_path / 'data'}",
                                f"--web.listen-address=127.0.0.1:{am_port}",
                                f"--cluster.listen-address=127.0.0.1:{cluster_port}"],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{am_port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        alert = [{"labels": {"alertname": "AdesTargetDown", "severity": "critical", "service": "viz",
                             "job": "ades-viz"},
                  "annotations": {"summary": "ades-viz is not answering"}}]
        request = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(alert).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        deadline = time.monotonic() + 30  # the critical route waits 10 s to group
        while time.monotonic() < deadline and not received:
            time.sleep(0.2)
        assert received, (tmp_path / "alertmanager.log").read_text()[-2000:]
        path, headers, payload = received[0]
        assert path == "/api/alerts/webhook"
        assert headers["Authorization"] == "Bearer test-token-0123456789"
        assert payload["status"] == "firing" and payload["receiver"] == "ades-ui"
        assert payload["alerts"][0]["labels"]["alertname"] == "AdesTargetDown"
    finally:
        stop(process)
        log.close()

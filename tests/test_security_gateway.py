"""Attacks that need the real stack: secrets leaking into logs, and cross-origin websockets.

ui, ide and collab run under gunicorn on one SQLite data directory, behind nginx running
the project's gateway template. A session logs in, fails to log in, creates and uses an API
token (in the header, and carelessly in the query string), sends signed webhooks and opens
websockets; then every log the services, gunicorn and nginx wrote is searched for each
secret that passed through, and so is the audit log in the database. The services log each
request's path without its query string; gunicorn's own access line (which would carry it)
is discarded, as launch.py intends.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gateway_process import run_gateway
from gitrepos import make_linear_repo
from service_runner import run_service, service_env
from test_gateway_e2e import Gateway

PASSWORD = "gateway-admin-Password-9f3e2"
WRONG_PASSWORD = "wrong-Password-for-alice-7c1d"
UNKNOWN_PASSWORD = "unknown-user-Password-55ab"
WEBHOOK_SECRET = "gateway-webhook-secret-b41f9"
EVIL_ORIGIN = "https://evil.example"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """ui, ide, collab under gunicorn + nginx; yields handles, stops everything afterwards."""
    tmp = tmp_path_factory.mktemp("security-gateway")
    repos = tmp / "repos"
    make_linear_repo(repos / "payments", commits=6, files=3)
    env = {"GAIT_REPO_ROOTS": str(repos), "GAIT_WORKERS": "1", "GAIT_RATE_LIMIT": "1000/minute",
           "GAIT_WEBHOOK_SECRET": WEBHOOK_SECRET}
    cli_env = service_env(tmp, env)
    for args, stdin in ((["db", "upgrade"], None),
                        (["users", "create", "alice", "--role", "admin"], PASSWORD)):
        done = subprocess.run([sys.executable, "-m", "ades", *args], env=cli_env, input=stdin, text=True,
                              capture_output=True)
        assert done.returncode == 0, done.stderr
    with contextlib.ExitStack() as stack:
        services = {name: stack.enter_context(run_service(name, tmp, workers=1, env=env))
                    for name in ("ui", "ide", "collab")}
        gateway = stack.enter_context(run_gateway(tmp, {name: [service.url.removeprefix("http://")]
                                                        for name, service in services.items()}))
        yield {"services": services, "gateway": Gateway(gateway.port), "gateway_dir": gateway.directory,
               "repos": repos, "data_dir": Path(cli_env["GAIT_DATA_DIR"])}


def _all_logs(stack) -> dict[str, str]:
    """Every log file the stack wrote, by name (read after the requests)."""
    logs = {f"{name} (app JSON + gunicorn)": service.log() for name, service in stack["services"].items()}
    for path in sorted(stack["gateway_dir"].glob("*.log")):
        logs[f"nginx {path.name}"] = path.read_text(errors="replace")
    with contextlib.closing(sqlite3.connect(stack["data_dir"] / "ades.db")) as db:
        logs["the audit log (database)"] = "\n".join(map(repr, db.execute("SELECT * FROM audit_log")))
    return logs


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_no_password_token_cookie_or_webhook_secret_reaches_any_log(stack, attacks):
    gw = stack["gateway"]
    secrets: dict[str, str] = {"alice's password": PASSWORD, "a wrong password": WRONG_PASSWORD,
                               "an unknown user's password": UNKNOWN_PASSWORD,
                               "the webhook secret": WEBHOOK_SECRET}
    anonymous = Gateway(gw.port)
    for name, password in (("alice", WRONG_PASSWORD), ("nobody", UNKNOWN_PASSWORD)):
        status, _ = anonymous.json("POST", "/api/auth/login", {"username": name, "password": password})
        assert status == 401
    status, body = gw.json("POST", "/api/auth/login", {"username": "alice", "password": PASSWORD})
    assert status == 200, body
    gw.csrf = body["csrf_token"]
    secrets["the CSRF token"] = gw.csrf
    secrets.update({f"the session cookie {k}": v for k, v in gw.cookies.items()})
    # A careless client putting the password in the query string as well.
    anonymous.request("POST", f"/api/auth/login?username=alice&password={PASSWORD}",
                      {"username": "alice", "password": PASSWORD})
    status, body = gw.json("POST", "/api/auth/tokens", {"scope": "write", "name": "leak-test"})
    assert status == 201, body
    token = body["token"]
    secrets["the API token"] = token
    secrets["the API token's hash"] = hashlib.sha256(token.encode()).hexdigest()
    bearer = Gateway(gw.port)
    for path in ("/api/repositories", "/ide/search?repo=payments&q=retry", "/collab/repos/payments/presence"):
        bearer.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    for param in ("access_token", "token", "api_key", "apikey", "key", "auth", "session", "password"):
        bearer.request("GET", f"/api/repositories?{param}={token}&limit=5")
        bearer.request("GET", f"/ide/search?q=x&{param}={token}")
    mistyped = token[:-4] + "abcd"
    secrets["a mistyped API token"] = mistyped
    bearer.request("GET", "/api/repositories", headers={"Authorization": f"Bearer {mistyped}"})
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    secrets["HTTP Basic credentials"] = basic
    bearer.request("GET", "/api/repositories", headers={"Authorization": f"Basic {basic}"})
    gw.request("POST", "/api/repositories", {"name": "payments", "path": str(stack["repos"] / "payments")})
    hook = json.dumps({"repository": "payments"}).encode()
    secrets["a webhook signature"] = _sign(hook)
    for delivery in ("d-1", "d-1"):
        anonymous.request("POST", "/api/webhooks/generic", hook,
                          headers={"Content-Type": "application/json", "X-ADES-Signature": _sign(hook),
                                   "X-ADES-Delivery": delivery})
    anonymous.request("POST", "/api/webhooks/generic", hook,
                      headers={"Content-Type": "application/json", "X-ADES-Delivery": "d-2",
                               "X-ADES-Signature": "sha256=" + "ab" * 32})
    time.sleep(0.5)  # let nginx and the services flush their last lines
    logs = _all_logs(stack)
    assert any("/api/auth/login" in text for name, text in logs.items() if "nginx access" in name)
    for label, secret in secrets.items():
        found = [name for name, text in logs.items() if secret in text]
        attacks.record("token and secret leakage in logs", label, ", ".join(sorted(logs)),
                       expected="absent from every log", observed=f"found in {found}" if found else "absent",
                       passed=not found)
    attacks.assert_all_refused()


def _ws(url: str, headers: list[str], origin: str | None):
    import websocket

    kwargs = {"timeout": 10, "header": headers}
    if origin is not None:
        kwargs["origin"] = origin
    else:
        kwargs["suppress_origin"] = True
    return websocket.create_connection(url, **kwargs)


def test_websocket_handshakes_from_another_site_are_refused(stack, attacks):
    import websocket

    gw = stack["gateway"]
    if not gw.cookies:
        status, body = gw.json("POST", "/api/auth/login", {"username": "alice", "password": PASSWORD})
        assert status == 200, body
        gw.csrf = body["csrf_token"]
    gw.request("POST", "/api/repositories", {"name": "payments", "path": str(stack["repos"] / "payments")})
    cookie = "Cookie: " + "; ".join(f"{k}={v}" for k, v in gw.cookies.items())
    own = f"http://127.0.0.1:{gw.port}"
    collab = stack["services"]["collab"].url
    attempts = [
        ("gateway", f"ws://127.0.0.1:{gw.port}/ws/repos/payments", EVIL_ORIGIN, False),
        ("gateway", f"ws://127.0.0.1:{gw.port}/ws/repos/payments", "null", False),
        ("gateway", f"ws://127.0.0.1:{gw.port}/ws/repos/payments", f"http://127.0.0.1:{gw.port}.evil.example",
         False),
        ("gateway", f"ws://127.0.0.1:{gw.port}/ws/repos/payments", f"http://127.0.0.1:{gw.port + 1}", False),
        ("collab directly", collab.replace("http", "ws") + "/ws/repos/payments", EVIL_ORIGIN, False),
        ("gateway", f"ws://127.0.0.1:{gw.port}/ws/repos/payments", own, True),
    ]
    for where, url, origin, allowed in attempts:
        refused_with = None
        try:
            ws = _ws(url, [cookie], origin)
        except websocket.WebSocketBadStatusException as exc:
            refused_with = exc.status_code
        else:
            message = json.loads(ws.recv())
            ws.close()
            assert message["type"] in ("welcome", "presence"), message
        if allowed:
            attacks.record("websocket cross-origin", "control: same-origin handshake with the session cookie",
                           f"{where}: GET /ws/repos/payments (Origin {origin})",
                           expected="accepted (101)", observed="accepted" if refused_with is None
                           else f"refused {refused_with}", passed=refused_with is None)
        else:
            attacks.record("websocket cross-origin", f"handshake with Origin {origin} and the session cookie",
                           f"{where}: GET /ws/repos/payments", expected="refused (403), no upgrade",
                           observed="accepted (101)" if refused_with is None else f"refused {refused_with}",
                           passed=refused_with == 403)
    attacks.assert_all_refused()

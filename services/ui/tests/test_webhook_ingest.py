"""A signed GitHub push webhook makes a newly pushed commit searchable through the API
(origin: a local bare repository; a real `ades worker` process runs the job)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from gitrepos import RepoBuilder

from services.conftest import log_in, seed_world
from services.ui import create_app
from services.ui.webhooks import signature_of

SECRET = "push-secret"


def _search(client, word: str) -> list[dict]:
    return client.get(f"/api/search?q={word}&repo=shop").get_json()["results"]


def test_a_pushed_commit_is_searchable_soon_after_the_webhook(make_service, postgres_url, tmp_path):
    data_dir = tmp_path / "data"
    app = make_service(create_app, {
        "server": {"data_dir": str(data_dir), "redis_url": None, "postgres_url": postgres_url,
                   "allowed_url_schemes": ["file"]},
        "security": {"secret_key": "test-secret-shared-by-services", "webhook_secret": SECRET}})
    seed_world(app)
    work = RepoBuilder(tmp_path / "work")
    work.write("shop/cart.py", "def total(items):\n    return sum(items)\n")
    work.commit("Add the cart total")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", "--", str(work.path), str(origin)], check=True)
    work.git("remote", "add", "origin", str(origin))

    client = app.test_client()
    log_in(client, "alice")
    client.environ_base["HTTP_X_CSRF_TOKEN"] = client.get("/api/auth/me").get_json()["csrf_token"]
    registered = client.post("/api/repositories", json={"name": "shop", "url": f"file://{origin}"})
    assert registered.status_code == 202, registered.get_data(as_text=True)

    env = {**os.environ, "GAIT_POSTGRES_URL": postgres_url, "GAIT_DATA_DIR": str(data_dir),
           "GAIT_ALLOWED_URL_SCHEMES": "file", "GAIT_LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-m", "ades", "worker", "--poll-seconds", "0.05"],
                              env=env, start_new_session=True)
    try:
        job_id = registered.get_json()["job"]["id"]
        deadline = time.monotonic() + 60
        while client.get(f"/api/jobs/{job_id}").get_json()["status"] != "succeeded":
            assert time.monotonic() < deadline, client.get(f"/api/jobs/{job_id}").get_json()
            time.sleep(0.05)
        assert _search(client, "zanzibar") == []

        work.write("shop/discount.py", "def zanzibar_discount(total):\n    return total * 0.9\n")
        new_commit = work.commit("Add the zanzibar discount to the cart")
        work.git("push", "-q", "origin", "main")
        body = json.dumps({"ref": "refs/heads/main", "after": new_commit,
                           "repository": {"name": "shop", "clone_url": f"file://{origin}"}}).encode()
        started = time.monotonic()
        response = app.test_client().post("/api/webhooks/github", data=body, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": "push-1",
            "X-Hub-Signature-256": signature_of(SECRET, body), "Content-Type": "application/json"})
        assert response.status_code == 202, response.get_data(as_text=True)
        while not (found := _search(client, "zanzibar")):
            assert time.monotonic() - started < 60, "the pushed commit never became searchable"
            time.sleep(0.02)
        print(f"\npushed commit searchable {time.monotonic() - started:.2f} s after the webhook")
        assert found[0]["commit"] == new_commit
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(20)

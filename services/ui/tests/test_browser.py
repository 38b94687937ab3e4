"""The whole ui flow in headless Chromium against the ui under gunicorn and a real worker:
log in, register a repository, watch its ingest finish, search, open a result, see the
commit's diff, log out. Screenshots go to test-artifacts/ui/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from gitrepos import make_realistic_repo
from service_runner import ROOT, run_service, service_env

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "ui"
PASSWORD = "maria-maintainer-password"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                reason="Chromium is not installed (apt-get install -y chromium)")


@pytest.fixture
def suite(tmp_path):
    """The ui under gunicorn and one `ades worker`, on a fresh SQLite database, with maria
    (maintainer) and the realistic repository under the allowed root."""
    from ades.config import load_config
    from ades.hardening import users
    from ades.storage import open_store

    env = service_env(tmp_path, {"GAIT_LOG_LEVEL": "WARNING"})
    config = load_config({k: v for k, v in env.items() if k.startswith("GAIT_")})
    with open_store(config.database_url) as store:
        users.create_user(store, "maria", PASSWORD, "maintainer")
    root = config.server.repo_roots[0]
    make_realistic_repo(root / "orders")
    worker = subprocess.Popen([sys.executable, "-m", "ades", "worker", "--poll-seconds", "0.2"],
                              env=env, start_new_session=True)
    try:
        with run_service("ui", tmp_path, workers=2, env=env) as service:
            yield service, root / "orders"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(20)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_maintainer_registers_ingests_searches_reads_a_diff_and_logs_out(suite):
    from playwright.sync_api import expect, sync_playwright

    service, repo_path = suite
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(service.url + "/")
            expect(page).to_have_url(f"{service.url}/login?next=%2F")
            _shot(page, "01-login")
            page.get_by_label("Username").fill("maria")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Repositories")).to_be_visible()
            _shot(page, "02-dashboard")

            page.get_by_label("Name", exact=True).fill("orders")
            page.get_by_label("Local path (under the allowed roots) or clone URL").fill(str(repo_path))
            page.get_by_role("button", name="Register and ingest").click()
            expect(page.get_by_role("heading", name="orders", exact=True)).to_be_visible()
            _shot(page, "03-ingesting")
            expect(page.locator("#job-status")).to_have_text("succeeded", timeout=60_000)
            expect(page.locator("#stat-commits")).not_to_have_text("0")
            _shot(page, "04-ingested")

            page.get_by_role("link", name="Search").click()
            page.get_by_label("Words").fill("retry")
            page.get_by_role("button", name="Search").click()
            first = page.locator("ol.results li a").first
            expect(first).to_be_visible()
            expect(page.locator("ol.results mark").first).to_be_visible()
            _shot(page, "05-search")
            first.click()
            expect(page.locator("#diff")).to_contain_text("@@")
            expect(page.locator("#diff .add").first).to_be_visible()
            _shot(page, "06-commit-diff")

            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            page.goto(service.url + "/search")
            expect(page).to_have_url(f"{service.url}/login?next=%2Fsearch")
            _shot(page, "07-logged-out")
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()

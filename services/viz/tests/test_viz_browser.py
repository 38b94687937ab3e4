"""The viz pages in headless Chromium, served by gunicorn: every chart draws, filters in the
URL change it, the CSV/JSON/SVG/PNG exports download valid files, and the console stays clean.
Screenshots go to test-artifacts/viz/."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from gitrepos import make_realistic_repo
from service_runner import ROOT, run_service

from services.conftest import PASSWORDS, seed_world
from services.viz import create_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "viz"
VIEWS = ("activity", "churn", "hotspots", "ownership", "coupling", "code-age", "mix", "calendar")

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                reason="chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def viz_url(tmp_path_factory):
    """A viz service under gunicorn over a SQLite database holding the realistic repository."""
    from ades.mining.ingest import ingest_repository
    from ades.service import service_context

    assert (ROOT / "services/viz/static/vendor/d3.min.js").exists(), \
        "d3 is not installed: run `make install-frontend`"
    tmp = tmp_path_factory.mktemp("viz-browser")
    data_dir = tmp / "data"
    repo = make_realistic_repo(tmp / "repo")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("GAIT_")]:
            mp.delenv(name)
        app = create_app({"server": {"data_dir": str(data_dir), "redis_url": None}})
        seed_world(app)
        ingest_repository(service_context(app).stores.get().inner, str(repo), name="orders", shards=1)
        service_context(app).close()
    with run_service("viz", tmp, workers=1, env={"GAIT_DATA_DIR": str(data_dir)}) as service:
        yield service.url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, viz_url, tmp_path):
    """A logged-in viewer's page; console errors and page errors collect in `page.errors`."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    response = context.request.post(viz_url + "/api/auth/login",
                                    data={"username": "vera", "password": PASSWORDS["vera"]})
    assert response.status == 200, response.text()
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(f"{m.text} {m.location.get('url')}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield page
    context.close()


def _open(page, url):
    page.goto(url)
    page.wait_for_selector("#chart[data-drawn]", timeout=15000)
    return int(page.get_attribute("#chart", "data-drawn"))


@pytest.mark.parametrize("view", VIEWS)
def test_each_page_draws_its_chart_without_console_errors(page, viz_url, view):
    drawn = _open(page, f"{viz_url}/viz/orders/{view}")
    assert drawn >= 5, f"{view} drew only {drawn} shapes"
    box = page.locator("#chart svg").bounding_box()
    assert box["width"] > 200 and box["height"] > 100
    assert page.locator("#data-table tbody tr").count() >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{view}.png"), full_page=True)
    assert page.errors == []


def test_filters_are_kept_in_the_url_and_change_the_chart(page, viz_url):
    everything = _open(page, f"{viz_url}/viz/orders/hotspots")
    page.fill("input[name=path]", "src/")
    page.click(".viz-filters button[type=submit]")
    page.wait_for_selector("#chart[data-drawn]")
    assert parse_qs(urlparse(page.url).query)["path"] == ["src/"]
    narrowed = int(page.get_attribute("#chart", "data-drawn"))
    assert narrowed < everything
    cells = page.locator("#data-table tbody tr td:first-child").all_inner_texts()
    assert cells and all(c.startswith("src/") for c in cells)
    activity = _open(page, f"{viz_url}/viz/orders/activity")
    bugfixes = _open(page, f"{viz_url}/viz/orders/activity?category=bugfix")
    assert bugfixes < activity
    page.click("a[href*='/viz/orders/calendar']")
    page.wait_for_selector("#chart[data-drawn]")
    assert "category=bugfix" in page.url  # the filters follow the navigation between views
    assert _open(page, f"{viz_url}/viz/orders/activity?author=nobody@example.invalid") == 0
    assert page.inner_text("#chart-status") == "No data for these filters."
    assert page.errors == []


def _download(page, selector) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_exports_download_valid_csv_json_svg_and_png(page, viz_url):
    _open(page, f"{viz_url}/viz/orders/churn")
    name, body = _download(page, "#export-csv")
    assert name == "orders-churn.csv"
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:3] == ["week_start", "lines_added", "lines_deleted"] and len(rows) > 10
    name, body = _download(page, "#export-json")
    assert name == "orders-churn.json"
    assert len(json.loads(body)["weeks"]) == len(rows) - 1
    name, body = _download(page, "#export-svg")
    assert name == "orders-churn.svg"
    svg = ET.fromstring(body)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}rect")) > 10
    name, body = _download(page, "#export-png")
    assert name == "orders-churn.png"
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", body[16:24])
    assert width >= 960 and height >= 300
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "exported-churn.png").write_bytes(body)
    assert page.errors == []

"""The viz data endpoints: every number agrees with git's own on the realistic repository,
filters narrow the data, exports carry the same table, and bad input is a 4xx."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import io
import itertools

import pytest
from gitrepos import git, make_realistic_repo

from services.conftest import log_in, seed_world
from services.viz import create_app

VIEWS = ("activity", "churn", "hotspots", "ownership", "coupling", "code-age", "mix", "calendar")
WEEK_ORIGIN = 4 * 86400  # 1970-01-05, a Monday


@pytest.fixture(scope="module")
def realistic_repo(tmp_path_factory):
    return make_realistic_repo(tmp_path_factory.mktemp("viz-realistic") / "repo")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(request, tmp_path_factory, realistic_repo):
    """A logged-in viewer's client of one viz app per backend, with the realistic repository
    ingested as "orders" (module-scoped: the views only read)."""
    import os
    import uuid

    import psycopg
    from ades.mining.ingest import ingest_repository
    from ades.service import service_context

    database = None
    overrides = {"server": {"data_dir": str(tmp_path_factory.mktemp("viz-data")), "redis_url": None,
                            "postgres_url": None},
                 "security": {"secret_key": "test-secret-shared-by-services"}}
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server_url")
        database = f"ades_test_viz_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        overrides["server"]["postgres_url"] = f"{server.rpartition('/')[0]}/{database}"
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("GAIT_")]:
            mp.delenv(name)
        app = create_app(overrides)
        seed_world(app)
        ingest_repository(service_context(app).stores.get().inner, str(realistic_repo),
                          name="orders", shards=1)
        client = app.test_client()
        log_in(client, "vera")
        yield client
        service_context(app).close()
    if database:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _get(client, view, **params):
    response = client.get(f"/viz/api/{view}", query_string={"repo": "orders", **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _day(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d")


def _git_commits(repo, *extra):
    """(author time, author email, category-free) per commit, from git log."""
    out = git(repo, "log", "--format=%at %aE", *extra, "HEAD").decode().split("\n")
    return [(int(line.split(" ")[0]), line.split(" ", 1)[1]) for line in out if line]


def _git_log_z(repo, *args):
    """[(header, [numstat or name line, ...])] per commit of a -z log with %x01 headers."""
    raw = git(repo, "log", "--no-merges", "--no-renames", "-z", "--format=%x01%at %aE", *args,
              "HEAD").decode("utf-8", "replace")
    commits = []
    for token in raw.split("\0"):
        token = token.lstrip("\n")
        if token.startswith("\x01"):
            header, _, token = token[1:].partition("\n")
            commits.append((header, []))
        if token:
            commits[-1][1].append(token)
    return commits


def _git_numstat(repo):
    """[(author time, email, path, added, deleted, binary)] of non-merge commits, renames off."""
    rows = []
    for header, lines in _git_log_z(repo, "--numstat"):
        when, email = header.split(" ", 1)
        for line in lines:
            added, deleted, path = line.split("\t", 2)
            binary = added == "-"
            rows.append((int(when), email, path, 0 if binary else int(added),
                         0 if binary else int(deleted), binary))
    return rows


def test_weekly_commits_agree_with_git_log_author_times(client, realistic_repo):
    data = _get(client, "activity")
    expected = collections.Counter(_day((t - WEEK_ORIGIN) // 604800 * 604800 + WEEK_ORIGIN)
                                   for t, _ in _git_commits(realistic_repo))
    got = {w["week_start"]: w["commits"] for w in data["weeks"] if w["commits"]}
    assert got == dict(expected)
    assert all(dt.date.fromisoformat(w["week_start"]).weekday() == 0 for w in data["weeks"])
    assert sum(w["commits"] for w in data["weeks"]) == len(_git_commits(realistic_repo))


def test_activity_forecasts_eight_weeks_with_a_band_around_the_trend(client):
    data = _get(client, "activity")
    assert len(data["forecast"]) == 8
    assert data["model"]["name"] == "ordinary least-squares linear trend"
    last = dt.date.fromisoformat(data["weeks"][-1]["week_start"])
    assert data["forecast"][0]["week_start"] == (last + dt.timedelta(weeks=1)).isoformat()
    assert all(p["low"] <= p["value"] <= p["high"] for p in data["forecast"])
    assert data["forecast"][-1]["high"] - data["forecast"][-1]["low"] > 0


def test_weekly_churn_agrees_with_git_numstat(client, realistic_repo):
    expected_added, expected_deleted = collections.Counter(), collections.Counter()
    for when, _, _, added, deleted, _ in _git_numstat(realistic_repo):
        week = _day((when - WEEK_ORIGIN) // 604800 * 604800 + WEEK_ORIGIN)
        expected_added[week] += added
        expected_deleted[week] += deleted
    data = _get(client, "churn")
    assert {w["week_start"]: w["lines_added"] for w in data["weeks"]} == dict(expected_added)
    assert {w["week_start"]: w["lines_deleted"] for w in data["weeks"]} == dict(expected_deleted)


def test_hotspot_change_counts_and_churn_agree_with_git(client, realistic_repo):
    counts, churn = collections.Counter(), collections.Counter()
    for _, _, path, added, deleted, _ in _git_numstat(realistic_repo):
        counts[path] += 1
        churn[path] += added + deleted
    files = _get(client, "hotspots")["files"]
    assert len(files) == min(200, len(counts))
    for f in files:
        assert (f["changes"], f["churn"]) == (counts[f["path"]], churn[f["path"]]), f["path"]
    assert files[0]["changes"] == max(counts.values())


def test_hotspots_form_a_tree_whose_leaves_are_the_files(client):
    data = _get(client, "hotspots")

    def leaves(node):
        if "children" not in node:
            return [node["path"]]
        return [p for child in node["children"] for p in leaves(child)]

    assert sorted(leaves(data["tree"])) == sorted(f["path"] for f in data["files"])


def test_ownership_and_bus_factor_agree_with_git_numstat_by_author(client, realistic_repo):
    by_dir: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for _, email, path, added, deleted, binary in _git_numstat(realistic_repo):
        if not binary:
            top = path.split("/", 1)[0] + "/" if "/" in path else "(files)"
            by_dir[top][email] += added + deleted
    data = _get(client, "ownership")
    got = {d["directory"]: d for d in data["directories"]}
    assert set(got) == set(by_dir)
    for directory, authors in by_dir.items():
        total = sum(authors.values())
        shares = sorted(authors.values(), reverse=True)
        bus = next(i + 1 for i in range(len(shares)) if sum(shares[:i + 1]) * 2 > total) if total else 0
        assert got[directory]["churn"] == total
        assert got[directory]["bus_factor"] == bus, directory
        assert got[directory]["owner_share"] == round(shares[0] / total, 4) if total else True


def test_coupling_support_agrees_with_commits_that_change_both_files(client, realistic_repo):
    commits = [lines for _, lines in _git_log_z(realistic_repo, "--name-only")]
    commits = [c for c in commits if len(c) <= 50]
    data = _get(client, "coupling")
    files = {f["path"]: f["changes"] for f in data["files"]}
    assert files == {p: sum(p in c for c in commits) for p in files}
    assert data["pairs"], "the realistic repository has files that change together"
    expected = collections.Counter()
    for c in commits:
        for a, b in itertools.combinations(sorted(set(c) & set(files)), 2):
            expected[frozenset((a, b))] += 1
    got = {frozenset((p["a"], p["b"])): p["support"] for p in data["pairs"]}
    assert got == {k: v for k, v in expected.items() if v >= 2}
    for p in data["pairs"]:
        assert p["confidence_a_to_b"] == round(p["support"] / files[p["a"]], 4)


def test_code_age_is_each_live_files_last_change_in_git(client, realistic_repo):
    data = _get(client, "code-age")
    live = set(git(realistic_repo, "ls-files", "-z").decode().split("\0")) - {""}
    table = {row[0]: row[1] for row in data["table"]["rows"]}
    assert set(table) == live
    for path in sorted(live):
        when = int(git(realistic_repo, "log", "-1", "--no-merges", "--no-renames", "--format=%at",
                       "HEAD", "--",
                       path).decode().strip())
        assert table[path] == _day(when), path
    assert sum(b["files"] for b in data["buckets"]) == len(live)


def test_calendar_counts_commits_per_utc_day_as_git_does(client, realistic_repo):
    expected = collections.Counter(_day(t) for t, _ in _git_commits(realistic_repo))
    data = _get(client, "calendar")
    assert {d["day"]: d["commits"] for d in data["days"]} == dict(expected)


def test_language_mix_counts_file_changes_per_month(client, realistic_repo):
    data = _get(client, "mix")
    total = sum(sum(m["counts"].values()) for m in data["months"])
    assert total == len(_git_numstat(realistic_repo))
    categories = _get(client, "mix", series="category")
    assert sum(sum(m["counts"].values()) for m in categories["months"]) == len(
        _git_commits(realistic_repo))


def test_filters_narrow_every_view_as_git_would(client, realistic_repo):
    commits = _git_commits(realistic_repo)
    author = collections.Counter(e for _, e in commits).most_common(1)[0][0]
    data = _get(client, "calendar", author=author)
    assert sum(d["commits"] for d in data["days"]) == sum(e == author for _, e in commits)
    first = sorted(t for t, _ in commits)[len(commits) // 2]
    since = _day(first)
    data = _get(client, "activity", since=since)
    start = int(dt.datetime.fromisoformat(since + "T00:00:00+00:00").timestamp())
    assert sum(w["commits"] for w in data["weeks"]) == sum(t >= start for t, _ in commits)
    busiest_day, count = collections.Counter(_day(t) for t, _ in commits).most_common(1)[0]
    one_day = _get(client, "calendar", since=busiest_day, until=busiest_day)  # until is inclusive
    assert one_day["days"] == [{"day": busiest_day, "commits": count}]
    files = _get(client, "hotspots", path="src/")["files"]
    assert files and all(f["path"].startswith("src/") for f in files)
    by_path = _get(client, "activity", path="src/app/")
    expected = len(git(realistic_repo, "log", "--no-merges", "--format=%H", "HEAD", "--",
                       "src/app/").decode().split())
    assert sum(w["commits"] for w in by_path["weeks"]) == expected
    bugfix = _get(client, "activity", category="bugfix")
    assert set(bugfix["categories"]) <= {"bugfix"}


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_exports_its_table_as_csv_and_json(client, view):
    data = _get(client, view)
    response = client.get(f"/viz/api/{view}", query_string={"repo": "orders", "format": "csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f'filename="orders-{view}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == data["table"]["columns"]
    assert len(rows) - 1 == len(data["table"]["rows"])
    download = client.get(f"/viz/api/{view}", query_string={"repo": "orders", "download": "1"})
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.get_json()["table"] == data["table"]


@pytest.mark.parametrize("view", VIEWS)
def test_a_cached_json_answer_is_byte_for_byte_what_jsonify_writes(client, view):
    """The JSON is serialized once per distinct request and then served as text: it must not
    differ from jsonify's, and each spelling of the filters keeps its own echo."""
    from flask import jsonify

    for params in ({}, {"category": "bugfix", "since": "2020-01-01"}, {"since": "2020-1-1"}):
        first = client.get(f"/viz/api/{view}", query_string={"repo": "orders", **params})
        again = client.get(f"/viz/api/{view}", query_string={"repo": "orders", **params})
        if first.status_code == 400:  # a spelling the filters refuse, refused every time
            assert again.status_code == 400
            continue
        assert first.status_code == again.status_code == 200
        assert first.mimetype == "application/json"
        with client.application.test_request_context():
            expected = jsonify(first.get_json()).get_data()
        assert first.get_data() == again.get_data() == expected
        assert first.get_json()["filters"]["since"] == params.get("since")


def test_the_csv_export_keeps_the_filters(client):
    response = client.get("/viz/api/hotspots", query_string={"repo": "orders", "format": "csv",
                                                             "path": "src/app/"})
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))[1:]
    assert rows and all(r[0].startswith("src/app/") for r in rows)


@pytest.mark.parametrize("view", VIEWS)
def test_a_repository_without_commits_gives_empty_views_not_errors(client, view):
    data = client.get(f"/viz/api/{view}", query_string={"repo": "payments"}).get_json()
    assert data["table"]["rows"] == []
    nobody = _get(client, view, author="nobody@example.invalid")
    assert nobody["table"]["rows"] == []


def test_every_data_endpoint_is_in_openapi_and_takes_repo(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for view in VIEWS:
        op = paths[f"/viz/api/{view}"]["get"]
        repo = next(p for p in op["parameters"] if p["name"] == "repo")
        assert repo["required"] is True and repo["in"] == "query"
        assert op["x-required-role"] == "viewer"


@pytest.mark.parametrize(("params", "status", "fragment"), [
    ({}, 400, "repo is required"),
    ({"repo": "nope"}, 404, "no repository"),
    ({"repo": "orders", "since": "2023-13-45"}, 400, "since must be a date"),
    ({"repo": "orders", "since": "2024-01-02", "until": "2023-01-01"}, 400, "since must be on or before"),
    ({"repo": "orders", "category": "nonsense"}, 400, "category must be one of"),
    ({"repo": "orders", "format": "xml"}, 400, "format must be"),
    ({"repo": "orders", "series": "moods"}, 400, "series must be one of"),
])
def test_bad_input_is_a_one_line_4xx_json_error(client, params, status, fragment):
    response = client.get("/viz/api/mix", query_string=params)
    assert response.status_code == status
    body = response.get_json()
    assert fragment in body["error"] and "\n" not in body["error"]


def test_pages_need_a_login_and_unknown_views_are_404(make_service, service_overrides):
    app = make_service(create_app, service_overrides)
    anonymous = app.test_client()
    assert anonymous.get("/viz/api/activity?repo=orders").status_code == 401
    seed_world(app)
    log_in(anonymous, "vera")
    assert anonymous.get("/viz/payments/nonsense", headers={"Accept": "application/json"}).status_code == 404


def test_a_page_shows_the_table_filters_and_exports(client):
    page = client.get("/viz/orders/hotspots?path=src/").get_data(as_text=True)
    assert 'value="src/"' in page
    assert "format=csv" in page and "path=src" in page
    assert "<td>src/" in page and "<script>" not in page
    activity = client.get("/viz/orders/activity").get_data(as_text=True)
    assert "ordinary least-squares linear trend" in activity

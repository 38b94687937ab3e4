"""The CLI takes clone URLs safely and meets bad input with one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gitrepos import RepoBuilder


def ades(env, *args, check=False):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    proc = subprocess.run([sys.executable, "-m", "ades", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def one_line_error(proc, code=None):
    assert proc.returncode != 0
    if code is not None:
        assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


@pytest.fixture
def origin(tmp_path):
    work = RepoBuilder(tmp_path / "work")
    work.write("app.py", "print('hi')\n")
    work.commit("feat: first")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work.path), str(bare)], check=True)
    return work, bare


def test_ingesting_a_clone_url_mirrors_it_and_fetches_new_commits_later(ades_env, origin):
    work, bare = origin
    env = {**ades_env, "GAIT_ALLOWED_URL_SCHEMES": "https,file"}
    first = json.loads(ades(env, "ingest", f"file://{bare}", "--json", check=True).stdout)
    assert first["repository"] == "origin" and first["new_commits"] == 1
    work.write("app.py", "print('hello')\n")
    work.commit("fix: greet properly")
    subprocess.run(["git", "-C", str(work.path), "push", "-q", str(bare), "main"], check=True)
    second = json.loads(ades(env, "ingest", f"file://{bare}", "--json", check=True).stdout)
    assert second["new_commits"] == 1 and second["total_commits"] == 2
    repos = json.loads(ades(env, "repos", "--json", check=True).stdout)["repositories"]
    assert [(r["name"], r["url"]) for r in repos] == [("origin", f"file://{bare}")]


@pytest.mark.parametrize("url", [
    "ext::sh -c touch% /tmp/ades-pwned",
    "fd::17",
    "ftp://example.com/repo.git",
    "https://",
    "file:///etc",  # file:// is not in the default allow-list
    "https://example.com/repo\n.git",
])
def test_a_refused_clone_url_changes_nothing(tmp_path, url):
    env = {"GAIT_DATA_DIR": str(tmp_path / "data")}
    err = one_line_error(ades(env, "ingest", url), code=2)
    assert "ades: error:" in err
    assert not (tmp_path / "data").exists()
    assert not os.path.exists("/tmp/ades-pwned")


def test_an_option_looking_path_is_never_passed_to_git_as_an_option(tmp_path):
    env = {"GAIT_DATA_DIR": str(tmp_path / "data")}
    one_line_error(ades(env, "ingest", "--", "--upload-pack=touch /tmp/ades-pwned"))
    assert not os.path.exists("/tmp/ades-pwned")
    assert not (tmp_path / "data").exists()


def test_a_corrupt_sqlite_database_is_reported_in_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "ades.db").write_bytes(b"this is not a database" * 100)
    err = one_line_error(ades({"GAIT_DATA_DIR": str(data)}, "stats"))
    assert "ades.db" in err


@pytest.mark.parametrize("name", ["../escape", "-rf", "a b", "x" * 101, ".hidden"])
def test_an_invalid_repository_name_is_refused(tmp_path, origin, name):
    work, _ = origin
    env = {"GAIT_DATA_DIR": str(tmp_path / "data")}
    one_line_error(ades(env, "ingest", str(work.path), "--name", name), code=2)
    assert not (tmp_path / "data").exists()


def test_a_bad_configuration_value_names_the_key(tmp_path):
    proc = ades({"GAIT_DATA_DIR": str(tmp_path), "GAIT_INGEST_BATCH_SIZE": "lots"}, "repos")
    assert "GAIT_INGEST_BATCH_SIZE" in one_line_error(proc, code=2)


def test_search_without_any_repository_says_so(tmp_path):
    err = one_line_error(ades({"GAIT_DATA_DIR": str(tmp_path / "d")}, "search", "retry"), code=3)
    assert "no repositories" in err
    assert not (tmp_path / "d").exists()

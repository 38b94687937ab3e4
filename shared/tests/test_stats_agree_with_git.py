"""End to end: `ades ingest` + `ades stats --json` report exactly what git reports (SPEC §9).

Every test runs the real CLI in a subprocess, once per storage backend (the `ades_env` fixture),
and compares with `git_truth`, which computes the numbers with git itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gitrepos import RepoBuilder, git, git_truth, make_linear_repo, make_realistic_repo

TIMEOUT = 300
SCALARS = ("commits", "authors", "lines_added", "lines_deleted")


# -- helpers --------------------------------------------------------------------------------


def run_ades(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m ades ARGS` with the test's GAIT_* settings (ambient GAIT_* ones dropped)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "ades", *args],
        env=full,
        capture_output=True,
        timeout=TIMEOUT,
        encoding="utf-8",
        errors="replace",
        stdin=subprocess.DEVNULL,
        check=False,
    )


def ades_ok(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_ades(env, *args)
    assert proc.returncode == 0, (
        f"ades {' '.join(args)} exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )
    return proc


def ades_json(env: dict[str, str], *args: str) -> dict:
    proc = ades_ok(env, *args)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"ades {' '.join(args)} printed no JSON: {proc.stdout[:2000]!r}"
        ) from exc


def ingest(env: dict[str, str], repo: Path, name: str = "demo") -> dict:
    return ades_json(env, "ingest", str(repo), "--name", name, "--json")


def stats(env: dict[str, str], name: str = "demo") -> dict:
    return ades_json(env, "stats", "--repo", name, "--json")


def repository_names(env: dict[str, str]) -> list[str]:
    data = ades_json(env, "repos", "--json")
    assert isinstance(data.get("repositories"), list), data
    return [r["name"] if isinstance(r, dict) else r for r in data["repositories"]]


def comparable(report: dict) -> dict:
    """The §9 part of an `ades stats --json` object, top_files as [path, count] pairs."""
    out = {k: report.get(k) for k in SCALARS}
    out["top_files"] = [[f["path"], f["count"]] for f in report.get("top_files", [])]
    return out


def expected(truth: dict) -> dict:
    out = {k: truth[k] for k in SCALARS}
    out["top_files"] = truth["top_files"]
    return out


def assert_agrees_with_git(env: dict[str, str], repo: Path, name: str = "demo") -> dict:
    truth = git_truth(repo)
    assert comparable(stats(env, name)) == expected(truth)
    return truth


def copy_repo(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def repo_state(repo: Path) -> tuple[bytes, bytes]:
    return (
        git(repo, "for-each-ref", "--format=%(objectname) %(refname)"),
        git(repo, "status", "--porcelain", "-z", "--ignored"),
    )


# -- repositories, built once per module ------------------------------------------------------


@pytest.fixture(scope="module")
def realistic_repo(tmp_path_factory) -> Path:
    return make_realistic_repo(tmp_path_factory.mktemp("realistic") / "repo")


@pytest.fixture(scope="module")
def linear_2000(tmp_path_factory) -> Path:
    return make_linear_repo(tmp_path_factory.mktemp("linear2000") / "repo", 2000)


@pytest.fixture(scope="module")
def linear_300(tmp_path_factory) -> Path:
    return make_linear_repo(tmp_path_factory.mktemp("linear300") / "repo", 300, files=20, seed=7)


# -- agreement with git -----------------------------------------------------------------------


def test_realistic_repo_agrees_with_git(ades_env, realistic_repo):
    before = repo_state(realistic_repo)
    ades_ok(ades_env, "ingest", str(realistic_repo), "--name", "demo")
    report = stats(ades_env)
    truth = git_truth(realistic_repo)
    assert comparable(report) == expected(truth)
    assert repo_state(realistic_repo) == before, "ingest must not modify the repository"


@pytest.mark.slow
def test_linear_2000_commits_agree_with_git(ades_env, linear_2000):
    ades_ok(ades_env, "ingest", str(linear_2000), "--name", "demo")
    truth = assert_agrees_with_git(ades_env, linear_2000)
    assert truth["commits"] == 2000


@pytest.mark.parametrize("new_commits", [2, 0], ids=["replaced", "rewound"])
def test_rewritten_history_agrees_with_git(ades_env, linear_300, tmp_path, new_commits):
    repo = copy_repo(linear_300, tmp_path / "repo")
    ades_ok(ades_env, "ingest", str(repo), "--name", "demo")
    before = assert_agrees_with_git(ades_env, repo)

    # force-push style rewrite: drop the last three commits, maybe add different ones
    r = RepoBuilder(repo)
    r.git("reset", "-q", "--hard", "HEAD~3")
    for i in range(new_commits):
        r.write(f"src/rewritten_{i}.py", "".join(f"line_{n} = {n}\n" for n in range(7 + i)))
        r.write("docs/REWRITE.md", f"rewrite {i}\n")
        r.commit(
            f"fix: rewritten commit {i}",
            author=("Zoe Rewriter", "zoe@example.com"),
            date=1_700_000_000 + 3600 * i,
        )
    after = git_truth(repo)
    assert after["commits"] == before["commits"] - 3 + new_commits
    assert expected(after) != expected(before)

    ades_ok(ades_env, "ingest", str(repo), "--name", "demo")
    assert_agrees_with_git(ades_env, repo)


def test_incremental_reingest_agrees_with_git(ades_env, realistic_repo, tmp_path):
    repo = copy_repo(realistic_repo, tmp_path / "repo")
    first = ingest(ades_env, repo)
    truth = assert_agrees_with_git(ades_env, repo)
    assert first["new_commits"] == truth["commits"]

    again = ingest(ades_env, repo)
    assert again["new_commits"] == 0
    assert_agrees_with_git(ades_env, repo)

    # four new commits: one on main, a topic branch commit, another main commit, the merge
    r = RepoBuilder(repo)
    day = 1_704_067_200  # 2024-01-01
    r.write("src/app/http.py", r.read("src/app/http.py") + b"\n# retries are logged\n")
    r.commit("feat(http): log retries", author=("Bob Chen", "bob@example.com"), date=day)
    r.checkout("topic", create=True)
    r.write("docs/topic.md", "# Topic\n\nNew work.\n")
    r.commit("docs: topic notes", author=("New Person", "new@example.com"), date=day + 3600)
    r.checkout("main")
    r.write("data/tab\there.txt", r.read("data/tab\there.txt") + b"sixth\n")
    r.commit("data: sixth line", author=("Carol Díaz", "carol@example.org"), date=day + 7200)
    r.merge(
        "topic",
        "Merge branch 'topic'",
        author=("Alice Martin", "alice@example.com"),
        date=day + 10800,
    )

    third = ingest(ades_env, repo)
    assert third["new_commits"] == 4
    truth = assert_agrees_with_git(ades_env, repo)
    assert truth["commits"] == first["new_commits"] + 4

    fourth = ingest(ades_env, repo)
    assert fourth["new_commits"] == 0
    assert_agrees_with_git(ades_env, repo)


def test_two_repositories_in_one_database(ades_env, realistic_repo, linear_300):
    ades_ok(ades_env, "ingest", str(realistic_repo), "--name", "demo")
    ades_ok(ades_env, "ingest", str(linear_300), "--name", "other")
    assert sorted(repository_names(ades_env)) == ["demo", "other"]
    assert_agrees_with_git(ades_env, realistic_repo, "demo")
    assert_agrees_with_git(ades_env, linear_300, "other")


# -- bad input: non-zero exit, one clean line on stderr, nothing created ----------------------


def assert_clean_failure(proc: subprocess.CompletedProcess[str]) -> None:
    err = proc.stderr.strip()
    assert proc.returncode != 0, f"expected failure, got 0; stdout={proc.stdout!r}"
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert err, "an error message is expected on stderr"
    assert len(err.splitlines()) == 1, f"expected a single-line message, got:\n{proc.stderr}"


def _nonexistent(tmp_path: Path) -> str:
    if os.path.exists("/nonexistent"):
        pytest.skip("/nonexistent exists on this machine")
    return "/nonexistent"


def _plain_dir(tmp_path: Path) -> str:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a repository\n")
    return str(plain)


def _empty_repo(tmp_path: Path) -> str:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    return str(empty)


@pytest.mark.parametrize(
    "make_path", [_nonexistent, _plain_dir, _empty_repo], ids=["nonexistent", "plain-dir", "empty"]
)
def test_ingest_bad_path_fails_cleanly(ades_env, tmp_path, make_path):
    path = make_path(tmp_path)
    # keep git from discovering a repository above the test's directory
    env = {**ades_env, "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    assert_clean_failure(run_ades(env, "ingest", path, "--name", "demo"))
    assert repository_names(ades_env) == []


def test_stats_of_unknown_repository_fails_cleanly(ades_env):
    assert_clean_failure(run_ades(ades_env, "stats", "--repo", "nosuch", "--json"))
    assert repository_names(ades_env) == []


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "{repo}", "--name", "demo"),
        ("stats", "--repo", "demo", "--json"),
        ("repos", "--json"),
    ],
    ids=["ingest", "stats", "repos"],
)
def test_unreachable_postgres_fails_cleanly(tmp_path, realistic_repo, args):
    data_dir = tmp_path / "data"
    env = {"GAIT_DATA_DIR": str(data_dir), "GAIT_POSTGRES_URL": "postgresql://bad:1/x"}
    proc = run_ades(env, *(a.format(repo=realistic_repo) for a in args))
    assert_clean_failure(proc)
    assert not (data_dir / "ades.db").exists(), "no SQLite fallback when PostgreSQL is configured"

"""`ades.mining.diffs`: patches from long-lived `git diff-tree --stdin` processes equal what
`git show --format= --patch` prints, stay correct under concurrency, and survive dying git."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading

import ades
import pytest
from ades.mining.diffs import DiffPool, DiffUnavailable, UnknownCommit
from gitrepos import RepoBuilder, git, make_linear_repo

BIG = 10**7


def _show(path, commit: str) -> bytes:
    return git(path, "show", "--no-color", "--no-ext-diff", "--format=", "--patch",
               "--end-of-options", commit, "--")


@pytest.fixture
def pool():
    pool = DiffPool(max_processes=4, timeout_seconds=10)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A repository with one commit of each kind a patch printer can get wrong, by name."""
    r = RepoBuilder(tmp_path_factory.mktemp("history") / "repo")
    commits = {}
    r.write("README.md", "# demo\n")
    r.write("src/app/main.py", "def main():\n    return 1\n")
    commits["root"] = r.commit("Initial commit")
    r.write("src/app/main.py", "def main():\n    return 2\n")
    commits["normal"] = r.commit("Return two")
    r.write("src/app/long.py", "".join(f"line {i}\n" for i in range(40)))
    r.commit("Add a long file")
    r.rename("src/app/long.py", "src/lib/long.py")
    r.write("src/lib/long.py", r.read("src/lib/long.py").replace(b"line 7\n", b"line seven\n"))
    commits["rename"] = r.commit("Move long.py and edit it")
    r.write("assets/logo.png", bytes(range(256)) * 4)
    commits["binary_added"] = r.commit("Add a logo")
    r.write("assets/logo.png", bytes(reversed(range(256))) * 4)
    commits["binary_changed"] = r.commit("Redraw the logo")
    r.write("run.sh", "#!/bin/sh\necho hi\n")
    r.commit("Add a script")
    r.chmod("run.sh", 0o755)
    commits["mode"] = r.commit("Make run.sh executable")
    r.write("latin1.txt", "café crème\n".encode("latin-1"))
    r.write("caf\u00e9.txt", b"\xff\xfe not utf-8 \x80\n")
    commits["non_utf8"] = r.commit("Add Latin-1 text")
    commits["empty"] = r.commit("Nothing changed", allow_empty=True)
    r.remove("README.md")
    commits["delete"] = r.commit("Drop the README")

    r.checkout("side", create=True)
    r.write("side.txt", "from the side\n")
    r.commit("Side work")
    r.checkout("main")
    r.write("main.txt", "on main\n")
    r.commit("Main work")
    commits["merge_clean"] = r.merge("side", "Merge side")

    r.checkout("feature", create=True)
    r.write("src/app/main.py", "def main():\n    return 3\n")
    r.commit("Return three")
    r.checkout("main")
    r.write("src/app/main.py", "def main():\n    return 4\n")
    r.commit("Return four")
    commits["merge_conflict"] = r.merge(
        "feature", "Merge feature", resolve={"src/app/main.py": "def main():\n    return 7\n"})

    r.checkout("evil", create=True)
    r.write("evil.txt", "a\n")
    r.commit("Evil side")
    r.checkout("main")
    r.write("other.txt", "b\n")
    r.commit("Other side")
    commits["merge_evil"] = r.merge("evil", "Merge evil", resolve={"main.txt": "changed in merge\n"})

    r.symlink("link", "src/app/main.py")
    commits["symlink"] = r.commit("Link to main")
    return r.path, commits


def test_the_history_has_every_kind_of_commit(history):
    path, commits = history
    assert git(path, "rev-list", "--parents", "-n1", commits["root"]).split().__len__() == 1
    for merge in ("merge_clean", "merge_conflict", "merge_evil"):
        assert len(git(path, "rev-list", "--parents", "-n1", commits[merge]).split()) == 3
    assert _show(path, commits["merge_clean"]) == b""
    assert b"diff --cc src/app/main.py" in _show(path, commits["merge_conflict"])
    assert b"rename from src/app/long.py" in _show(path, commits["rename"])
    assert b"Binary files" in _show(path, commits["binary_changed"])
    assert b"new mode 100755" in _show(path, commits["mode"])
    assert b"\xff\xfe not utf-8" in _show(path, commits["non_utf8"])


@pytest.mark.parametrize("kind", ["root", "normal", "rename", "binary_added", "binary_changed", "mode",
                                  "non_utf8", "empty", "delete", "merge_clean", "merge_conflict",
                                  "merge_evil", "symlink"])
def test_a_patch_is_byte_for_byte_what_git_show_prints(pool, history, kind):
    path, commits = history
    assert pool.patch(str(path), commits[kind], max_bytes=BIG) == (_show(path, commits[kind]), False)


def test_every_commit_of_a_realistic_history_matches_git_show_through_one_process(pool, history):
    path, _ = history
    every = git(path, "rev-list", "--all").decode().split()
    for commit in every:
        assert pool.patch(str(path), commit, max_bytes=BIG) == (_show(path, commit), False)
    assert len(pool) == 1


def test_a_sha256_repository_gives_the_same_patches(pool, tmp_path):
    git(tmp_path, "init", "-q", "--object-format=sha256", "-b", "main", "repo")
    r = RepoBuilder(tmp_path / "repo")
    r.write("a.txt", "one\n")
    first = r.commit("One")
    r.write("a.txt", "two\n")
    second = r.commit("Two")
    assert len(second) == 64
    for commit in (first, second):
        assert pool.patch(str(r.path), commit, max_bytes=BIG) == (_show(r.path, commit), False)


def test_a_long_patch_is_cut_but_read_to_its_end_so_the_next_answer_is_right(pool, history):
    path, commits = history
    whole = _show(path, commits["rename"])
    assert pool.patch(str(path), commits["rename"], max_bytes=100) == (whole[:100], True)
    assert pool.patch(str(path), commits["rename"], max_bytes=len(whole)) == (whole, False)
    assert pool.patch(str(path), commits["rename"], max_bytes=len(whole) - 1) == (whole[:-1], True)
    assert pool.patch(str(path), commits["normal"], max_bytes=BIG) == (_show(path, commits["normal"]),
                                                                     False)


def test_twenty_threads_asking_for_different_commits_each_get_their_own_patch(pool, tmp_path):
    path = make_linear_repo(tmp_path / "linear", 40)
    commits = git(path, "rev-list", "-20", "HEAD").decode().split()
    expected = {c: _show(path, c) for c in commits}
    assert len(set(expected.values())) == 20
    got: dict[str, tuple[bytes, bool]] = {}
    start = threading.Barrier(20)

    def ask(commit: str) -> None:
        start.wait()
        got[commit] = pool.patch(str(path), commit, max_bytes=BIG)

    threads = [threading.Thread(target=ask, args=(c,)) for c in commits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == {c: (patch, False) for c, patch in expected.items()}
    assert len(pool) == 1


def test_lines_that_look_like_a_sentinel_do_not_end_an_answer_early(pool, tmp_path):
    r = RepoBuilder(tmp_path / "repo")
    fake = "~ades-diff-end 0123456789abcdef0123456789abcdef\n"
    r.write("a.txt", "start\n")
    r.commit(f"Start\n\n{fake}")
    r.write("a.txt", f"start\n{fake}{fake}end\n")
    r.write(fake.strip().replace(" ", "_"), fake)
    tricky = r.commit(f"Add sentinels\n\n{fake}{fake}")
    after = r.commit(fake, allow_empty=True)
    expected = _show(r.path, tricky)
    assert fake.encode() in expected
    assert pool.patch(str(r.path), tricky, max_bytes=BIG) == (expected, False)
    assert pool.patch(str(r.path), after, max_bytes=BIG) == (b"", False)


def test_an_unknown_commit_is_reported_and_the_process_keeps_serving(pool, history):
    path, commits = history
    with pytest.raises(UnknownCommit):
        pool.patch(str(path), "0" * 40, max_bytes=BIG)
    tree = git(path, "rev-parse", f"{commits['normal']}^{{tree}}").decode().strip()
    with pytest.raises(UnknownCommit):
        pool.patch(str(path), tree, max_bytes=BIG)
    assert pool.patch(str(path), commits["normal"].upper(), max_bytes=BIG) == (
        _show(path, commits["normal"]), False)


@pytest.mark.parametrize("bad", ["", "abc", "a" * 39, "a" * 41, "a" * 63, "a" * 65, "g" * 40,
                                 "a" * 39 + "\n", "a" * 40 + "\n", "a" * 20 + "\n" + "a" * 19,
                                 "HEAD", "-" + "a" * 39, None])
def test_anything_but_a_full_hash_is_refused_before_git_sees_it(pool, history, bad):
    path, _ = history
    with pytest.raises(ValueError):
        pool.patch(str(path), bad, max_bytes=BIG)
    assert len(pool) == 0


def test_a_killed_process_is_replaced(pool, history):
    path, commits = history
    pool.patch(str(path), commits["root"], max_bytes=BIG)
    first = pool.pid_of(str(path))
    os.kill(first, signal.SIGKILL)
    assert pool.patch(str(path), commits["normal"], max_bytes=BIG) == (
        _show(path, commits["normal"]), False)
    assert pool.pid_of(str(path)) not in (None, first)


def test_a_stuck_process_is_killed_after_the_timeout_and_the_next_request_gets_a_new_one(history):
    path, commits = history
    pool = DiffPool(timeout_seconds=0.5)
    try:
        pool.patch(str(path), commits["root"], max_bytes=BIG)
        stuck = pool.pid_of(str(path))
        os.kill(stuck, signal.SIGSTOP)
        with pytest.raises(DiffUnavailable):
            pool.patch(str(path), commits["normal"], max_bytes=BIG)
        assert pool.pid_of(str(path)) is None
        with pytest.raises(ProcessLookupError):
            os.kill(stuck, 0)  # killed and reaped
        assert pool.patch(str(path), commits["normal"], max_bytes=BIG)[0] == _show(path,
                                                                                commits["normal"])
    finally:
        pool.close()


def test_a_removed_repository_is_retried_once_then_reported_without_a_traceback(pool, tmp_path,
                                                                                 caplog):
    r = RepoBuilder(tmp_path / "repo")
    r.write("a.txt", "a\n")
    first = r.commit("A")
    r.write("a.txt", "b\n")
    second = r.commit("B")
    assert pool.patch(str(r.path), first, max_bytes=BIG)[0] == _show(r.path, first)
    shutil.rmtree(r.path)
    # The running process may still answer, but it finds no objects any more.
    with pytest.raises(UnknownCommit):
        pool.patch(str(r.path), second, max_bytes=BIG)
    caplog.set_level(logging.WARNING, logger="ades.mining.diffs")
    fresh = DiffPool()
    try:
        with pytest.raises(DiffUnavailable, match="twice"):
            fresh.patch(str(r.path), second, max_bytes=BIG)
        assert fresh.pid_of(str(r.path)) is None
    finally:
        fresh.close()
    assert len(caplog.records) == 2 and all(rec.exc_info is None for rec in caplog.records)


def test_the_least_recently_used_process_is_closed_beyond_the_limit(tmp_path):
    repos = []
    for name in ("a", "b", "c"):
        r = RepoBuilder(tmp_path / name)
        r.write("f.txt", f"{name}\n")
        repos.append((str(r.path), r.commit(name)))
    pool = DiffPool(max_processes=2)
    try:
        pool.patch(*repos[0], max_bytes=BIG)
        oldest = pool.pid_of(repos[0][0])
        pool.patch(*repos[1], max_bytes=BIG)
        pool.patch(*repos[0], max_bytes=BIG)  # a is now more recent than b
        pool.patch(*repos[2], max_bytes=BIG)
        assert len(pool) == 2
        assert pool.pid_of(repos[1][0]) is None
        assert pool.pid_of(repos[0][0]) == oldest
    finally:
        pool.close()
    assert len(pool) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(oldest, 0)


def test_a_child_after_fork_starts_its_own_process(pool, history):
    path, commits = history
    pool.patch(str(path), commits["root"], max_bytes=BIG)
    parent_git = pool.pid_of(str(path))
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            patch, _ = pool.patch(str(path), commits["normal"], max_bytes=BIG)
            ok = patch == _show(path, commits["normal"]) and pool.pid_of(str(path)) != parent_git
            pool.close()
            os.write(write_end, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 16)
    os.close(read_end)
    os.waitpid(child, 0)
    assert answer == b"ok"
    os.kill(parent_git, 0)  # the child left the parent's process alone
    assert pool.pid_of(str(path)) == parent_git
    assert pool.patch(str(path), commits["normal"], max_bytes=BIG)[0] == _show(path, commits["normal"])


_GEVENT_SCRIPT = r"""
from gevent import monkey

monkey.patch_all()

import json, os, signal, subprocess, sys

import gevent

from ades.mining.diffs import DiffPool, DiffUnavailable

path, commits = sys.argv[1], sys.argv[2:]
pool = DiffPool(timeout_seconds=1.0)
shown = {c: subprocess.run(["git", "-C", path, "show", "--format=", "--patch", c],
                           capture_output=True, check=True).stdout for c in commits}
jobs = [gevent.spawn(pool.patch, path, c, max_bytes=10**7) for c in commits]
gevent.joinall(jobs, raise_error=True)
right = all(job.value == (shown[c], False) for job, c in zip(jobs, commits))
os.kill(pool.pid_of(path), signal.SIGSTOP)
ticks = []

def tick():
    while True:
        ticks.append(1)
        gevent.sleep(0.05)

ticker = gevent.spawn(tick)
try:
    pool.patch(path, commits[0], max_bytes=10**7)
    stuck = "answered"
except DiffUnavailable:
    stuck = "timed out"
ticker.kill()
again = pool.patch(path, commits[1], max_bytes=10**7) == (shown[commits[1]], False)
pool.close()
print(json.dumps({"right": right, "stuck": stuck, "ticks": len(ticks), "again": again}))
"""


def test_under_gevent_greenlets_share_the_process_and_a_stuck_one_does_not_block_the_others(
        tmp_path):
    pytest.importorskip("gevent")
    path = make_linear_repo(tmp_path / "linear", 30)
    commits = git(path, "rev-list", "-20", "HEAD").decode().split()
    shared_dir = os.path.dirname(os.path.dirname(os.path.abspath(ades.__file__)))
    result = subprocess.run([sys.executable, "-c", _GEVENT_SCRIPT, str(path), *commits],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": shared_dir})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    # While the stopped git was awaited (1 s), the ticker ran about 20 times.
    assert answer == {"right": True, "stuck": "timed out", "ticks": answer["ticks"], "again": True}
    assert answer["ticks"] >= 10

"""The git log parser reads exactly what git wrote, whatever the paths and contents hold."""

from __future__ import annotations

import pytest
from ades.mining.gitlog import GitLogError, parse_diff_git_path, parse_log, stream_commits
from ades.mining.gitrepo import reachable_commits
from gitrepos import RepoBuilder


@pytest.mark.parametrize(("header", "path"), [
    (b"a/src/app.py b/src/app.py", "src/app.py"),
    (b"a/dir with spaces/f b.txt b/dir with spaces/f b.txt", "dir with spaces/f b.txt"),
    (b"a/b/a b/b/a", "b/a"),
    (b'"a/tab\\there" "b/tab\\there"', "tab\there"),
    (b'"a/quote\\"d" "b/quote\\"d"', 'quote"d'),
    (b'"a/\\303\\251t\\303\\251" "b/\\303\\251t\\303\\251"', "été"),
    ("a/日本.py b/日本.py".encode(), "日本.py"),
])
def test_it_reads_the_path_of_a_diff_header(header, path):
    assert parse_diff_git_path(header) == path


def _mine(repo: RepoBuilder):
    hashes = reachable_commits(str(repo.path), "HEAD")
    return {c.hash: c for c in stream_commits(str(repo.path), hashes)}


def test_it_counts_lines_that_look_like_diff_syntax_as_content(tmp_path):
    repo = RepoBuilder(tmp_path / "r")
    tricky = "diff --git a/x b/x\n+++ b/x\n--- a/x\n@@ -1 +1 @@\n\x00nothing\n"
    repo.write("notes.txt", tricky.replace("\x00", ""))
    first = repo.commit("add notes")
    repo.write("notes.txt", "--- gone\n+++ here\n")
    second = repo.commit("rewrite notes")
    commits = _mine(repo)
    (added,) = commits[first].files
    assert (added.path, added.change_type, added.added, added.deleted) == ("notes.txt", "A", 5, 0)
    (changed,) = commits[second].files
    assert (changed.added, changed.deleted) == (2, 5)


def test_it_records_hunks_with_the_enclosing_function(tmp_path):
    repo = RepoBuilder(tmp_path / "r")
    body = "".join(f"    x{i} = {i}\n" for i in range(20))
    repo.write("app.py", f"import os\n\n\ndef compute():\n{body}    return 1\n")
    repo.commit("add compute")
    repo.write("app.py", f"import os\n\n\ndef compute():\n{body}    return 2\n")
    head = repo.commit("fix compute")
    (change,) = _mine(repo)[head].files
    assert [h.function for h in change.hunks] == ["def compute():"]
    assert change.language == "python"
    assert "return 2" in change.added_text


def test_it_keeps_messages_with_odd_bytes_and_unicode(tmp_path):
    repo = RepoBuilder(tmp_path / "r")
    repo.write("a", "1\n")
    message = "fix: naïve 日本語 \x01 tab\there %x00 %H\n\nbody line"
    head = repo.commit(message, author=("Zoë Ünïcode", "zoe@example.com"))
    commit = _mine(repo)[head]
    assert commit.subject == "fix: naïve 日本語 \x01 tab\there %x00 %H"
    assert commit.body == "body line"
    assert commit.author_name == "Zoë Ünïcode"


def test_it_marks_binary_files_and_detects_renames(tmp_path):
    repo = RepoBuilder(tmp_path / "r")
    repo.write("img.png", b"\x89PNG\x00\x01\x02" * 50)
    content = "".join(f"line {i}\n" for i in range(30))
    repo.write("old/name.py", content)
    repo.commit("add")
    repo.rename("old/name.py", "new/name.py")
    repo.write("img.png", b"\x89PNG\x00\x03" * 60)
    head = repo.commit("move")
    files = {f.path: f for f in _mine(repo)[head].files}
    assert files["img.png"].is_binary and files["img.png"].added == 0
    assert files["new/name.py"].change_type == "R"
    assert files["new/name.py"].old_path == "old/name.py"
    assert files["old/name.py"].change_type == "D"


def test_merges_carry_no_file_changes(tmp_path):
    repo = RepoBuilder(tmp_path / "r")
    repo.write("a", "1\n")
    repo.commit("base")
    repo.checkout("topic", create=True)
    repo.write("b", "2\n")
    repo.commit("topic work")
    repo.checkout("main")
    repo.write("c", "3\n")
    repo.commit("main work")
    merge = repo.merge("topic", "Merge topic")
    commit = _mine(repo)[merge]
    assert commit.is_merge and commit.files == []


def test_garbage_instead_of_git_output_is_a_clear_error():
    with pytest.raises(GitLogError):
        list(parse_log([b"this is not git output\n"]))
    with pytest.raises(GitLogError):
        list(parse_log([b"\x00abc\x00\n"]))


def test_a_type_change_counts_once_as_numstat_does(tmp_path):
    repo = RepoBuilder(tmp_path / "r")
    repo.write("f", "hello\n")
    repo.commit("file")
    repo.remove("f")
    repo.symlink("f", "target")
    head = repo.commit("now a symlink")
    (change,) = _mine(repo)[head].files
    assert (change.path, change.change_type, change.added, change.deleted) == ("f", "T", 1, 1)

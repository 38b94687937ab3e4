"""The test-side ground truth: the repository builders and git_truth itself."""

from __future__ import annotations

import subprocess

import pytest
from gitrepos import (
    JAPANESE_PATH,
    QUOTE_PATH,
    RESUME_PATH,
    SPACE_PATH,
    TAB_PATH,
    RepoBuilder,
    _parse_numstat_z,
    git,
    git_truth,
    make_linear_repo,
    make_realistic_repo,
)


def out(repo, *args) -> str:
    return git(repo, *args).decode("utf-8", "replace")


def head_tree(repo) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob) of HEAD's tree, exact paths."""
    entries = {}
    for record in git(repo, "ls-tree", "-r", "-z", "HEAD").split(b"\0"):
        if record:
            meta, path = record.split(b"\t", 1)
            mode, _, blob = meta.decode().split()
            entries[path.decode("utf-8")] = (mode, blob)
    return entries


def all_refs(repo) -> str:
    return out(repo, "for-each-ref", "--format=%(objectname) %(refname)")


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    return make_realistic_repo(tmp_path_factory.mktemp("realistic") / "repo")


# -- the realistic repository -----------------------------------------------------------------


def test_realistic_repo_size_branches_and_dates(realistic):
    assert 40 <= int(out(realistic, "rev-list", "--count", "HEAD")) <= 60
    assert out(realistic, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert out(realistic, "status", "--porcelain") == ""
    dates = [int(d) for d in out(realistic, "log", "--format=%at").split()]
    assert max(dates) - min(dates) > 600 * 86400
    weeks = {d // (7 * 86400) for d in dates}
    assert len(weeks) >= 35
    assert "v0.3.0" in out(realistic, "tag")


def test_realistic_repo_merges(realistic):
    merges = out(realistic, "rev-list", "--merges", "HEAD").split()
    assert len(merges) == 2
    for merge in merges:
        assert len(out(realistic, "rev-list", "--parents", "-n1", merge).split()) == 3
    # the conflict merge carries its own changes: files differing from both parents
    evil = out(realistic, "diff-tree", "--cc", "--name-only", "--format=", merges[0]).split("\n")
    assert {"config.yaml", "CHANGELOG.md"} <= set(evil)
    assert "timeout: 50" in out(realistic, "show", "HEAD:config.yaml")
    # the --no-ff feature merge is clean
    assert out(realistic, "diff-tree", "--cc", "--name-only", "--format=", merges[1]).strip() == ""


def test_realistic_repo_special_files(realistic):
    tree = head_tree(realistic)
    for path in (
        TAB_PATH,
        QUOTE_PATH,
        SPACE_PATH,
        RESUME_PATH,
        JAPANESE_PATH,
        ".mailmap",
        "vendor/lib.js",
        "web/package-lock.json",
        "Dockerfile",
        "db/schema.sql",
        "cmd/worker/main.go",
        ".github/workflows/ci.yml",
        "src/app/db.py",
    ):
        assert path in tree, path
    assert tree["current-schema.sql"][0] == "120000"
    assert tree["scripts/deploy.sh"][0] == "100755"
    empty_blob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert tree["src/app/__init__.py"][1] == empty_blob
    assert tree["docs/empty.md"][1] == empty_blob
    assert "docs/old.md" not in tree
    assert "src/app/http_client.py" not in tree and "src/app/http.py" in tree

    def show(path: str) -> bytes:
        return git(realistic, "show", f"HEAD:{path}")

    assert show("data/big.csv").count(b"\n") > 6000
    assert not show("docs/no-newline.txt").endswith(b"\n")
    assert b"\r\n" in show("scripts/run.bat")
    assert b"\0" in show("assets/logo.png")
    patch_lines = show("docs/patch-examples.txt").decode().split("\n")
    for prefix in ("diff --git", "+++ ", "--- ", "@@ "):
        assert any(line.startswith(prefix) for line in patch_lines), prefix
    dockerfile = show("Dockerfile").decode()
    assert dockerfile.count("FROM ") == 2 and "USER app" in dockerfile
    assert "CREATE INDEX" in show("db/schema.sql").decode()
    assert "go func()" in show("cmd/worker/main.go").decode()


def test_realistic_repo_history_events(realistic):
    numstat = out(realistic, "log", "--no-merges", "--no-renames", "--numstat", "--format=")
    assert numstat.count("-\t-\tassets/logo.png") == 2  # binary added, then modified
    assert "0\t0\tscripts/deploy.sh" in numstat  # mode-only change
    statuses = out(realistic, "log", "-M", "--name-status", "--format=")
    assert "R100\tsrc/app/utils.py\tsrc/app/helpers.py" in statuses
    assert any(
        line.startswith("R0") and line.endswith("src/app/http.py") for line in statuses.split("\n")
    )  # rename with edits
    assert "D\tdocs/old.md" in statuses
    # an empty non-merge commit
    pairs = [
        line.split() for line in out(realistic, "log", "--no-merges", "--format=%T %P").split("\n")
    ]
    empties = [
        tree
        for tree, *parents in filter(None, pairs)
        if parents and out(realistic, "rev-parse", f"{parents[0]}^{{tree}}").strip() == tree
    ]
    assert len(empties) == 1
    messages = out(realistic, "log", "--format=%B%x00")
    assert "Fixes #12" in messages
    reverted = [
        line.split()[-1].rstrip(".")
        for line in messages.split("\n")
        if line.startswith("This reverts commit ")
    ]
    assert len(reverted) == 1
    assert out(realistic, "cat-file", "-t", reverted[0]).strip() == "commit"
    for odd in ("\x01", "\x1e", "\x1f", "\t", "%x00", "日本語", "résumé", "🎉"):
        assert odd in messages, repr(odd)
    subjects = out(realistic, "log", "--format=%s")
    assert "feat(" in subjects and "fix(" in subjects and "Add logo" in subjects
    # one person, two emails unified by the committed .mailmap (case-insensitively)
    raw = set(out(realistic, "log", "--format=%ae").split())
    mapped = set(out(realistic, "log", "--format=%aE").split())
    assert {"alice.martin@oldcorp.example", "Alice.Martin@OldCorp.example"} <= raw
    assert "alice.martin@oldcorp.example" not in mapped
    assert "Alice.Martin@OldCorp.example" not in mapped
    assert {"Bob@Example.com", "bob@example.com"} <= mapped  # not in .mailmap: two emails


def test_realistic_repo_is_deterministic(realistic, tmp_path):
    again = make_realistic_repo(tmp_path / "elsewhere" / "other name")
    assert all_refs(again) == all_refs(realistic)
    assert out(again, "rev-parse", "HEAD") == out(realistic, "rev-parse", "HEAD")


def test_realistic_truth_shape(realistic):
    truth = git_truth(realistic)
    assert truth["commits"] == int(out(realistic, "rev-list", "--count", "HEAD"))
    assert truth["authors"] == 6
    counts = truth["file_counts"]
    assert counts[TAB_PATH] >= 4 and counts[JAPANESE_PATH] >= 4  # exact, unquoted paths
    assert counts["src/app/utils.py"] == 2 and counts["src/app/helpers.py"] == 1
    assert "src/app/cache.py" in counts  # commits of a merged branch count
    paths = [p for p, _ in truth["top_files"]]
    assert len(paths) == 20 and TAB_PATH in paths and JAPANESE_PATH in paths
    # the 20 entries are a prefix of the full ordering
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert truth["top_files"] == [list(kv) for kv in ordered[:20]]


def test_truth_lines_agree_with_plain_numstat(realistic):
    """The -z parser against an independent parse of the human-readable numstat."""
    added = deleted = records = 0
    for line in out(
        realistic, "log", "--no-merges", "--no-renames", "--numstat", "--format="
    ).split("\n"):
        if not line:
            continue
        a, d, _ = line.split("\t", 2)
        records += 1
        if a != "-":
            added += int(a)
            deleted += int(d)
    truth = git_truth(realistic)
    assert (truth["lines_added"], truth["lines_deleted"]) == (added, deleted)
    assert sum(truth["file_counts"].values()) == records


# -- git_truth on a hand-made repository ---------------------------------------------------


def test_git_truth_matches_hand_computed_numbers(tmp_path):
    r = RepoBuilder(tmp_path / "tiny")
    r.write("a.txt", "1\n2\n3\n")
    r.write("b.bin", b"\x00\x01\x02\x00")
    r.write("t\tab.txt", "x\n")
    r.commit("c1", author=("A", "a@x"), date=1_600_000_000)  # +4
    r.write(".mailmap", "A <a@x> <a2@x>\n")
    r.write("a.txt", "1\nTWO\n3\n4\n")
    r.write("b.bin", b"\x00\x09")
    r.commit("c2", author=("A Two", "A2@X"), date=1_600_000_100)  # +3 -1, binary not counted
    r.checkout("side", create=True)
    r.rename("t\tab.txt", "dir/tab moved.txt")
    r.commit("c3", author=("B", "b@x"), date=1_600_000_200)  # no renames: +1 -1
    r.checkout("main")
    r.chmod("a.txt", 0o755)
    r.commit("c4", author=("B", "B@x"), date=1_600_000_300)  # mode only: 0 0
    r.merge(
        "side",
        "c5 merge",
        author=("A", "a@x"),
        date=1_600_000_400,
        resolve={"evil.txt": "e\nvil\n"},
    )  # merge's own change: not counted
    r.commit("c6", author=("A", "a@x"), date=1_600_000_500, allow_empty=True)
    r.write("ü/é.md", "x\ny")
    r.commit("c7", author=("C", "c@x"), date=1_600_000_600)  # +2

    truth = git_truth(r.path)
    assert truth == {
        "commits": 7,
        "authors": 4,  # a@x (a2@x mapped), b@x, B@x, c@x
        "file_counts": {
            "a.txt": 3,
            "b.bin": 2,
            "t\tab.txt": 2,
            ".mailmap": 1,
            "dir/tab moved.txt": 1,
            "ü/é.md": 1,
        },
        "lines_added": 10,
        "lines_deleted": 2,
        "top_files": [
            ["a.txt", 3],
            ["b.bin", 2],
            ["t\tab.txt", 2],
            [".mailmap", 1],
            ["dir/tab moved.txt", 1],
            ["ü/é.md", 1],
        ],
    }


def test_git_truth_top_files_cut_and_order(tmp_path):
    r = RepoBuilder(tmp_path / "many")
    names = [f"f{i:02d}.txt" for i in range(25)]
    for name in reversed(names):
        r.write(name, "a\n")
    r.write("Zebra.txt", "a\n")
    r.commit("many files")
    r.write("f24.txt", "a\nb\n")
    r.write("Zebra.txt", "a\nb\n")
    r.commit("two again")
    top = git_truth(r.path)["top_files"]
    assert top[:2] == [["Zebra.txt", 2], ["f24.txt", 2]]  # code-point order: "Z" < "f"
    assert top[2:] == [[n, 1] for n in names[:18]]


def test_numstat_z_parser_handles_renames_and_tabs():
    raw = b"1\t2\t\x00old\tname\x00new name\x00-\t-\tbin\x000\t0\tmode\tonly\x00"
    assert _parse_numstat_z(raw) == (1, 2, ["new name", "bin", "mode\tonly"])
    with pytest.raises(ValueError):
        _parse_numstat_z(b"garbage\0")


def test_repo_builder_reopens_existing_repo(tmp_path):
    r = RepoBuilder(tmp_path / "r")
    first = r.commit("one", allow_empty=True)
    again = RepoBuilder(tmp_path / "r")
    again.write("x", "y\n")
    second = again.commit("two", date="2023-05-01T12:00:00+02:00")
    assert out(again.path, "rev-parse", "HEAD~1").strip() == first
    assert out(again.path, "log", "-1", "--format=%aI").strip() == "2023-05-01T12:00:00+02:00"
    assert second != first


def test_merge_without_resolution_of_a_conflict_fails(tmp_path):
    r = RepoBuilder(tmp_path / "c")
    r.write("f", "base\n")
    r.commit("base")
    r.checkout("other", create=True)
    r.write("f", "other\n")
    r.commit("other")
    r.checkout("main")
    r.write("f", "main\n")
    r.commit("main")
    with pytest.raises(RuntimeError):
        r.merge("other", "merge")


# -- fast-import linear repositories --------------------------------------------------------


def test_linear_repo_has_exactly_n_commits(tmp_path):
    repo = make_linear_repo(tmp_path / "lin", 1500, files=20)
    assert int(out(repo, "rev-list", "--count", "HEAD")) == 1500
    assert out(repo, "rev-list", "--merges", "HEAD") == ""
    assert out(repo, "status", "--porcelain") == ""
    truth = git_truth(repo)
    assert truth["commits"] == 1500
    assert truth["authors"] >= 5
    assert truth["lines_added"] > truth["lines_deleted"] > 0
    root = out(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    initial = set(out(repo, "ls-tree", "-r", "--name-only", root).split())
    current = set(out(repo, "ls-tree", "-r", "--name-only", "HEAD").split())
    assert len(initial) == 20
    assert initial - current, "some files were deleted"
    assert current - initial, "some files were added"
    counts = [c for _, c in truth["top_files"]]
    assert counts[0] > 50
    subjects = out(repo, "log", "--format=%s")
    assert "fix" in subjects and "feat" in subjects and "docs:" in subjects


def test_linear_repo_is_deterministic(tmp_path):
    a = make_linear_repo(tmp_path / "a", 300, files=10)
    b = make_linear_repo(tmp_path / "b", 300, files=10)
    c = make_linear_repo(tmp_path / "c", 300, files=10, seed=2)
    assert out(a, "rev-parse", "HEAD") == out(b, "rev-parse", "HEAD")
    assert out(a, "rev-parse", "HEAD") != out(c, "rev-parse", "HEAD")


def test_linear_repo_single_commit_and_bad_count(tmp_path):
    repo = make_linear_repo(tmp_path / "one", 1, files=3)
    assert git_truth(repo)["commits"] == 1
    assert git_truth(repo)["file_counts"] and len(git_truth(repo)["file_counts"]) == 3
    with pytest.raises(ValueError):
        make_linear_repo(tmp_path / "zero", 0)


def test_git_is_run_without_a_shell(tmp_path):
    """Paths with shell metacharacters reach git untouched."""
    r = RepoBuilder(tmp_path / "sh")
    nasty = "$(touch pwned); `id` & 'q' | > x.txt"
    r.write(nasty, "ok\n")
    r.commit("nasty")
    assert nasty in git_truth(r.path)["file_counts"]
    assert not (r.path / "pwned").exists()
    subprocess.run(["git", "--version"], check=True, capture_output=True)

"""Commit classification from parents, message, conventional prefix, paths and diff shape."""

from __future__ import annotations

import pytest
from ades.analysis.classify import CATEGORIES, classify_commit, conventional_prefix
from ades.model import Commit, FileChange

PARENT = "1" * 40
REVERTED = "0123abcd4567ef0123abcd4567ef0123abcd4567"


def make_commit(message: str, files=(), parents=(PARENT,)) -> Commit:
    """A mined commit by Alice with the given message, files and parents."""
    return Commit(
        hash="c0ffee" + "0" * 34,
        parents=list(parents),
        author_name="Alice",
        author_email="alice@example.com",
        author_time=1_700_000_000,
        committer_name="Alice",
        committer_email="alice@example.com",
        commit_time=1_700_000_000,
        message=message,
        files=list(files),
    )


def change(path: str, added: int = 5, deleted: int = 2, change_type: str = "M") -> FileChange:
    return FileChange(path=path, change_type=change_type, added=added, deleted=deleted)


CODE = [change("ades/http/client.py", 12, 4)]
TESTS = [change("tests/test_client.py", 30, 0), change("tests/conftest.py", 4, 1)]
DOCS = [change("README.md", 1, 1)]
LOCKS = [change("package.json", 1, 1), change("package-lock.json", 14, 14)]


def test_it_lists_exactly_the_eleven_categories():
    assert CATEGORIES == (
        "feature",
        "bugfix",
        "refactor",
        "performance",
        "security",
        "documentation",
        "test",
        "configuration",
        "dependency",
        "revert",
        "merge",
    )


@pytest.mark.parametrize(
    ("message", "files", "category"),
    [
        ("fix(http): retry on 503 with exponential backoff", CODE, "bugfix"),
        ("feat(search): add path prefix filter", CODE, "feature"),
        ("feat!: drop support for Python 3.10", CODE, "feature"),
        ("refactor(storage): split history writer from queries", CODE, "refactor"),
        ("perf(db): batch inserts with COPY", CODE, "performance"),
        ("docs: fix typo in README", DOCS, "documentation"),
        ("docs(api): describe pagination parameters", [change("docs/api.md")], "documentation"),
        ("test: cover retry exhaustion", TESTS, "test"),
        ("ci: cache pip downloads", [change(".github/workflows/ci.yml")], "configuration"),
        ("build(docker): use multi-stage image", [change("Dockerfile")], "configuration"),
        ("chore(deps): bump requests from 2.31.0 to 2.32.0", LOCKS, "dependency"),
        ("fix(deps): update dependency express to v4.19.2", LOCKS, "dependency"),
        ("build(deps-dev): bump eslint from 8.56.0 to 8.57.0", LOCKS, "dependency"),
        ("sec: escape HTML in commit titles", CODE, "security"),
        ("style: apply black", CODE, "refactor"),
        ("[FIX] crash on empty repository", CODE, "bugfix"),
        ("Fix: handle missing HEAD", CODE, "bugfix"),
    ],
)
def test_it_trusts_a_conventional_commit_prefix(message, files, category):
    result = classify_commit(make_commit(message, files))
    assert result.category == category
    assert result.confidence >= 0.65


@pytest.mark.parametrize(
    ("message", "files", "category"),
    [
        ("Fix crash when config file is missing", CODE, "bugfix"),
        ("Handle null pointer in diff parser", CODE, "bugfix"),
        ("Memory leak in the ingest worker", CODE, "bugfix"),
        ("Add support for GitLab merge request links", CODE, "feature"),
        ("Implement weekly trend forecast", CODE, "feature"),
        ("Refactor auth middleware into a blueprint", CODE, "refactor"),
        ("Rename UserManager to UserService", CODE, "refactor"),
        ("Clean up unused imports", CODE, "refactor"),
        ("Speed up diff parsing by caching hunks", CODE, "performance"),
        ("Optimize hotspot query", CODE, "performance"),
        ("Sanitize user input to prevent XSS in comments", CODE, "security"),
        ("Patch CVE-2021-44228 in log formatter", CODE, "security"),
        ("Fix typo in README", DOCS, "documentation"),
        ("Update README", DOCS, "documentation"),
        ("Add tests for the rename detector", TESTS, "test"),
        ("Fix flaky test in ingest suite", TESTS, "test"),
        ("Bump lodash from 4.17.20 to 4.17.21", LOCKS, "dependency"),
        ("Upgrade Django to 4.2.11", [change("requirements.txt", 1, 1)], "dependency"),
        (
            "Update CI workflow to run on pull requests",
            [change(".github/workflows/ci.yml")],
            "configuration",
        ),
        ("Tune gunicorn settings", [change("deploy/gunicorn.conf.toml")], "configuration"),
    ],
)
def test_it_weighs_keywords_and_paths_without_a_prefix(message, files, category):
    assert classify_commit(make_commit(message, files)).category == category


def test_it_treats_a_typo_fix_in_docs_as_documentation():
    result = classify_commit(make_commit("docs: fix typo in README", DOCS))
    assert result.category == "documentation"
    assert "prefix:docs" in result.signals
    assert "paths:all-docs" in result.signals


def test_it_treats_a_fix_prefix_touching_only_docs_as_documentation():
    result = classify_commit(make_commit("fix: broken link in installation guide", DOCS))
    assert result.category == "documentation"


def test_it_treats_a_fix_prefix_touching_only_tests_as_test():
    assert classify_commit(make_commit("fix: flaky retry test", TESTS)).category == "test"


def test_it_classifies_every_merge_as_merge_with_full_confidence():
    result = classify_commit(
        make_commit("Merge pull request #42 from alice/fix-crash", parents=(PARENT, "2" * 40))
    )
    assert result.category == "merge"
    assert result.confidence == 1.0
    assert result.signals == ["parents:2"]


def test_it_does_not_call_a_single_parent_merge_message_a_merge():
    assert (
        classify_commit(make_commit("Merge branch 'main' into feature", CODE)).category != "merge"
    )


@pytest.mark.parametrize(
    "message",
    [
        f'Revert "Add caching layer"\n\nThis reverts commit {REVERTED}.',
        'Revert "Add caching layer"',
        f"Undo the cache\n\nThis reverts commit {REVERTED}.",
        "revert: feat(cache): add caching layer",
        f'Reapply "Add caching layer"\n\nThis reverts commit {REVERTED}.',
    ],
)
def test_it_recognises_reverts(message):
    result = classify_commit(make_commit(message, CODE))
    assert result.category == "revert"
    assert result.confidence >= 0.95


def test_it_is_most_confident_when_subject_and_body_both_say_revert():
    message = 'Revert "Add caching layer"\n\nThis reverts commit 0123abcd4567ef0123abcd4567ef01.'
    result = classify_commit(make_commit(message, CODE))
    assert result.confidence == 1.0
    assert result.signals == ["subject:revert", "body:reverts-commit"]


@pytest.mark.parametrize(
    ("message", "absent"),
    [
        ("Add prefix option to the logger", "keyword:fix"),
        ("Improve debugger output for hunks", "keyword:bug"),
        ("Parse IPv6 address literals", "keyword:add"),
        ("Load fixtures from JSON", "keyword:fix"),
        ("Rename fix_typo helper", "keyword:fix"),
        ("Show contest results", "keyword:test"),
    ],
)
def test_it_matches_keywords_on_word_boundaries_only(message, absent):
    assert absent not in classify_commit(make_commit(message, CODE)).signals


def test_it_explains_its_decision_with_signals():
    result = classify_commit(make_commit("fix(http)!: retry on 503", CODE))
    assert result.signals[:3] == ["prefix:fix", "scope:http", "breaking"]

    result = classify_commit(make_commit("Fix crash when the repository is empty", CODE))
    assert "keyword:fix" in result.signals
    assert "keyword:crash" in result.signals


def test_it_escalates_a_fix_for_a_named_vulnerability_to_security():
    message = "fix(api): escape search terms\n\nThe query was open to SQL injection."
    result = classify_commit(make_commit(message, CODE))
    assert result.category == "security"
    assert "keyword:injection" in result.signals


def test_it_lets_paths_decide_under_a_vague_chore_prefix():
    assert classify_commit(make_commit("chore: update lockfile", LOCKS)).category == "dependency"
    gitignore = [change(".gitignore", 2, 0)]
    assert classify_commit(make_commit("chore: ignore venv", gitignore)).category == (
        "configuration"
    )


def test_it_does_not_let_pasted_release_notes_outvote_the_subject():
    notes = "\n".join(
        f"- fix crash in parser {i}\n- add support for feature {i}\n- improve performance"
        for i in range(200)
    )
    message = f"Bump lodash from 4.17.20 to 4.17.21\n\nRelease notes:\n{notes}"
    assert classify_commit(make_commit(message, LOCKS)).category == "dependency"


def test_it_ignores_names_in_trailers():
    message = "Tidy ingest loop\n\nSigned-off-by: Bug Fixer <bug@example.com>"
    result = classify_commit(make_commit(message, CODE))
    assert result.category == "refactor"


@pytest.mark.parametrize(
    ("files", "category", "signal"),
    [
        ([change("ades/new_module.py", 120, 0, "A")], "feature", "diff:new-files"),
        ([change("ades/new.py", 0, 0, "R")], "refactor", "diff:renames"),
        ([change("ades/old.py", 0, 300, "D")], "refactor", "diff:mostly-deletions"),
        ([change("ades/cli.py", 3, 2)], "bugfix", "diff:small-edit"),
    ],
)
def test_it_falls_back_to_the_shape_of_the_diff_when_the_message_is_silent(files, category, signal):
    result = classify_commit(make_commit("WIP", files))
    assert result.category == category
    assert signal in result.signals
    assert result.confidence <= 0.5


def test_it_defaults_to_a_low_confidence_feature_when_there_is_no_evidence():
    result = classify_commit(make_commit(""))
    assert result.category == "feature"
    assert result.confidence <= 0.2
    assert result.signals == ["default"]


def test_it_handles_unicode_messages():
    result = classify_commit(make_commit("修复: Fix crash on naïve datetimes — “UTC” only", CODE))
    assert result.category == "bugfix"


def test_it_classifies_a_huge_message_by_its_opening():
    body = "The parser was slow because it re-read every blob. " * 50_000
    result = classify_commit(make_commit("Speed up blob reading\n\n" + body, CODE))
    assert result.category == "performance"


MESSAGES = [
    "",
    "x",
    "fix: ",
    "feat(: broken prefix",
    "Merge branch 'x'",
    "🎉 initial commit",
    "Revert",
    "fix(deps)!: bump everything",
    "\n\n\n",
    "a" * 10_000,
]


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("files", [[], CODE, DOCS, TESTS, LOCKS])
def test_it_always_returns_a_known_category_with_confidence_in_range(message, files):
    result = classify_commit(make_commit(message, files))
    assert result.category in CATEGORIES
    assert 0.0 <= result.confidence <= 1.0
    assert result.signals
    assert all(isinstance(signal, str) and len(signal) < 80 for signal in result.signals)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("fix(http): retry on 503", ("fix", "http", False, "retry on 503")),
        ("feat!: new config format", ("feat", "", True, "new config format")),
        ("Feat(API)!: drop v1", ("feat", "api", True, "drop v1")),
        ("[docs] explain hotspots", ("docs", "", False, "explain hotspots")),
        ("fixup! fix: handle empty diff", ("fix", "", False, "handle empty diff")),
    ],
)
def test_it_parses_conventional_prefixes(subject, expected):
    assert tuple(conventional_prefix(subject)) == expected


@pytest.mark.parametrize(
    "subject",
    ["net/http: fix deadlock", "api: add endpoint", "Fix the crash", "", "WIP: stuff"],
)
def test_it_does_not_mistake_component_prefixes_for_conventional_types(subject):
    assert conventional_prefix(subject) is None

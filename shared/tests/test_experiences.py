"""Experiences: which commits carry a lesson, and how the lesson is summarised and linked."""

from __future__ import annotations

import pytest
from ades.analysis.classify import classify_commit
from ades.analysis.experiences import (
    MAX_TAGS,
    SEARCH_TEXT_MAX_CHARS,
    TITLE_MAX_CHARS,
    build_experience,
    experience_search_text,
)
from ades.model import Classification, Commit, FileChange, Hunk, PatternMatch

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


def change(path, added=5, deleted=2, change_type="M", language="", skip="", functions=()):
    return FileChange(
        path=path,
        change_type=change_type,
        added=added,
        deleted=deleted,
        language=language,
        skip_reason=skip,
        hunks=[Hunk(1, 1, 1, 1, function) for function in functions],
    )


def experience_of(message, files=(), patterns=(), parents=(PARENT,)):
    commit = make_commit(message, files, parents)
    return build_experience(commit, classify_commit(commit), list(patterns))


def pattern(name, path="ades/http/client.py"):
    return PatternMatch(pattern=name, path=path, line=3, snippet="...")


CLIENT = change(
    "ades/http/client.py",
    added=40,
    deleted=5,
    language="python",
    functions=["def send_request(self, url):", "class Client:"],
)
RETRY_FIX = (
    "fix(http): retry on 503 with exponential backoff\n\n"
    "Ingest failed during deploys because the API returned 503 and we gave up at once.\n"
    "Now we retry five times.\n\n"
    "Fixes #123\n"
    "Signed-off-by: Alice <alice@example.com>"
)


# --- commits without a lesson -------------------------------------------------------------


def test_it_skips_a_merge_with_no_changes_of_its_own():
    assert (
        experience_of("Merge pull request #42 from alice/retry", parents=(PARENT, "2" * 40)) is None
    )


def test_it_keeps_a_merge_that_carries_its_own_changes():
    experience = experience_of(
        "Merge branch 'main' into retry\n\nResolve conflict in client.",
        [CLIENT],
        parents=(PARENT, "2" * 40),
    )
    assert experience is not None
    assert experience.category == "merge"


@pytest.mark.parametrize(
    "message",
    ["", "wip", "WIP", "update", "Trigger CI", "Release v1.2.0", "fix stuff", "1.0.3"],
)
def test_it_skips_a_commit_with_no_files_and_a_trivial_message(message):
    assert experience_of(message) is None


def test_it_keeps_an_empty_commit_whose_message_explains_a_decision():
    message = "Record decision to keep SQLite for tests\n\nPostgreSQL fixtures were too slow."
    assert experience_of(message) is not None


@pytest.mark.parametrize(
    "message",
    [
        "Run black",
        "style: fix indentation",
        "Reformat with prettier",
        "Remove trailing whitespace",
        "style: apply gofmt to ingest",
        "chore: run isort on all files",
    ],
)
def test_it_skips_formatting_only_commits(message):
    files = [change("ades/ingest/worker.py", 80, 80), change("ades/ingest/queue.py", 20, 20)]
    assert experience_of(message, files) is None


@pytest.mark.parametrize(
    ("message", "patterns"),
    [
        ("style: rename variables for clarity", []),
        ("Reformat the retry loop\n\nThe nested ifs hid a missing break.", []),
        ("Run black", [pattern("context-manager")]),
        ("Fix crash in formatter for empty diffs", []),
    ],
)
def test_it_keeps_formatting_commits_with_other_evidence(message, patterns):
    assert experience_of(message, [CLIENT], patterns) is not None


# --- title and problem --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "title"),
    [
        (
            "fix(http): retry on 503 with exponential backoff",
            "retry on 503 with exponential backoff",
        ),
        ("feat!: drop Python 3.10", "drop Python 3.10"),
        ("[docs] explain hotspots", "explain hotspots"),
        ("fixup! fix: handle empty diff", "handle empty diff"),
        ("Add GitLab links (#812)", "Add GitLab links"),
        ("net/http: fix deadlock in Transport", "net/http: fix deadlock in Transport"),
        ('Revert "Add caching layer"', 'Revert "Add caching layer"'),
        ("Handle naïve datetimes in the ingest 🚀.", "Handle naïve datetimes in the ingest 🚀"),
    ],
)
def test_it_titles_an_experience_with_the_subject_minus_its_prefix(message, title):
    assert experience_of(message, [CLIENT]).title == title


def test_it_shortens_a_long_title_at_a_word_boundary():
    subject = "Fix " + " ".join(f"word{i}" for i in range(100))
    title = experience_of(subject, [CLIENT]).title
    assert len(title) <= TITLE_MAX_CHARS
    assert title.endswith("…")
    assert title[:-1] == subject[: len(title) - 1]


def test_it_names_the_files_when_the_message_is_empty():
    files = [change("ades/cli.py", 10, 1), change("ades/ingest.py", 2, 0)]
    assert experience_of("", files).title == "Changes to ades/cli.py and 1 more file"


def test_it_takes_the_problem_from_sentences_that_say_what_went_wrong():
    experience = experience_of(RETRY_FIX, [CLIENT])
    assert experience.problem == (
        "Ingest failed during deploys because the API returned 503 and we gave up at once."
    )


def test_it_reads_bullet_points_as_sentences():
    message = (
        "Harden ingest against bad objects\n\n"
        "- Skip blobs that are missing from the pack\n"
        "- Log the object id\n"
        "- The worker crashed when a tree was truncated"
    )
    problem = experience_of(message, [CLIENT]).problem
    assert problem == (
        "Skip blobs that are missing from the pack The worker crashed when a tree was truncated"
    )


def test_it_explains_a_revert_with_the_reason_not_the_boilerplate():
    message = (
        f'Revert "Add caching layer"\n\nThis reverts commit {REVERTED}.\n\n'
        "The cache served stale data to logged-out users."
    )
    assert experience_of(message, [CLIENT]).problem == (
        "The cache served stale data to logged-out users."
    )


def test_it_falls_back_to_the_title_when_the_body_names_no_problem():
    message = "feat(search): add path prefix filter\n\nSigned-off-by: Alice <alice@example.com>"
    assert experience_of(message, [CLIENT]).problem == "add path prefix filter"


def test_it_bounds_the_problem_of_a_huge_message():
    body = "The worker crashed because the queue was full. " * 20_000
    experience = experience_of("Fix worker crash\n\n" + body, [CLIENT])
    assert 0 < len(experience.problem) <= 600


# --- solution, languages, patterns, size --------------------------------------------------


def test_it_summarises_files_functions_and_lines_in_the_solution():
    files = [
        CLIENT,
        change("tests/test_client.py", 60, 0, "A", "python", functions=["def test_retry():"]),
        change("ades/http/old_retry.py", 0, 30, "D", "python"),
    ]
    solution = experience_of(RETRY_FIX, files).solution
    assert solution == (
        "Changed 3 files (+100 -35 lines): tests/test_client.py (new, +60), "
        "ades/http/client.py (+40 -5), ades/http/old_retry.py (deleted, -30). "
        "Functions: test_retry, send_request, Client."
    )


def test_it_lists_only_the_top_files_by_churn_and_counts_the_rest():
    files = [change(f"ades/module{i}.py", added=i, deleted=0) for i in range(1, 9)]
    solution = experience_of("Refactor modules", files).solution
    assert "ades/module8.py (+8 -0), ades/module7.py (+7 -0)" in solution
    assert "ades/module3.py" not in solution
    assert "and 3 more" in solution


def test_it_puts_skipped_files_after_the_code_that_was_analysed():
    files = [
        change("package-lock.json", 900, 800, skip="generated"),
        change("web/src/api.ts", 3, 1, language="typescript"),
    ]
    solution = experience_of("Bump axios from 1.6.0 to 1.6.8", files).solution
    assert solution.index("web/src/api.ts") < solution.index("package-lock.json")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("def send_request(self, url):", "send_request"),
        ("async def fetch(self) -> bytes:", "fetch"),
        ("func (t *Transport) roundTrip(req *Request) (*Response, error) {", "roundTrip"),
        ("public Response handle(Request request) throws IOException {", "handle"),
        ("static int parse_header(const char *line)", "parse_header"),
        ("void Parser::consume(Token t)", "Parser::consume"),
        ("const useRetry = (options) => {", "useRetry"),
        ("export function retryWithBackoff(fn, attempts) {", "retryWithBackoff"),
        ("class RetryPolicy:", "RetryPolicy"),
        ("impl Display for Commit {", "Display"),
        ("jobs:", "jobs"),
    ],
)
def test_it_names_touched_functions_from_hunk_headers(header, name):
    files = [change("src/x", functions=[header])]
    assert f"Functions: {name}." in experience_of("Fix retry handling", files).solution


def test_it_deduplicates_functions_and_ranks_the_most_touched_first():
    headers = ["def a():", "def b():", "def b():", "def c():", "def d():", "def e():", "def f():"]
    solution = experience_of("Fix retry handling", [change("x.py", functions=headers)]).solution
    assert "Functions: b, a, c, d, e and 1 more." in solution


def test_it_ignores_functions_in_skipped_files():
    files = [change("vendor/lib.go", skip="vendored", functions=["func Vendored() {"])]
    assert "Functions" not in experience_of("Fix vendored lib", files).solution


def test_it_lists_languages_of_analysed_files_only():
    files = [
        change("web/src/api.ts", language="typescript"),
        change("ades/cli.py", language="python"),
        change("ades/model.py", language="python"),
        change("vendor/x/y.go", language="go", skip="vendored"),
        change("assets/logo.png", skip="binary"),
        change("notes.unknown"),
    ]
    assert experience_of("Fix retry handling", files).languages == ["python", "typescript"]


def test_it_falls_back_to_the_path_when_a_file_has_no_language_recorded():
    assert experience_of("Fix retry handling", [change("cmd/main.go")]).languages == ["go"]


def test_it_lists_distinct_pattern_names_sorted():
    patterns = [pattern("retry-backoff"), pattern("context-manager"), pattern("retry-backoff")]
    experience = experience_of(RETRY_FIX, [CLIENT], patterns)
    assert experience.patterns == ["context-manager", "retry-backoff"]


def test_it_measures_size_as_all_added_and_deleted_lines():
    files = [CLIENT, change("package-lock.json", 100, 50, skip="generated")]
    assert experience_of(RETRY_FIX, files).size == 45 + 150


def test_it_copies_the_category_from_the_classification():
    commit = make_commit(RETRY_FIX, [CLIENT])
    classification = Classification("security", 0.8, ["manual"])
    assert build_experience(commit, classification, []).category == "security"


# --- tags ---------------------------------------------------------------------------------


def test_it_tags_with_the_scope_message_topics_and_directories():
    files = [CLIENT, change("ingest/worker.py", 3, 1)]
    tags = experience_of(RETRY_FIX, files).tags
    assert tags == ["http", "retry", "backoff", "api", "ades", "ingest"]


@pytest.mark.parametrize(
    ("message", "files", "expected"),
    [
        ("feat(auth,session): add JWT login", [], ["auth", "session"]),
        ("net/http: fix deadlock in Transport", [], ["net/http", "deadlock"]),
        ("Add migration for the commits index", [], ["migration", "index"]),
        ("Cache co-change counts in Redis", [], ["cache", "redis"]),
        ("Bump lodash from 4.17.20 to 4.17.21", [change("package.json")], ["lodash"]),
        ("Fix race condition in rate limiter", [], ["race-condition", "rate-limit"]),
        ("Tune CI", [change(".github/workflows/ci.yml")], ["ci"]),
        ("Fix worker", [change("services/gateway/app.py")], ["gateway"]),
    ],
)
def test_it_draws_tags_from_message_and_paths(message, files, expected):
    tags = experience_of(message, files or [CLIENT]).tags
    assert [tag for tag in tags if tag != "http"][: len(expected)] == expected


def test_it_keeps_tags_lowercase_distinct_and_bounded():
    message = (
        "feat(API): Retry, cache, auth, migration, timeout, logging, metrics, docker, "
        "kubernetes, pagination, validation, parser, unicode, webhook, email, search, retry"
    )
    files = [change(f"area{i}/x.py") for i in range(5)]
    tags = experience_of(message, files).tags
    assert len(tags) == MAX_TAGS
    assert tags == [tag.lower() for tag in tags]
    assert len(set(tags)) == len(tags)
    assert tags[0] == "api"


def test_it_ignores_urls_when_drawing_topics():
    message = "Bump lodash from 4.17.20 to 4.17.21\n\nSee https://github.com/lodash/lodash/releases"
    assert "http" not in experience_of(message, [change("package.json")]).tags


# --- links --------------------------------------------------------------------------------


def test_it_links_the_commit_a_revert_undoes():
    message = f'Revert "Add caching layer"\n\nThis reverts commit {REVERTED}.'
    assert experience_of(message, [CLIENT]).links == {
        "reverts": [REVERTED],
        "fixes": [],
        "issues": [],
    }


@pytest.mark.parametrize(
    ("message", "fixes"),
    [
        ('Fix hotspot rounding\n\nFixes: 1a2b3c4d5e6f ("Add hotspots")', ["1a2b3c4d5e6f"]),
        ("fixup! 9f8e7d6c", ["9f8e7d6c"]),
        ("squash! 9f8e7d6c tidy", ["9f8e7d6c"]),
        ("Correct the query\n\nThis amends 4b825dc642cb6eb9a060e54bf8d69288fbee4904.", None),
        ("Follow-up to 0badc0de1 for the empty case", ["0badc0de1"]),
        ("Fix regression\n\nfixes commit abc1234", ["abc1234"]),
        ("Fixes #123", []),
        ("Fix defaced banner", []),
        ("Fix 1234567 flaky ids", []),
    ],
)
def test_it_links_earlier_commits_this_one_fixes(message, fixes):
    expected = ["4b825dc642cb6eb9a060e54bf8d69288fbee4904"] if fixes is None else fixes
    assert experience_of(message, [CLIENT]).links["fixes"] == expected


@pytest.mark.parametrize(
    ("message", "issues"),
    [
        (RETRY_FIX, ["#123"]),
        ("Add GitLab links (#812)", ["#812"]),
        ("Fix ingest stall\n\nCloses PROJ-42 and relates to ABC-7.", ["PROJ-42", "ABC-7"]),
        (
            "Fix login\n\nSee https://github.com/acme/ades/issues/77 and acme/web#12.",
            ["https://github.com/acme/ades/issues/77", "acme/web#12"],
        ),
        (
            "Fix login\n\nhttps://acme.atlassian.net/browse/OPS-9",
            ["https://acme.atlassian.net/browse/OPS-9"],
        ),
        ("Fix GH-55 and #55 again", ["#55"]),
        ("Decode UTF-8 names, hash with SHA-256, patch CVE-2021-44228", []),
        ("Use colour #fff in the header", []),
        ("Link docs https://example.com/guide#3", []),
    ],
)
def test_it_links_referenced_issues(message, issues):
    assert experience_of(message, [CLIENT]).links["issues"] == issues


# --- search text --------------------------------------------------------------------------


def test_it_indexes_title_message_paths_functions_patterns_and_tags():
    commit = make_commit(RETRY_FIX, [CLIENT])
    experience = build_experience(commit, classify_commit(commit), [pattern("retry-backoff")])
    text = experience_search_text(commit, experience)
    for expected in (
        "retry on 503 with exponential backoff",
        "Ingest failed during deploys",
        "ades/http/client.py",
        "ades http client py",
        "send_request",
        "retry-backoff",
        "backoff",
    ):
        assert expected in text


def test_it_bounds_the_search_text():
    files = [
        change(f"ades/module_{i}/file_{i}.py", functions=[f"def handler_{i}():"])
        for i in range(3000)
    ]
    commit = make_commit("Fix everything\n\n" + "The queue was full. " * 50_000, files)
    experience = build_experience(commit, classify_commit(commit), [])
    text = experience_search_text(commit, experience)
    assert len(text) <= SEARCH_TEXT_MAX_CHARS
    assert text.startswith("Fix everything")
    assert "handler_0" in text


def test_it_builds_experiences_for_unicode_messages():
    message = (
        "修复: 处理空仓库时崩溃\n\nThe parser crashed when the 仓库 was empty — “naïve” check."
    )
    experience = experience_of(message, [CLIENT])
    assert experience.title == "修复: 处理空仓库时崩溃"
    assert "crashed" in experience.problem
    assert "仓库" in experience_search_text(make_commit(message, [CLIENT]), experience)


def test_it_titles_a_prefix_without_description_from_the_body():
    message = "fix:\n\nSigned-off-by: Alice <alice@example.com>\nStop retrying on 404."
    assert experience_of(message, [CLIENT]).title == "Stop retrying on 404"

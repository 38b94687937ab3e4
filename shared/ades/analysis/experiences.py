"""Experiences: the reusable lesson drawn from one commit, and the text search indexes for it.

An experience restates a commit as problem → solution: what the message says was wrong or
needed, and what changed (files, functions, lines). Tags, languages, patterns and links to
other commits and issues make it findable later.
"""

from __future__ import annotations

import re
from collections import Counter

from ..model import Classification, Commit, Experience, FileChange, PatternMatch
from .classify import conventional_prefix
from .languages import language_for_path

TITLE_MAX_CHARS = 120
PROBLEM_MAX_CHARS = 600
SEARCH_TEXT_MAX_CHARS = 20_000
MAX_TAGS = 12

_TOP_FILES = 5
_TOP_FUNCTIONS = 5
_TOP_DIRECTORIES = 3
_MAX_LINKS = 50
# Links and problem sentences come from the top of a message; the rest is logs and pastes.
_MESSAGE_SCAN_CHARS = 20_000

_AUTOSQUASH_RE = re.compile(r"^(?:(?:fixup|squash|amend)!\s*)+", re.IGNORECASE)
_PR_SUFFIX_RE = re.compile(r"\s*\((?:#\d+(?:,\s*)?)+\)\s*$")
_COMPONENT_RE = re.compile(r"^([\w.-]+(?:/[\w.-]+)*):\s")
# Go-style "net/http: fix ..." names a component; these words before a colon do not.
_NOT_COMPONENTS = frozenset(
    {"wip", "merge", "revert", "release", "update", "todo", "note", "hack", "draft", "tmp"}
)
# "Bump lodash from 4.17.20 to 4.17.21", "Update dependency requests to v2.32.0".
_PACKAGE_BUMP_RE = re.compile(
    r"^(?:\w+(?:\([^)]*\))?!?:\s*)?(?:bump|update|upgrade)\s+(?:dependency\s+)?"
    r"([@\w][\w@./-]{0,80})\s+(?:from|to)\s+v?\d",
    re.IGNORECASE,
)
_ISSUE_KEY_RE = re.compile(r"\b([A-Z][A-Z0-9]{1,9})-(\d{1,7})\b")
# Upper-case "KEY-123" tokens that are standards, encodings or algorithms, not tickets.
_NOT_ISSUE_KEYS = frozenset(
    {
        "CVE",
        "CWE",
        "GHSA",
        "GH",
        "UTF",
        "UCS",
        "ISO",
        "RFC",
        "SHA",
        "MD",
        "AES",
        "RSA",
        "HMAC",
        "TLS",
        "SSL",
        "HTTP",
        "PEP",
        "ES",
        "ECMA",
        "IEEE",
        "ANSI",
        "CP",
        "WIN",
        "KOI",
        "GB",
        "IPV",
        "GPT",
        "RS",
        "HS",
        "PS",
        "X",
    }
)
_ISSUE_NUMBER_RE = re.compile(r"(?<![\w/&#])(?:([\w.-]+/[\w.-]+))?#(\d{1,7})\b")
_GH_ISSUE_RE = re.compile(r"\bGH-(\d{1,7})\b", re.IGNORECASE)
_ISSUE_URL_RE = re.compile(
    r"https?://[^\s<>\"')\]]+?"
    r"/(?:issues|pull|pulls|merge_requests|browse|tickets?|bugs?|show_bug\.cgi\?id=)"
    r"[/=]?[^\s<>\"')\]]*",
    re.IGNORECASE,
)
_URL_RE = re.compile(r"https?://\S+")
_REVERTS_RE = re.compile(r"\bThis reverts commit ([0-9a-f]{7,40})\b", re.IGNORECASE)
_FIXES_HASH_RE = re.compile(
    r"(?:\b(?:fix(?:es|ed)?|amends?|amended|follow[- ]up (?:to|for|of)|regression (?:from|in))"
    r"|(?:fixup|squash|amend)!)"
    r"\s*:?\s*(?:commit\s+)?([0-9a-f]{7,40})\b",
    re.IGNORECASE,
)

_TRAILER_RE = re.compile(
    r"^(?:signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by|"
    r"suggested-by|helped-by|change-id|reviewed-on|cc|fixes|closes|resolves|refs?|bug|link|"
    r"see-also)\s*:",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
# Words that say what was wrong or what was needed.
_PROBLEM_CUE_RE = re.compile(
    r"\b(?:because|since|when|whenever|was|were|fails?|failed|failing|failure|errors?|"
    r"crash(?:es|ed)?|broke|broken|wrong|incorrect(?:ly)?|instead of|could not|couldn't|"
    r"cannot|can't|does not|doesn't|did not|didn't|unable|missing|leak(?:s|ed)?|slow|"
    r"timeouts?|timed out|panic(?:s|ked)?|exceptions?|regression|bug|problem|stale|"
    r"race|deadlock|hangs?|previously|currently|without|needs?|needed|required|so that|"
    r"in order to|otherwise|unexpected(?:ly)?|never)\b",
    re.IGNORECASE,
)

_PLACEHOLDER_SUBJECT_RE = re.compile(
    r"^(?:wip|tmp|temp|test|testing|update|updates|changes|misc|stuff|save|sync|minor|"
    r"initial commit|empty commit|trigger (?:ci|build|deploy)|retrigger ci|"
    r"release v?[\d.]+|v?[\d.]+|bump version(?: to v?[\d.]+)?)[.!]*$",
    re.IGNORECASE,
)
_MIN_SUBJECT_WORDS = 4


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words a formatting-only message is made of. If a message (with no body and no patterns)
# says nothing beyond these, the commit changed layout, not behaviour.
_FORMATTING_WORDS = _word_set(
    """format formats formatted formatting reformat reformats reformatted reformatting style
    styling whitespace whitespaces trailing spaces space tabs tab indent indents indentation
    lint linting linter lints black prettier gofmt goimports isort ruff yapf autopep8 flake8
    pep8 eslint rubocop rustfmt clang stylelint cosmetic cosmetics newline
    newlines eol eof line lines endings long length wrap wrapping"""
)
_FORMATTING_MARKERS = _FORMATTING_WORDS - {"line", "lines", "long", "length", "style", "space"}
_FILLER_WORDS = _word_set(
    """fix fixes fixed run ran apply applied use used using with the a an code codebase all
    files file in on of to for and remove removed removes add added sort sorted order imports
    import errors warnings nit nits minor some more auto automatic per by via after from
    project repo source sources again update updated"""
)

_GENERIC_DIRECTORIES = frozenset(
    {
        "src",
        "source",
        "sources",
        "lib",
        "libs",
        "app",
        "apps",
        "pkg",
        "internal",
        "cmd",
        "main",
        "java",
        "kotlin",
        "python",
        "go",
        "js",
        "ts",
        "test",
        "tests",
        "spec",
        "specs",
        "include",
        "com",
        "org",
        "net",
        "io",
        "services",
        "packages",
        "modules",
        "components",
        "plugins",
        "crates",
        "projects",
        "shared",
        "common",
        "core",
    }
)
_CI_DIRECTORIES = frozenset({".github", ".circleci", ".gitlab", ".buildkite"})

# Topic tags recognised in messages: canonical tag -> words and phrases that mean it.
_TOPICS: dict[str, str] = {
    "retry": "retry retries retried retrying",
    "backoff": "backoff|back off",
    "cache": "cache caches cached caching memoize memoization memoized lru",
    "auth": "auth authentication authenticate authorization authorize oauth login logout sso jwt",
    "session": "session sessions cookie cookies",
    "migration": "migration migrations migrate migrating",
    "database": "database databases db",
    "postgresql": "postgres postgresql psql",
    "mysql": "mysql mariadb",
    "sqlite": "sqlite sqlite3",
    "redis": "redis",
    "kafka": "kafka",
    "index": "index indexes indices indexing",
    "query": "query queries",
    "timeout": "timeout timeouts|timed out",
    "concurrency": "concurrency concurrent thread threads threading goroutine goroutines mutex",
    "async": "async asyncio await coroutine coroutines",
    "race-condition": "|race condition|race conditions|data race",
    "deadlock": "deadlock deadlocks",
    "memory": "memory oom",
    "leak": "leak leaks leaking",
    "logging": "log logs logging logger",
    "metrics": "metrics metric prometheus monitoring telemetry tracing",
    "api": "api apis endpoint endpoints",
    "http": "http https",
    "grpc": "grpc protobuf",
    "graphql": "graphql",
    "websocket": "websocket websockets",
    "cli": "cli|command line",
    "ui": "ui ux frontend",
    "config": "config configuration settings",
    "ci": "ci pipeline|github actions",
    "docker": "docker dockerfile container containers",
    "kubernetes": "kubernetes k8s helm",
    "security": "security vulnerability vulnerabilities cve",
    "xss": "xss",
    "csrf": "csrf xsrf",
    "sql-injection": "|sql injection",
    "encryption": "encryption encrypt encrypted decrypt tls ssl certificate certificates",
    "performance": "performance perf optimize optimization optimise optimisation latency",
    "pagination": "pagination paginate paginated paging",
    "validation": "validation validate validator validators",
    "serialization": "serialization serialize deserialize json yaml",
    "parsing": "parse parser parsing",
    "unicode": "unicode utf8 encoding|utf 8",
    "i18n": "i18n l10n localization localisation translation translations",
    "rate-limit": "ratelimit throttle throttling|rate limit|rate limiting|rate limiter",
    "permissions": "permission permissions rbac acl",
    "error-handling": "|error handling|error handler",
    "search": "search",
    "email": "email emails smtp",
    "upload": "upload uploads",
    "backup": "backup backups restore",
    "scheduler": "scheduler cron",
    "webhook": "webhook webhooks",
    "flaky-test": "flaky",
}
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~\u2018\u2019\u201c\u201d\u2013\u2014\u2026"
_WORD_SEPARATORS = str.maketrans(_PUNCTUATION, " " * len(_PUNCTUATION))


def _topic_tables() -> tuple[dict[str, str], dict[str, str]]:
    words: dict[str, str] = {}
    phrases: dict[str, str] = {}
    for tag, text in _TOPICS.items():
        single, *multi = text.split("|")
        for word in single.split():
            words[word] = tag
        for phrase in multi:
            phrases[" ".join(phrase.split())] = tag
    return words, phrases


_TOPIC_WORDS, _TOPIC_PHRASES = _topic_tables()

_FUNCTION_ASSIGN_RE = re.compile(r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=")
_FUNCTION_CALL_RE = re.compile(r"([A-Za-z_$~][\w$]*(?:(?:::|\.)~?[A-Za-z_$][\w$]*)*)\s*\(")
_TYPE_DECLARATION_RE = re.compile(
    r"\b(?:class|struct|interface|trait|impl|enum|module|object|namespace|record|type)\s+"
    r"([A-Za-z_][\w]*)"
)
_NOT_FUNCTION_NAMES = frozenset(
    {
        "if",
        "for",
        "while",
        "switch",
        "return",
        "func",
        "function",
        "def",
        "async",
        "await",
        "catch",
        "sizeof",
        "elif",
        "else",
        "with",
        "fn",
        "sub",
        "new",
        "typeof",
        "foreach",
        "synchronized",
        "try",
        "defined",
    }
)
_MAX_FUNCTION_CHARS = 80


def build_experience(
    commit: Commit, classification: Classification, patterns: list[PatternMatch]
) -> Experience | None:
    """Draw the reusable lesson from a commit, or return None when it carries none.

    A commit carries no lesson when it is:

    - a merge with no changes of its own (the miner reports no files for it; its branch's
      commits carry the lessons);
    - a commit with no files whose message is trivial: no body, and a subject of fewer
      than four words or a placeholder ("wip", "update", "trigger ci", "release 1.2.0");
    - formatting only: a ``style:`` prefix or formatting words ("reformat", "black",
      "trailing whitespace", "fix indentation") with nothing else in the subject beyond
      filler words and names of the touched paths, no body, and no detected patterns.

    Everything else yields an Experience whose title is the subject without its
    conventional prefix, whose problem is what the message says was wrong or needed
    (falling back to the title), and whose solution summarises the files, functions and
    lines changed.
    """
    if commit.is_merge and not commit.files:
        return None
    subject = _AUTOSQUASH_RE.sub("", commit.subject)
    prefix = conventional_prefix(subject)
    description = prefix.description if prefix is not None else subject
    body = _prose_body(commit.body[:_MESSAGE_SCAN_CHARS])
    if not commit.files and not body and _is_trivial_subject(description):
        return None
    if (
        not body
        and not patterns
        and _is_formatting_only(description, prefix is not None and prefix.type == "style", commit)
    ):
        return None

    title = _title(description, body, commit)
    return Experience(
        title=title,
        problem=_problem(body, title),
        solution=_solution(commit.files),
        category=classification.category,
        languages=sorted(
            {
                change.language or language_for_path(change.path)
                for change in commit.files
                if not change.skip_reason
            }
            - {""}
        ),
        tags=_tags(subject, prefix.scope if prefix is not None else "", body, commit.files),
        patterns=sorted({match.pattern for match in patterns}),
        size=sum(change.added + change.deleted for change in commit.files),
        links=_links(commit.message[:_MESSAGE_SCAN_CHARS]),
    )


def experience_search_text(commit: Commit, experience: Experience) -> str:
    """The text a full-text index should hold for an experience, at most 20,000 characters.

    Title, problem and message first (what people search for), then paths (whole and split
    into their directory and file names, since some tokenisers keep a path as one token),
    function names, patterns and tags.
    """
    paths: list[str] = []
    for change in commit.files:
        for path in (change.path, change.old_path):
            if path:
                paths.append(path)
                paths.append(path.replace("/", " ").replace(".", " "))
    functions = _ranked_functions(commit.files, limit=200)
    sections = [
        (experience.title, TITLE_MAX_CHARS + 10),
        (experience.problem, PROBLEM_MAX_CHARS + 10),
        (commit.message.strip(), 8_000),
        (" ".join(dict.fromkeys(paths)), 6_000),
        (" ".join(functions), 2_000),
        (" ".join(experience.patterns), 1_000),
        (" ".join(experience.tags), 1_000),
    ]
    text = "\n".join(part[:limit] for part, limit in sections if part)
    return text[:SEARCH_TEXT_MAX_CHARS]


def _is_trivial_subject(description: str) -> bool:
    stripped = description.strip()
    return len(stripped.split()) < _MIN_SUBJECT_WORDS or bool(
        _PLACEHOLDER_SUBJECT_RE.match(stripped)
    )


def _is_formatting_only(description: str, style_prefix: bool, commit: Commit) -> bool:
    words = set(description.lower().translate(_WORD_SEPARATORS).split())
    if not style_prefix and words.isdisjoint(_FORMATTING_MARKERS):
        return False
    leftover = words - _FORMATTING_WORDS - _FILLER_WORDS
    if not leftover:
        return True
    # "Run black on ades/analysis" names the formatted paths; those add no lesson either.
    path_words: set[str] = set()
    for change in commit.files:
        path_words.update(change.path.lower().translate(_WORD_SEPARATORS).split())
    return leftover <= path_words


def _prose_body(body: str) -> str:
    """The body without trailers, revert boilerplate, quotes, code blocks and HTML."""
    lines: list[str] = []
    in_fence = False
    continues_revert_line = False
    for line in body.splitlines():
        stripped = line.strip()
        if continues_revert_line:
            # git splits "This reverts commit X, reversing\nchanges made to Y." over two lines.
            continues_revert_line = False
            if stripped.startswith("changes made to"):
                continue
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence or stripped.startswith((">", "<", "|")):
            continue
        if _REVERTS_RE.match(stripped):
            continues_revert_line = stripped.endswith("reversing")
            continue
        if _TRAILER_RE.match(stripped):
            continue
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def _title(description: str, body: str, commit: Commit) -> str:
    title = _PR_SUFFIX_RE.sub("", description).strip().rstrip(".").strip()
    if not title:
        first_body_line = body.split("\n", 1)[0].strip()
        if first_body_line:
            title = first_body_line.rstrip(".")
        elif commit.files:
            others = len(commit.files) - 1
            title = f"Changes to {_churn_order(commit.files)[0].path}"
            if others:
                title += f" and {others} more file{'s' if others > 1 else ''}"
        else:
            title = f"Commit {commit.hash[:12]}"
    return _shorten(title, TITLE_MAX_CHARS)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _sentences(body: str) -> list[str]:
    """Split prose into sentences; each bullet point counts as one."""
    units: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        current: list[str] = []
        for line in paragraph.splitlines():
            if _BULLET_RE.match(line):
                if current:
                    units.append(" ".join(current))
                current = [_BULLET_RE.sub("", line).strip()]
            elif line.strip():
                current.append(line.strip())
        if current:
            units.append(" ".join(current))
    sentences: list[str] = []
    for unit in units:
        sentences.extend(part.strip() for part in _SENTENCE_END_RE.split(unit) if part.strip())
    return sentences


def _problem(body: str, title: str) -> str:
    """Body sentences that say what was wrong or needed, else the title."""
    chosen: list[str] = []
    size = 0
    for sentence in _sentences(body):
        if not _PROBLEM_CUE_RE.search(_URL_RE.sub("", sentence)):
            continue
        if size + len(sentence) > PROBLEM_MAX_CHARS:
            if not chosen:
                chosen.append(_shorten(sentence, PROBLEM_MAX_CHARS))
            break
        chosen.append(sentence)
        size += len(sentence) + 1
        if len(chosen) == 3:
            break
    return " ".join(chosen) if chosen else title


def _churn_order(files: list[FileChange]) -> list[FileChange]:
    # Analysed files before skipped ones: a lockfile's churn says little about the change.
    return sorted(
        files, key=lambda change: (bool(change.skip_reason), -(change.added + change.deleted))
    )


def _describe_file(change: FileChange) -> str:
    if change.is_binary:
        return f"{change.path} (binary)"
    if change.change_type == "A":
        return f"{change.path} (new, +{change.added})"
    if change.change_type == "D":
        return f"{change.path} (deleted, -{change.deleted})"
    if change.change_type == "R" and change.old_path:
        return f"{change.path} (renamed from {change.old_path}, +{change.added} -{change.deleted})"
    return f"{change.path} (+{change.added} -{change.deleted})"


def _solution(files: list[FileChange]) -> str:
    """Files touched (top few by churn), functions touched, and total lines."""
    if not files:
        return "No file changes."
    added = sum(change.added for change in files)
    deleted = sum(change.deleted for change in files)
    ordered = _churn_order(files)
    described = ", ".join(_describe_file(change) for change in ordered[:_TOP_FILES])
    more = len(files) - _TOP_FILES
    if more > 0:
        described += f" and {more} more"
    noun = "file" if len(files) == 1 else "files"
    text = f"Changed {len(files)} {noun} (+{added} -{deleted} lines): {described}."
    functions = _ranked_functions(files, limit=None)
    if functions:
        shown = ", ".join(functions[:_TOP_FUNCTIONS])
        extra = len(functions) - _TOP_FUNCTIONS
        text += f" Functions: {shown}{f' and {extra} more' if extra > 0 else ''}."
    return text


def _ranked_functions(files: list[FileChange], limit: int | None) -> list[str]:
    """Distinct function names from analysed files' hunks, most-touched first."""
    counts: Counter[str] = Counter()
    for change in _churn_order(files):
        if change.skip_reason:
            continue
        for hunk in change.hunks:
            name = _function_name(hunk.function)
            if name:
                counts[name] += 1
    # Counter keeps first-seen order among equal counts, so ties follow churn order.
    ranked = [name for name, _count in counts.most_common()]
    return ranked if limit is None else ranked[:limit]


def _function_name(header: str) -> str:
    """The name in a hunk header's function context ("def retry(self, n):" -> "retry")."""
    header = header.strip()
    if not header:
        return ""
    match = _FUNCTION_ASSIGN_RE.search(header)
    if match:
        return match.group(1)
    for match in _FUNCTION_CALL_RE.finditer(header):
        name = match.group(1)
        if name not in _NOT_FUNCTION_NAMES:
            return name
    match = _TYPE_DECLARATION_RE.search(header)
    if match:
        return match.group(1)
    return _shorten(header.rstrip("{:").strip(), _MAX_FUNCTION_CHARS)


def _tags(subject: str, scope: str, body: str, files: list[FileChange]) -> list[str]:
    """Topics from the scope, a component prefix, message keywords and top directories."""
    tags: list[str] = []
    for part in re.split(r"[,\s]+", scope):
        if part:
            tags.append(part)
    component = _COMPONENT_RE.match(subject)
    if component and not scope:
        name = component.group(1)
        if (
            name.lower() not in _NOT_COMPONENTS
            and conventional_prefix(subject) is None
            and not _ISSUE_KEY_RE.fullmatch(name)
        ):
            tags.append(name)
    package = _PACKAGE_BUMP_RE.match(subject)
    if package:
        tags.append(package.group(1))
    tags.extend(_topic_tags(_URL_RE.sub(" ", f"{subject}\n{body}")))
    tags.extend(_directory_tags(files))
    unique = list(dict.fromkeys(tag.lower() for tag in tags if tag))
    return unique[:MAX_TAGS]


def _topic_tags(text: str) -> list[str]:
    tokens = text.lower().translate(_WORD_SEPARATORS).split()
    found: dict[str, int] = {}
    for position, token in enumerate(tokens):
        tag = _TOPIC_WORDS.get(token)
        if tag is not None and tag not in found:
            found[tag] = position
    joined = f" {' '.join(tokens)} "
    for phrase, tag in _TOPIC_PHRASES.items():
        start = joined.find(f" {phrase} ")
        if start >= 0 and tag not in found:
            found[tag] = joined.count(" ", 0, start)
    return sorted(found, key=found.__getitem__)


def _directory_tags(files: list[FileChange]) -> list[str]:
    churn: Counter[str] = Counter()
    for change in files:
        directory = _significant_directory(change.path)
        if directory:
            churn[directory] += change.added + change.deleted + 1
    return [name for name, _count in churn.most_common(_TOP_DIRECTORIES)]


def _significant_directory(path: str) -> str:
    for directory in path.lower().split("/")[:-1]:
        if directory in _CI_DIRECTORIES:
            return "ci"
        if directory not in _GENERIC_DIRECTORIES and not directory.startswith("."):
            return directory
    return ""


def _links(message: str) -> dict[str, list[str]]:
    """Commits this one reverts or fixes, and the issues it references."""
    reverts = _dedupe(match.group(1).lower() for match in _REVERTS_RE.finditer(message))
    fixes = _dedupe(
        match.group(1).lower()
        for match in _FIXES_HASH_RE.finditer(message)
        if _looks_like_hash(match.group(1))
    )
    issues: list[str] = []
    for match in _ISSUE_URL_RE.finditer(message):
        issues.append(match.group().rstrip(".,;:!?"))
    without_urls = _URL_RE.sub(" ", message)
    for match in _ISSUE_NUMBER_RE.finditer(without_urls):
        repository, number = match.groups()
        issues.append(f"{repository}#{number}" if repository else f"#{number}")
    for match in _GH_ISSUE_RE.finditer(without_urls):
        issues.append(f"#{match.group(1)}")
    for match in _ISSUE_KEY_RE.finditer(without_urls):
        if match.group(1) not in _NOT_ISSUE_KEYS:
            issues.append(match.group())
    return {
        "reverts": reverts[:_MAX_LINKS],
        "fixes": [sha for sha in fixes if sha not in reverts][:_MAX_LINKS],
        "issues": _dedupe(issues)[:_MAX_LINKS],
    }


def _looks_like_hash(candidate: str) -> bool:
    # Short hashes need a digit and a letter so that words ("defaced") and plain numbers
    # (ticket ids) are not taken for commits.
    if len(candidate) == 40:
        return True
    has_digit = any(ch.isdigit() for ch in candidate)
    return has_digit and any(ch in "abcdefABCDEF" for ch in candidate)


def _dedupe(items) -> list[str]:
    return list(dict.fromkeys(items))

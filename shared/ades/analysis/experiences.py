"""Experiences: the reusable lesson drawn from one commit, and the text search indexes for it.

An experience restates a commit as problem → solution: what the message says was wrong or
needed, and what changed (files, functions, lines). Tags, languages, patterns and links to
other commits and issues make it findable later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from operator import itemgetter

from ..model import Classification, Commit, Experience, FileChange, PatternMatch
from .classify import ConventionalPrefix, conventional_prefix
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
# "\b[A-Z]" written as "[A-Z](?<!\w.)": opening with a character class lets the engine skip
# other characters without a match attempt.
_ISSUE_KEY_RE = re.compile(r"([A-Z](?<!\w.)[A-Z0-9]{1,9})-(\d{1,7})\b")
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
# Every "KEY-123" match holds a dash followed by a digit.
_ISSUE_KEY_HINT_RE = re.compile(r"-\d")
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
# One of these (lowercased) starts every `_FIXES_HASH_RE` match in ASCII text, and every
# match holds seven hex digits in a row (IGNORECASE adds no other character to [0-9a-f]).
_FIXES_WORDS = ("fix", "amend", "follow", "regression", "squash")
_HEX_RUN_RE = re.compile(r"[0-9a-fA-F]{7}")
# For ASCII bytes: hex digits to "x", everything else to a space.
_HEX_MASK = bytes(
    120 if chr(code) in "0123456789abcdefABCDEF" else 32 for code in range(256)
)
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
# A sentence end: the punctuation (kept with its sentence) and the whitespace after it.
# Starting with a character class rather than a lookbehind lets the engine scan for it.
_SENTENCE_END_RE = re.compile(r"[.!?]\s+(?=[A-Z0-9\"'(\[])")
# The same for text without "!" and "?": a literal first character scans faster still.
_PERIOD_END_RE = re.compile(r"\.\s+(?=[A-Z0-9\"'(\[])")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_PARAGRAPH_BREAK_RE = re.compile(r"\n\s*\n")
_SCOPE_SPLIT_RE = re.compile(r"[,\s]+")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words and phrases that say what was wrong or what was needed.
_PROBLEM_CUE_WORDS = _word_set(
    """because since when whenever was were fail fails failed failing failure error errors
    crash crashes crashed broke broken wrong incorrect incorrectly cannot unable missing leak
    leaks leaked slow timeout timeouts panic panics panicked exception exceptions regression
    bug problem stale race deadlock hang hangs previously currently without need needs needed
    required otherwise unexpected unexpectedly never"""
)
_PROBLEM_CUE_PHRASES = (
    "instead of",
    "could not",
    "couldn't",
    "can't",
    "does not",
    "doesn't",
    "did not",
    "didn't",
    "timed out",
    "so that",
    "in order to",
)
_PROBLEM_CUE_RE = re.compile(
    rf"\b(?:{'|'.join(sorted(_PROBLEM_CUE_WORDS) + list(_PROBLEM_CUE_PHRASES))})\b",
    re.IGNORECASE,
)
# The \w runs of each phrase ("couldn't" -> couldn, t), and every word worth looking up.
_PROBLEM_CUE_PHRASE_WORDS = tuple(
    frozenset(re.findall(r"\w+", phrase)) for phrase in _PROBLEM_CUE_PHRASES
)
_PROBLEM_CUE_LOOKUP = _PROBLEM_CUE_WORDS.union(*_PROBLEM_CUE_PHRASE_WORDS)


def _cue_phrases_by_key() -> dict[str, tuple[str, ...]]:
    """Cue phrases by their longest word run ("in order to" -> order).

    A phrase can only occur where that word does.
    """
    phrases: dict[str, tuple[str, ...]] = {}
    for phrase in _PROBLEM_CUE_PHRASES:
        key = max(re.findall(r"\w+", phrase), key=len)
        phrases[key] = (*phrases.get(key, ()), phrase)
    return phrases


_PROBLEM_CUE_PHRASES_BY_KEY = _cue_phrases_by_key()
_PROBLEM_CUE_PHRASE_KEYS = frozenset(_PROBLEM_CUE_PHRASES_BY_KEY)
_ASCII_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# Printable ASCII and whitespace. Other ASCII characters (controls) are neither \w,
# punctuation nor whitespace: `_lower_words` keeps them inside words, where the cue regex
# would see a word boundary.
_PLAIN_ASCII = bytes(range(32, 127)) + b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
# For ASCII bytes: lowercases letters and maps every character outside \w to a space, so
# that splitting yields the lowercased \w runs.
_ASCII_LOWER_WORDS = bytes(
    ord(chr(code).lower()) if chr(code).isalnum() or chr(code) == "_" else 32
    for code in range(128)
) + bytes(range(128, 256))

_PLACEHOLDER_SUBJECT_RE = re.compile(
    r"^(?:wip|tmp|temp|test|testing|update|updates|changes|misc|stuff|save|sync|minor|"
    r"initial commit|empty commit|trigger (?:ci|build|deploy)|retrigger ci|"
    r"release v?[\d.]+|v?[\d.]+|bump version(?: to v?[\d.]+)?)[.!]*$",
    re.IGNORECASE,
)
_MIN_SUBJECT_WORDS = 4


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
# The same mapping for ASCII text as a bytes table, which also lowercases: bytes.translate
# is one table lookup per character, str.translate a dict lookup per distinct character.
_ASCII_LOWER_SEPARATORS = bytes(
    32 if chr(code) in _PUNCTUATION else ord(chr(code).lower()) for code in range(128)
) + bytes(range(128, 256))


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
_TOPIC_WORD_SET = frozenset(_TOPIC_WORDS)
# (" phrase " to find among space-joined tokens, the phrase's words, tag), in table order.
_TOPIC_PHRASE_LIST = tuple(
    (f" {phrase} ", frozenset(phrase.split()), tag) for phrase, tag in _TOPIC_PHRASES.items()
)
_TOPIC_LOOKUP = _TOPIC_WORD_SET.union(*(words for _needle, words, _tag in _TOPIC_PHRASE_LIST))

_FUNCTION_ASSIGN_RE = re.compile(r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=")
# A name (possibly qualified) before "(". The lookbehind skips starts inside a name, where
# the attempt from the name's first letter already failed, and the possessive quantifiers
# skip backtracking that can never succeed (a name is always followed by ::, ., space or
# "(", none of which is a name character); both only save time, the matches are the same.
# Opening with a character class lets the engine skip other characters without a match
# attempt.
_FUNCTION_CALL_RE = re.compile(
    r"([A-Za-z_$~](?<![A-Za-z_$][A-Za-z_$])[\w$]*+(?:(?:::|\.)~?[A-Za-z_$][\w$]*+)*+)\s*+\("
)
_TYPE_KEYWORDS = (
    "class",
    "struct",
    "interface",
    "trait",
    "impl",
    "enum",
    "module",
    "object",
    "namespace",
    "record",
    "type",
)
_TYPE_DECLARATION_RE = re.compile(rf"\b(?:{'|'.join(_TYPE_KEYWORDS)})\s+([A-Za-z_][\w]*)")
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
    subject = commit.subject
    if "!" in subject:
        subject = _AUTOSQUASH_RE.sub("", subject)
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
    # The body's words serve both the topic tags and a quick test for problem cues.
    body_words = _lower_words(_URL_RE.sub(" ", body) if "://" in body else body)
    return Experience(
        title=title,
        problem=_problem(body, title, body_words),
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
        tags=_tags(subject, prefix, body_words, commit.files),
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
    words = set(_lower_words(description))
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
    if not body:
        return ""
    if "```" not in body and "~~~" not in body and "revert" not in body.lower():
        # No code fences and no revert lines: only quotes, HTML, tables and trailers go.
        kept = [
            line.rstrip()
            for line in body.splitlines()
            if not (
                (stripped := line.strip()).startswith((">", "<", "|"))
                or (":" in stripped and _TRAILER_RE.match(stripped))
            )
        ]
        return "\n".join(kept).strip()
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
        # Cheap tests first: "This reverts" has "revert" at [5:11], a trailer holds a colon.
        if stripped[5:11].lower() == "revert" and _REVERTS_RE.match(stripped):
            continues_revert_line = stripped.endswith("reversing")
            continue
        if ":" in stripped and _TRAILER_RE.match(stripped):
            continue
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def _title(description: str, body: str, commit: Commit) -> str:
    if "(#" in description:
        description = _PR_SUFFIX_RE.sub("", description)
    title = description.strip().rstrip(".").strip()
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


def _sentences(body: str) -> Iterator[str]:
    """Split prose into sentences, lazily; each bullet point counts as one."""
    for paragraph in _split_lazily(_PARAGRAPH_BREAK_RE, body):
        lines = paragraph.splitlines()
        stripped = list(filter(None, map(str.strip, lines)))
        # A bullet line starts (after whitespace) with a bullet character or a digit.
        if not "".join(map(itemgetter(0), stripped)).isalpha() and any(
            map(_BULLET_RE.match, lines)
        ):
            units = _bullet_units(lines)
        else:
            # One unit: the paragraph's non-blank lines, stripped and joined.
            units = [" ".join(stripped)] if stripped else []
        for unit in units:
            start = 0
            if "!" in unit or "?" in unit or "." in unit:
                ends = _PERIOD_END_RE if "!" not in unit and "?" not in unit else _SENTENCE_END_RE
                for match in ends.finditer(unit):
                    part = unit[start : match.start() + 1].strip()
                    if part:
                        yield part
                    start = match.end()
            part = unit[start:].strip()
            if part:
                yield part


def _bullet_units(lines: list[str]) -> list[str]:
    """A paragraph's lines grouped into units: each bullet point, and any text before one."""
    units: list[str] = []
    current: list[str] = []
    for line in lines:
        if _BULLET_RE.match(line):
            if current:
                units.append(" ".join(current))
            current = [_BULLET_RE.sub("", line).strip()]
        elif line.strip():
            current.append(line.strip())
    if current:
        units.append(" ".join(current))
    return units


def _split_lazily(separator: re.Pattern[str], text: str) -> Iterator[str]:
    """`separator.split(text)` one piece at a time (for separators that never match empty)."""
    start = 0
    for match in separator.finditer(text):
        yield text[start : match.start()]
        start = match.end()
    yield text[start:]


def _may_have_problem_cue(body: str, body_words: list[str]) -> bool:
    """False only when no sentence of `body` can hold a problem cue.

    Every sentence is a run of the body's words (bullets and line breaks dropped), so a
    cue word in a sentence is among the body's words, and a cue phrase's words all are.
    For plain ASCII text these words (`_lower_words`) are exactly the lowercased word runs
    the cue regex sees; anything else gets no shortcut.
    """
    if not body.isascii() or body.encode("ascii").translate(None, _PLAIN_ASCII):
        return True
    present = _PROBLEM_CUE_LOOKUP.intersection(body_words)
    if not present:
        return False
    if not _PROBLEM_CUE_WORDS.isdisjoint(present):
        return True
    return any(words <= present for words in _PROBLEM_CUE_PHRASE_WORDS)


def _has_problem_cue(sentence: str) -> bool:
    """Whether `_PROBLEM_CUE_RE` finds a cue in the sentence once its URLs are removed."""
    if "://" in sentence:
        sentence = _URL_RE.sub("", sentence)
    if not sentence.isascii():
        return _PROBLEM_CUE_RE.search(sentence) is not None
    # ASCII only: IGNORECASE is lowercasing, and a one-word cue between \b's is a \w run.
    words = sentence.encode("ascii").translate(_ASCII_LOWER_WORDS).decode("ascii").split()
    if not _PROBLEM_CUE_WORDS.isdisjoint(words):
        return True
    keys = _PROBLEM_CUE_PHRASE_KEYS.intersection(words)
    return bool(keys) and _has_cue_phrase(sentence.lower(), keys)


def _has_cue_phrase(lowered: str, keys: set[str]) -> bool:
    """Whether a cue phrase with one of `keys` occurs in `lowered` between word boundaries.

    `lowered` is lowercased ASCII, where this is exactly what the cue regex checks.
    """
    for key in keys:
        for phrase in _PROBLEM_CUE_PHRASES_BY_KEY[key]:
            start = lowered.find(phrase)
            while start >= 0:
                end = start + len(phrase)
                if (start == 0 or lowered[start - 1] not in _ASCII_WORD_CHARS) and (
                    end == len(lowered) or lowered[end] not in _ASCII_WORD_CHARS
                ):
                    return True
                start = lowered.find(phrase, start + 1)
    return False


def _problem(body: str, title: str, body_words: list[str] | None = None) -> str:
    """Body sentences that say what was wrong or needed, else the title.

    `body_words`, when given, is `_lower_words` of the body without its URLs.
    """
    chosen: list[str] = []
    size = 0
    if not body:
        return title
    if body_words is not None and not _may_have_problem_cue(body, body_words):
        return title
    for sentence in _sentences(body):
        if not _has_problem_cue(sentence):
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
    functions = _ranked_function_names(ordered)
    if functions:
        shown = ", ".join(functions[:_TOP_FUNCTIONS])
        extra = len(functions) - _TOP_FUNCTIONS
        text += f" Functions: {shown}{f' and {extra} more' if extra > 0 else ''}."
    return text


def _ranked_functions(files: list[FileChange], limit: int | None) -> list[str]:
    """Distinct function names from analysed files' hunks, most-touched first."""
    ranked = _ranked_function_names(_churn_order(files))
    return ranked if limit is None else ranked[:limit]


def _ranked_function_names(ordered: list[FileChange]) -> list[str]:
    """`_ranked_functions` over files already in churn order."""
    counts: dict[str, int] = {}
    for change in ordered:
        if change.skip_reason:
            continue
        for hunk in change.hunks:
            if hunk.function:
                name = _function_name(hunk.function)
                if name:
                    counts[name] = counts.get(name, 0) + 1
    # A stable sort keeps first-seen order among equal counts, so ties follow churn order.
    return sorted(counts, key=counts.__getitem__, reverse=True)


# Hunk headers repeat across commits (the same functions keep changing).
@lru_cache(maxsize=1 << 14)
def _function_name(header: str) -> str:
    """The name in a hunk header's function context ("def retry(self, n):" -> "retry")."""
    header = header.strip()
    if not header:
        return ""
    if "const" in header or "let" in header or "var" in header:
        match = _FUNCTION_ASSIGN_RE.search(header)
        if match:
            return match.group(1)
    if "(" in header:
        # finditer, one search at a time: most headers' first call is the name.
        match = _FUNCTION_CALL_RE.search(header)
        while match is not None:
            name = match.group(1)
            if name not in _NOT_FUNCTION_NAMES:
                return name
            match = _FUNCTION_CALL_RE.search(header, match.end())
    if any(map(header.__contains__, _TYPE_KEYWORDS)):
        match = _TYPE_DECLARATION_RE.search(header)
        if match:
            return match.group(1)
    return _shorten(header.rstrip("{:").strip(), _MAX_FUNCTION_CHARS)


def _tags(
    subject: str, prefix: ConventionalPrefix | None, body_words: list[str], files: list[FileChange]
) -> list[str]:
    """Topics from the scope, a component prefix, message keywords and top directories.

    `prefix` is `conventional_prefix(subject)`; `body_words` is `_lower_words` of the body
    without its URLs.
    """
    scope = prefix.scope if prefix is not None else ""
    tags: list[str] = []
    if scope:
        for part in _SCOPE_SPLIT_RE.split(scope):
            if part:
                tags.append(part)
    component = _COMPONENT_RE.match(subject) if not scope and ":" in subject else None
    if component:
        name = component.group(1)
        if (
            name.lower() not in _NOT_COMPONENTS
            and prefix is None
            and not ("-" in name and _ISSUE_KEY_RE.fullmatch(name))
        ):
            tags.append(name)
    lowered = subject.lower()
    if "bump" in lowered or "update" in lowered or "upgrade" in lowered:
        package = _PACKAGE_BUMP_RE.match(subject)
        if package:
            tags.append(package.group(1))
    # The words of "subject\nbody" without URLs (no URL runs past the newline).
    words = _lower_words(_URL_RE.sub(" ", subject) if "://" in subject else subject)
    tags.extend(_topic_tags(words + body_words))
    tags.extend(_directory_tags(files))
    unique = list(dict.fromkeys(map(str.lower, filter(None, tags))))
    return unique[:MAX_TAGS]


def _topic_tags(tokens: list[str]) -> list[str]:
    """Topic tags of a text's `_lower_words`, in order of their first mention.

    On ties, tags of words come before tags of phrases.
    """
    # Topic words and the words of topic phrases that occur in the text.
    present = _TOPIC_LOOKUP.intersection(tokens)
    if not present:
        return []
    # Each tag's first position among its words, inserted in position order.
    first: dict[str, int] = {}
    for word in _TOPIC_WORD_SET.intersection(present):
        tag = _TOPIC_WORDS[word]
        position = tokens.index(word)
        if tag not in first or position < first[tag]:
            first[tag] = position
    found = dict(sorted(first.items(), key=lambda item: item[1]))
    joined = ""
    for needle, phrase_tokens, tag in _TOPIC_PHRASE_LIST:
        # A phrase can only occur when every one of its words does.
        if tag in found or not phrase_tokens <= present:
            continue
        if not joined:
            joined = f" {' '.join(tokens)} "
        start = joined.find(needle)
        if start >= 0:
            found[tag] = joined.count(" ", 0, start)
    return sorted(found, key=found.__getitem__)


def _lower_words(text: str) -> list[str]:
    """`text.lower().translate(_WORD_SEPARATORS).split()`, faster for ASCII text."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_LOWER_SEPARATORS).decode("ascii").split()
    return text.lower().translate(_WORD_SEPARATORS).split()


def _directory_tags(files: list[FileChange]) -> list[str]:
    churn: dict[str, int] = {}
    for change in files:
        directory = _significant_directory(change.path)
        if directory:
            churn[directory] = churn.get(directory, 0) + change.added + change.deleted + 1
    # What Counter.most_common does: a stable sort, so ties keep first-seen order.
    return sorted(churn, key=churn.__getitem__, reverse=True)[:_TOP_DIRECTORIES]


@lru_cache(maxsize=1 << 14)
def _significant_directory(path: str) -> str:
    for directory in path.lower().split("/")[:-1]:
        if directory in _CI_DIRECTORIES:
            return "ci"
        if directory not in _GENERIC_DIRECTORIES and not directory.startswith("."):
            return directory
    return ""


def _links(message: str) -> dict[str, list[str]]:
    """Commits this one reverts or fixes, and the issues it references.

    Each regex runs only when the message holds a substring every one of its matches
    contains; most messages reference nothing, and the substring tests cost far less.
    """
    lowered = message.lower()
    reverts: list[str] = []
    if "revert" in lowered:
        reverts = _dedupe(match.group(1).lower() for match in _REVERTS_RE.finditer(message))
    fixes: list[str] = []
    fix_matches = _fixes_matches(message, lowered)
    if fix_matches:
        fixes = _dedupe(
            match.group(1).lower()
            for match in fix_matches
            if _looks_like_hash(match.group(1))
        )
    issues: list[str] = []
    without_urls = message
    if "://" in message:
        for match in _ISSUE_URL_RE.finditer(message):
            issues.append(match.group().rstrip(".,;:!?"))
        without_urls = _URL_RE.sub(" ", message)
    if "#" in without_urls:
        for match in _ISSUE_NUMBER_RE.finditer(without_urls):
            repository, number = match.groups()
            issues.append(f"{repository}#{number}" if repository else f"#{number}")
    if "gh-" in lowered:
        for match in _GH_ISSUE_RE.finditer(without_urls):
            issues.append(f"#{match.group(1)}")
    if "-" in without_urls and _ISSUE_KEY_HINT_RE.search(without_urls):
        for match in _ISSUE_KEY_RE.finditer(without_urls):
            if match.group(1) not in _NOT_ISSUE_KEYS:
                issues.append(match.group())
    return {
        "reverts": reverts[:_MAX_LINKS],
        "fixes": [sha for sha in fixes if sha not in reverts][:_MAX_LINKS],
        "issues": _dedupe(issues)[:_MAX_LINKS] if issues else [],
    }


def _fixes_matches(message: str, lowered: str) -> list[re.Match[str]]:
    """`list(_FIXES_HASH_RE.finditer(message))`, trying only where a match can start.

    In ASCII text every match starts at one of `_FIXES_WORDS` (lowercased), so matching at
    those positions, in order and never inside an earlier match, finds the same matches.
    Outside ASCII, IGNORECASE also matches "ı", "İ" and "ſ"; there any match still holds
    seven hex digits in a row.
    """
    if not message.isascii():
        return list(_FIXES_HASH_RE.finditer(message)) if _HEX_RUN_RE.search(message) else []
    # Most messages hold no seven hex digits in a row: mask them and look for the run.
    if b"xxxxxxx" not in message.encode("ascii").translate(_HEX_MASK):
        return []
    starts: list[int] = []
    for word in _FIXES_WORDS:
        position = lowered.find(word)
        while position >= 0:
            starts.append(position)
            position = lowered.find(word, position + 1)
    matches: list[re.Match[str]] = []
    end = 0
    for position in sorted(starts):
        if position < end:
            continue
        match = _FIXES_HASH_RE.match(message, position)
        if match is not None:
            end = match.end()
            matches.append(match)
    return matches


def _looks_like_hash(candidate: str) -> bool:
    # Short hashes need a digit and a letter so that words ("defaced") and plain numbers
    # (ticket ids) are not taken for commits.
    if len(candidate) == 40:
        return True
    has_digit = any(ch.isdigit() for ch in candidate)
    return has_digit and any(ch in "abcdefABCDEF" for ch in candidate)


def _dedupe(items) -> list[str]:
    return list(dict.fromkeys(items))

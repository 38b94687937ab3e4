"""Commit classification: which kind of change a commit is, how sure we are, and why.

Evidence, strongest first: the parent count (merges), git's revert messages, a
conventional-commit prefix (``fix(http)!: ...``), keywords in the subject and body, the kind
of paths touched (all docs, all tests, only lockfiles, only CI/config) and the diff's shape.
Everything is precompiled at import; one call costs a few regex scans of the message.
"""

from __future__ import annotations

import re
from functools import lru_cache, reduce
from operator import and_, attrgetter, or_
from typing import NamedTuple

from ..model import Classification, Commit, FileChange
from .filters import LOCKFILE_NAMES
from .languages import is_doc_path, is_test_path

CATEGORIES: tuple[str, ...] = (
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

# Ties go to the more specific category: "fix slow query" is a bugfix before a feature.
_TIE_ORDER = (
    "security",
    "bugfix",
    "performance",
    "dependency",
    "documentation",
    "test",
    "refactor",
    "configuration",
    "feature",
)
_TIE_RANK = {category: rank for rank, category in enumerate(_TIE_ORDER)}


class ConventionalPrefix(NamedTuple):
    """A parsed conventional-commit prefix: ``type(scope)!: description``."""

    type: str
    scope: str
    breaking: bool
    description: str


_CONVENTIONAL_RE = re.compile(
    r"^(?:\[(?P<btype>[A-Za-z]+)\]\s*:?\s*"
    r"|(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\r\n]{0,60})\))?(?P<bang>!)?:\s*)"
    r"(?P<rest>.*)$",
    re.DOTALL,
)
_AUTOSQUASH_RE = re.compile(r"^(?:(?:fixup|squash|amend)!\s*)+", re.IGNORECASE)

# Conventional types and the category each one states.
_TYPE_CATEGORY = {
    "feat": "feature",
    "feature": "feature",
    "fix": "bugfix",
    "bugfix": "bugfix",
    "hotfix": "bugfix",
    "bug": "bugfix",
    "refactor": "refactor",
    "style": "refactor",
    "perf": "performance",
    "performance": "performance",
    "docs": "documentation",
    "doc": "documentation",
    "test": "test",
    "tests": "test",
    "ci": "configuration",
    "build": "configuration",
    "chore": "configuration",
    "config": "configuration",
    "deps": "dependency",
    "dep": "dependency",
    "sec": "security",
    "security": "security",
    "revert": "revert",
}
# How much a prefix alone is worth. `chore`/`build`/`style` say little about the change
# itself, so keywords and paths may overrule them.
_TYPE_CONFIDENCE = {
    "chore": 0.5,
    "build": 0.65,
    "style": 0.7,
    "config": 0.75,
    "ci": 0.85,
}
_WEAK_TYPES = frozenset({"chore", "build", "style", "config"})
_DEPENDENCY_SCOPES = frozenset({"deps", "deps-dev", "dev-deps", "dependencies", "dependency"})

_REVERT_SUBJECT_RE = re.compile(r'^(?:revert|reapply)\s*["\'(]|^revert\b', re.IGNORECASE)
_REVERTS_COMMIT_RE = re.compile(r"\b[Tt]his reverts commit [0-9a-f]{7,40}\b")

# Keywords per category in three weights: x (decisive nouns such as "typo" or "tests" that
# name what a generic verb acts on), s (strong) and w (weak, often incidental). Each entry
# holds whole words (every inflection spelled out), then "|"-separated phrases. Messages are
# split into words first, so "prefix" never counts as "fix" nor "debugger" as "bug".
_KEYWORDS: dict[str, dict[str, str]] = {
    "bugfix": {
        "s": """fix fixes fixed fixing bug bugs bugfix bugfixes hotfix hotfixes crash crashes
            crashed crashing regression regressions leak leaks leaked leaking broken fail fails
            failed failing failure failures incorrect incorrectly wrong wrongly panic panics
            panicked panicking segfault segfaults deadlock deadlocks npe hang hangs mistake
            mistakes workaround repair repaired repairs|race condition|race conditions
            |null pointer|nil pointer|off by one|does not work|doesn t work|didn t work
            |not working|don t work""",
        "w": """error errors exception exceptions issue issues resolve resolves resolved
            correct corrects corrected prevent prevents prevented preventing handle handles
            handled missing unexpected""",
    },
    "feature": {
        "s": """add adds added adding implement implements implemented implementing
            implementation introduce introduces introduced introducing support supports
            supported supporting initial feature features allow allows allowed allowing
            enable enables enabled enabling expose exposes exposed""",
        "w": """new create creates created creating provide provides provided providing
            extend extends extended""",
    },
    "refactor": {
        "s": """refactor refactors refactored refactoring cleanup cleanups rename renames
            renamed renaming extract extracts extracted extracting simplify simplifies
            simplified simplifying simplification restructure restructures restructured
            restructuring reorganize reorganizes reorganized reorganizing reorganization
            reorganise reorganised rewrite rewrites rewrote rewritten decouple decouples
            decoupled decoupling dedup dedupe deduplicate deduplication consolidate
            consolidates consolidated consolidating unused reformat reformats reformatted
            reformatting formatting whitespace indentation tidy modernize modernized
            modernise modernised|clean up|cleans up|cleaned up|cleaning up|dead code""",
        "w": """move moves moved moving split splits splitting lint remove removes removed
            removing prettier gofmt isort rustfmt""",
    },
    "performance": {
        "s": """perf performance speedup faster quicker optimize optimizes optimized
            optimizing optimization optimizations optimise optimises optimised optimising
            optimisation latency throughput slow slower slowness slowdown allocation
            allocations benchmark benchmarks efficient efficiently|speed up|speeds up
            |sped up|memory usage|memory footprint|hot path""",
        "w": "cache caches cached caching lazy lazily batch batches batched batching",
    },
    "security": {
        "s": """security cve cwe xss csrf xsrf ssrf injection sanitize sanitizes sanitized
            sanitizing sanitization sanitise sanitised sanitising sanitisation vulnerable
            vulnerability vulnerabilities exploit exploits exploitable clickjacking harden
            hardens hardened hardening rce|privilege escalation|path traversal
            |directory traversal|open redirect|timing attack|brute force""",
        "w": "secure securely escape escapes escaped escaping unsafe insecure",
    },
    "documentation": {
        "x": """doc docs documentation readme typo typos changelog docstring docstrings
            javadoc jsdoc spelling grammar""",
        "s": "document documents documented documenting wording comment comments|man page",
    },
    "test": {
        "x": """tests unittest unittests specs coverage flaky|unit test|unit tests|test case
            |test cases|test suite""",
        "s": "testing fixture fixtures mock mocks e2e pytest junit assertion assertions",
        "w": "test",
    },
    "configuration": {
        "s": """config configs configuration configurations configure configured setting
            settings ci pipeline pipelines workflow workflows dockerfile helm k8s gitignore
            editorconfig|docker compose|env var|env vars|environment variable
            |environment variables|github actions""",
        "w": "docker kubernetes yaml makefile default defaults",
    },
    "dependency": {
        "s": """bump bumps bumped bumping upgrade upgrades upgraded upgrading dependency
            dependencies deps dependabot renovate lockfile lockfiles requirements
            |lock file|lock files|go mod tidy""",
        "w": "pin pins pinned pinning unpin unpinned vendor vendored version versions",
    },
}
_WEIGHTS = {"x": 3.0, "s": 2.0, "w": 1.0}
# Punctuation splits words: "doesn't" becomes "doesn t", "bug-fix" becomes "bug fix", while
# "_" stays inside identifiers so "fix_typo" is no keyword.
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~\u2018\u2019\u201c\u201d\u2013\u2014\u2026"
_WORD_SEPARATORS = str.maketrans(_PUNCTUATION, " " * len(_PUNCTUATION))
# The same mapping for ASCII text as a bytes table, which also lowercases: bytes.translate
# is one table lookup per character, str.translate a dict lookup per distinct character.
_ASCII_LOWER_SEPARATORS = bytes(
    32 if chr(code) in _PUNCTUATION else ord(chr(code).lower()) for code in range(128)
) + bytes(range(128, 256))


def _keyword_tables() -> tuple[dict[str, tuple[str, float]], dict[str, tuple[str, float]]]:
    words: dict[str, tuple[str, float]] = {}
    phrases: dict[str, tuple[str, float]] = {}
    for category, grades in _KEYWORDS.items():
        for grade, text in grades.items():
            single, *multi = text.split("|")
            for word in single.split():
                words[word] = (category, _WEIGHTS[grade])
            for phrase in multi:
                tokens = phrase.split()
                for token in tokens:
                    words.setdefault(token, ("", 0.0))
                phrases[" ".join(tokens)] = (category, _WEIGHTS[grade])
    return words, phrases


# Words that are only part of a phrase map to ("", 0) so one lookup serves both tables.
_WORDS, _PHRASES = _keyword_tables()
_PHRASE_FIRST_WORDS = frozenset(phrase.split(" ", 1)[0] for phrase in _PHRASES)
_KEYWORD_SET = frozenset(_WORDS)
# (phrase, " phrase " to find among space-joined tokens, its words, category, weight), in
# table order. A phrase can only occur when all its words are among the text's keywords.
_PHRASE_LIST = tuple(
    (phrase, f" {phrase} ", frozenset(phrase.split()), category, weight)
    for phrase, (category, weight) in _PHRASES.items()
)


def _phrases_by_first_word() -> dict[str, tuple[int, ...]]:
    """Indexes into _PHRASE_LIST by each phrase's first word."""
    indexes: dict[str, tuple[int, ...]] = {}
    for index, phrase in enumerate(_PHRASES):
        first = phrase.split(" ", 1)[0]
        indexes[first] = (*indexes.get(first, ()), index)
    return indexes


_PHRASES_BY_FIRST_WORD = _phrases_by_first_word()

# Dependabot/Renovate phrasing: "from 4.17.20 to 4.17.21", "to v2.3.0".
_VERSION_CHANGE_RE = re.compile(
    r"\bfrom v?\d+(?:\.\d+)+\S* to v?\d+(?:\.\d+)+|\bto (?:v\d+(?:\.\d+)*|\d+\.\d+\.\d+)\b",
    re.IGNORECASE,
)
# Trailer lines, each matched with the newline before it: the literal "\n" lets the regex
# engine skip straight from line to line (see `_without_trailers`).
_TRAILER_LINE_RE = re.compile(
    r"\n(?:signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by|"
    r"suggested-by|helped-by|change-id|reviewed-on|cc)\s*:.*$",
    re.IGNORECASE | re.MULTILINE,
)

_BODY_SCAN_CHARS = 4000
_BODY_WEIGHT = 0.5
_BODY_CAP = 2.0
_FIRST_WORD_BONUS = 1.0

_LOCKFILES = LOCKFILE_NAMES
_MANIFESTS = frozenset(
    {
        "package.json",
        "go.mod",
        "cargo.toml",
        "gemfile",
        "pipfile",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "composer.json",
        "mix.exs",
        "pubspec.yaml",
        "constraints.txt",
        "dependabot.yml",
        "renovate.json",
    }
)
_CONFIG_NAMES = frozenset(
    {
        "dockerfile",
        "containerfile",
        "makefile",
        "jenkinsfile",
        "procfile",
        ".gitignore",
        ".gitattributes",
        ".dockerignore",
        ".editorconfig",
        ".env.example",
        ".npmrc",
        ".nvmrc",
        ".python-version",
        ".tool-versions",
        ".pre-commit-config.yaml",
        "tox.ini",
        "setup.cfg",
        "tsconfig.json",
        "codeowners",
    }
)
_CONFIG_EXTENSIONS = frozenset(
    {"yml", "yaml", "toml", "ini", "cfg", "conf", "json", "properties", "env", "tf", "hcl", "mk"}
)
_CONFIG_DIRS = frozenset({".github", ".circleci", ".gitlab", ".buildkite", "deploy", "helm"})
_SMALL_DIFF_LINES = 30


# Classification and experiences both parse each subject; the parse is pure, so cache it.
@lru_cache(maxsize=1024)
def conventional_prefix(subject: str) -> ConventionalPrefix | None:
    """Parse ``type(scope)!: description`` (or ``[type] description``) from a subject.

    Returns None when the subject has no prefix or the type is not one ADES knows, so
    Go-style component prefixes such as ``net/http: ...`` are not mistaken for types.
    Leading ``fixup!``/``squash!``/``amend!`` markers are skipped.
    """
    subject = subject.strip()
    if "!" in subject:
        subject = _AUTOSQUASH_RE.sub("", subject)
    # A prefix is "[type]..." or "type...:"; most subjects are neither.
    if ":" not in subject and not subject.startswith("["):
        return None
    match = _CONVENTIONAL_RE.match(subject)
    if match is None:
        return None
    kind = (match.group("type") or match.group("btype")).lower()
    if kind not in _TYPE_CATEGORY:
        return None
    return ConventionalPrefix(
        type=kind,
        scope=(match.group("scope") or "").strip().lower(),
        breaking=match.group("bang") is not None,
        description=match.group("rest").strip(),
    )


def classify_commit(commit: Commit) -> Classification:
    """Classify a commit into one of CATEGORIES with a confidence in [0, 1] and its signals.

    Merges (more than one parent) and reverts are decided outright. A conventional-commit
    prefix states the category with high confidence, except that a change touching only
    docs or only tests is documentation or test whatever verb it uses ("fix: typo in
    README"). Without a prefix, keyword evidence in the subject (weighted above the body)
    is combined with path evidence and the diff's shape; the confidence grows with the
    winning score and its share of all evidence.
    """
    if len(commit.parents) > 1:
        return Classification("merge", 1.0, [f"parents:{len(commit.parents)}"])

    subject = commit.subject
    # Explanations sit at the top of a body; past this point come logs and release notes.
    body = commit.body[:_BODY_SCAN_CHARS]
    revert_subject = (
        subject.startswith(("r", "R")) and _REVERT_SUBJECT_RE.match(subject) is not None
    )
    reverts_commit = "reverts commit" in body and _REVERTS_COMMIT_RE.search(body) is not None
    if revert_subject or reverts_commit:
        signals = ["subject:revert"] if revert_subject else []
        if reverts_commit:
            signals.append("body:reverts-commit")
        return Classification("revert", 1.0 if len(signals) == 2 else 0.95, signals)

    signals: list[str] = []
    autosquash = "!" in subject and _AUTOSQUASH_RE.match(subject) is not None
    if autosquash:
        signals.append("autosquash")
    prefix = conventional_prefix(subject)
    paths_category, paths_signal = _path_evidence(commit.files)
    if paths_signal:
        signals.append(paths_signal)

    if prefix is not None:
        result = _classify_by_prefix(prefix, body, paths_category, signals)
        if result is not None:
            return result
        text = prefix.description
    else:
        text = _AUTOSQUASH_RE.sub("", subject) if autosquash else subject

    scores = _keyword_scores(text, body, signals)
    if paths_category:
        scores[paths_category] = scores.get(paths_category, 0.0) + 4.0
    _add_diff_evidence(commit.files, scores, signals)
    if prefix is not None:
        # A weak prefix (chore/build/style) still leans towards its own category.
        leaning = _prefix_category(prefix)
        scores[leaning] = scores.get(leaning, 0.0) + 2.0
        signals[:0] = _prefix_signals(prefix)

    if not scores:
        return Classification("feature", 0.2, [*signals, "default"])
    total = sum(scores.values())
    best = max(scores, key=lambda category: (scores[category], -_TIE_RANK[category]))
    share = scores[best] / total
    confidence = min(0.85, 0.3 + 0.1 * scores[best]) * (0.5 + 0.5 * share)
    return Classification(best, round(confidence, 3), signals)


def _prefix_category(prefix: ConventionalPrefix) -> str:
    if prefix.scope in _DEPENDENCY_SCOPES:
        return "dependency"
    return _TYPE_CATEGORY[prefix.type]


def _prefix_signals(prefix: ConventionalPrefix) -> list[str]:
    signals = [f"prefix:{prefix.type}"]
    if prefix.scope:
        signals.append(f"scope:{prefix.scope}")
    if prefix.breaking:
        signals.append("breaking")
    return signals


def _classify_by_prefix(
    prefix: ConventionalPrefix, body: str, paths_category: str, signals: list[str]
) -> Classification | None:
    """Decide from a conventional prefix, or return None to let keyword evidence weigh in."""
    category = _prefix_category(prefix)
    head = _prefix_signals(prefix)
    if category == "dependency" and prefix.scope in _DEPENDENCY_SCOPES:
        return Classification("dependency", 0.95, [*head, *signals])
    if prefix.type in _WEAK_TYPES and prefix.type != "style":
        return None
    if paths_category in ("documentation", "test") and category not in (
        paths_category,
        "security",
        "performance",
        "revert",
    ):
        return Classification(paths_category, 0.8, [*head, *signals])
    if category in ("bugfix", "feature"):
        # A fix may explain the vulnerability only in its body; a feature must name it up
        # front, or every "add login form" mentioning passwords would turn into security.
        evidence = prefix.description
        if category == "bugfix":
            evidence = f"{evidence}\n{body}"
        security = _strong_security_keyword(evidence)
        if security:
            return Classification("security", 0.85, [*head, f"keyword:{security}", *signals])
    if category == "refactor" and prefix.type == "style":
        return Classification("refactor", _TYPE_CONFIDENCE["style"], [*head, *signals])
    confidence = _TYPE_CONFIDENCE.get(prefix.type, 0.9)
    if paths_category == category:
        confidence = min(0.98, confidence + 0.05)
    return Classification(category, round(confidence, 3), [*head, *signals])


def _strong_security_keyword(text: str) -> str:
    for word, _position, category, weight in _keyword_hits(text.lower(), ordered=True):
        if category == "security" and weight >= _WEIGHTS["s"]:
            return word
    return ""


def _keyword_hits(lowered: str, ordered: bool) -> list[tuple[str, int, str, float]]:
    """(keyword, word index, category, weight) per distinct keyword in a lowercased text.

    Positions (and the sort by them) are computed only when `ordered`; otherwise they are 0.
    """
    if lowered.isascii():
        data = lowered.encode("ascii").translate(_ASCII_LOWER_SEPARATORS)
        tokens = data.decode("ascii").split()
    else:
        tokens = lowered.translate(_WORD_SEPARATORS).split()
    present = _KEYWORD_SET.intersection(tokens)
    if not present:
        return []
    hits: list[tuple[str, int, str, float]] = []
    for word in present:
        category, weight = _WORDS[word]
        if category:
            hits.append((word, tokens.index(word) if ordered else 0, category, weight))
    firsts = _PHRASE_FIRST_WORDS.intersection(present)
    if firsts:
        # The phrases that can occur, in table order.
        if len(firsts) == 1:
            candidates = _PHRASES_BY_FIRST_WORD[next(iter(firsts))]
        else:
            candidates = tuple(
                sorted(index for word in firsts for index in _PHRASES_BY_FIRST_WORD[word])
            )
        joined = ""
        for index in candidates:
            phrase, needle, words, category, weight = _PHRASE_LIST[index]
            if not words <= present:
                continue
            if not joined:
                joined = f" {' '.join(tokens)} "
            start = joined.find(needle)
            if start >= 0:
                position = joined.count(" ", 0, start) if ordered else 0
                hits.append((phrase, position, category, weight))
    if ordered:
        hits.sort(key=lambda hit: hit[1])
    return hits


def _keyword_scores(subject: str, body: str, signals: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    seen: set[str] = set()
    lowered_subject = subject.lower()
    for word, position, category, weight in _keyword_hits(lowered_subject, ordered=True):
        # A leading verb ("Fix ...", "Add ...") states the intent of the whole commit.
        if position == 0:
            weight += _FIRST_WORD_BONUS
        seen.add(word)
        scores[category] = scores.get(category, 0.0) + weight
        signals.append(f"keyword:{word}")
    # Both alternatives hold " to " / "to " (IGNORECASE adds no other character to "to ").
    if "to " in lowered_subject and _VERSION_CHANGE_RE.search(subject):
        scores["dependency"] = scores.get("dependency", 0.0) + 2.0
        signals.append("subject:version-change")

    lowered = body.lower()
    if "-by:" in lowered or "change-id:" in lowered:
        lowered = _without_trailers(lowered)
    body_scores: dict[str, float] = {}
    for word, _position, category, weight in _keyword_hits(lowered, ordered=False):
        if word not in seen:
            body_scores[category] = body_scores.get(category, 0.0) + weight * _BODY_WEIGHT
    for category, score in body_scores.items():
        # Release notes pasted into a dependency bump mention every kind of change; the body
        # may support a category but never outvote a clear subject.
        scores[category] = scores.get(category, 0.0) + min(score, _BODY_CAP)
    return scores


def _without_trailers(text: str) -> str:
    """`text` with each trailer line's text removed (its newline kept)."""
    # Prepending "\n" gives the first line a newline to match like every other line.
    return _TRAILER_LINE_RE.sub("\n", "\n" + text)[1:]


def _path_evidence(files: list[FileChange]) -> tuple[str, str]:
    """Return (category, signal) when every touched path points to one kind of change."""
    if not files:
        return "", ""
    kinds = list(map(_path_kind, map(_PATH, files)))
    every = reduce(and_, kinds)  # the kinds all paths share
    if every & _DOC:
        return "documentation", "paths:all-docs"
    if every & _TEST:
        return "test", "paths:all-tests"
    if every & _DEPENDENCY:
        churn = sum(
            change.added + change.deleted
            for change, kind in zip(files, kinds, strict=True)
            if not kind & _LOCK
        )
        if reduce(or_, kinds) & _LOCK or churn <= _SMALL_DIFF_LINES:
            return "dependency", "paths:dependency-files"
    if every & _CONFIG:
        return "configuration", "paths:config-only"
    return "", ""


# What kind of file a path is, as bits: combining the kinds of all paths takes one reduce.
_DOC, _TEST, _DEPENDENCY, _LOCK, _CONFIG = 1, 2, 4, 8, 16
_PATH = attrgetter("path")


# The same paths change over and over; what kind of file each is never changes.
@lru_cache(maxsize=1 << 14)
def _path_kind(path: str) -> int:
    name = path[path.rfind("/") + 1 :].lower()
    return (
        (_DOC if is_doc_path(path) else 0)
        | (_TEST if is_test_path(path) else 0)
        | (_DEPENDENCY if _is_dependency_file(name) else 0)
        | (_LOCK if name in _LOCKFILES else 0)
        | (_CONFIG if _is_config_path(path, name) else 0)
    )


def _is_dependency_file(name: str) -> bool:
    if name in _LOCKFILES or name in _MANIFESTS:
        return True
    return name.startswith("requirements") and name.endswith((".txt", ".in"))


def _is_config_path(path: str, name: str) -> bool:
    if name in _CONFIG_NAMES or name.startswith(("dockerfile", "docker-compose", ".env")):
        return True
    if name[name.rfind(".") + 1 :] in _CONFIG_EXTENSIONS:
        return True
    top = path.split("/", 1)[0].lower()
    return top in _CONFIG_DIRS


def _add_diff_evidence(files: list[FileChange], scores: dict[str, float], signals: list[str]):
    """Let the diff's shape nudge the decision, strongly only when the message is silent."""
    if not files:
        return
    added = deleted = new_files = renamed = 0
    for change in files:
        added += change.added
        deleted += change.deleted
        if change.change_type == "A":
            new_files += 1
        elif change.change_type == "R":
            renamed += 1
    weight = 0.5 if scores else 1.0
    if renamed * 2 >= len(files) and renamed:
        scores["refactor"] = scores.get("refactor", 0.0) + 2 * weight
        signals.append("diff:renames")
    elif new_files * 2 >= len(files) and added > deleted:
        scores["feature"] = scores.get("feature", 0.0) + weight
        signals.append("diff:new-files")
    elif deleted > 2 * added and deleted > 10:
        scores["refactor"] = scores.get("refactor", 0.0) + weight
        signals.append("diff:mostly-deletions")
    elif added + deleted <= _SMALL_DIFF_LINES and new_files == 0:
        scores["bugfix"] = scores.get("bugfix", 0.0) + 0.5 * weight
        signals.append("diff:small-edit")

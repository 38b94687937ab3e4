"""Named code-pattern detectors run over the added lines of each changed file.

Each detector is one precompiled regular expression. Ingestion calls `detect_patterns`
for every changed file of every commit, so the regexes follow a few rules:

- one `regex.search` per applicable detector per file, no per-line Python loops, and
  none at all when the text lacks every one of the detector's `keywords`;
- branches begin with a literal character (or a class of them), which the engine rejects
  in one comparison at most positions: `_words` checks the word boundary after that
  first character instead of a leading `\\b`, `_anycase` keeps the first letter outside
  the case-insensitive group, and line-anchored alternatives share one `^` (`_lines`);
- a line start is written `^[ \\t]*`, never `^\\s*`, because `\\s` would also eat blank
  lines and report the match on the wrong line;
- every span after an opening is bounded (`_gap`, `_lines_unless`, `[^\\n]{0,300}`) so a
  miss costs at most a fixed window per candidate, even when the opening repeats along
  a megabyte-long minified line, and no quantifier is nested inside another over
  overlapping input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..model import PatternMatch

SNIPPET_MAX_CHARS = 300
_CONTEXT_BEFORE = 100  # how much of a huge line to keep before the match in a snippet

_PYTHON = frozenset({"python"})
_GO = frozenset({"go"})
_JS = frozenset({"javascript", "typescript"})
_JVM = frozenset({"java", "kotlin"})
_C_FAMILY = frozenset({"c", "cpp"})
_SQL = frozenset({"sql"})
_SHELL = frozenset({"shell"})
_DOCKER = frozenset({"dockerfile"})
_YAML = frozenset({"yaml"})
# Languages that embed SQL in strings (migrations, repositories).
_SQL_HOSTS = _SQL | _PYTHON | _GO | _JS | _JVM | frozenset({"ruby", "php", "csharp"})
_APP_LANGUAGES = _PYTHON | _GO | _JS | _JVM | frozenset({"ruby", "php", "csharp"})

# A line end that tolerates CRLF files: `$` alone would fail before a trailing '\r'.
_EOL = r"[ \t\r]*$"
_NL = r"[ \t\r]*\n"


@dataclass(frozen=True, slots=True)
class PatternDetector:
    """A named code pattern: which languages it applies to and the regex that finds it.

    `keywords` are lower-case strings of which the lower-cased text must contain at least
    one before `regex` is worth running (empty: always run). Every way `regex` can match
    must contain one of them; they exist because a substring test is orders of magnitude
    faster than a regex scan, and most files contain no trace of most patterns.

    `prefilter`, when set, is a cheaper regex for a part of every match that lies on the
    match's first line, and every match of `regex` starts at the beginning of a word. Then
    `regex` is tried only at the words of lines where `prefilter` matches, instead of at
    every position of the text.
    """

    name: str
    title: str
    description: str
    languages: frozenset[str]
    regex: re.Pattern[str]
    keywords: tuple[str, ...] = ()
    prefilter: re.Pattern[str] | None = None


_FIRST_WORD_ATOM = re.compile(r"(?:\[\w+\]|\w)(?![?*+{])")


def _words(*alternatives: str) -> str:
    """Alternatives that each start at a word boundary.

    Each alternative must open with one word character or a class of them. The boundary
    is checked right after it (the character before it is no word character), so every
    branch starts with a character the engine rejects in one comparison; a leading `\\b`
    would instead be evaluated at every position of the text, several times slower.
    """
    branches = []
    for alternative in alternatives:
        first = _FIRST_WORD_ATOM.match(alternative)
        if first is None:
            raise ValueError(f"must start with a word character: {alternative!r}")
        branches.append(alternative[: first.end()] + r"(?<!\w.)" + alternative[first.end() :])
    return f"(?:{'|'.join(branches)})"


def _anycase(alternative: str) -> str:
    """`alternative`, which starts with a letter, matched without regard to case.

    The first letter becomes a two-letter class outside the case-insensitive group so
    that the branch can still be rejected on its first character.
    """
    first = alternative[0]
    return f"[{first.lower()}{first.upper()}](?i:{alternative[1:]})"


def _lines(*alternatives: str) -> str:
    """Alternatives that each start a line, after any indentation."""
    return rf"^[ \t]*(?:{'|'.join(alternatives)})"


def _gap(max_chars: int) -> str:
    """Any text, newlines included, of at most `max_chars` characters, shortest first."""
    return rf"[\s\S]{{0,{max_chars}}}?"


def _lines_unless(stop: str, max_lines: int) -> str:
    """Whole lines, fewest first, none of which starts with `stop`.

    A span that may not run past the next occurrence of its own opening keeps the search
    linear when that opening repeats: each line is walked by one candidate, not by all.
    """
    return rf"(?:(?!{stop})[^\n]*\n){{0,{max_lines}}}?"


def _literal_with(quote: str, body: str, placeholder: str, max_chars: int = 1000) -> str:
    """A string literal between `quote`s, made of `body` characters, holding `placeholder`.

    The lookahead finds the placeholder in one forward scan; matching body, placeholder
    and body in sequence would rescan the rest of the literal for every candidate.
    """
    return rf"{quote}(?={body}{{0,{max_chars}}}?{placeholder}){body}{{0,{max_chars}}}{quote}"


def _detector(
    name: str,
    title: str,
    description: str,
    languages: frozenset[str],
    *alternatives: str,
    keywords: tuple[str, ...],
    flags: int = 0,
    prefilter: str = "",
) -> PatternDetector:
    """A detector whose regex matches any of `alternatives`, `^` and `$` working per line."""
    regex = re.compile("|".join(alternatives), re.MULTILINE | flags)
    compiled = re.compile(prefilter, re.MULTILINE | flags) if prefilter else None
    return PatternDetector(name, title, description, languages, regex, keywords, compiled)


# Names that mark a retry counter in backoff arithmetic, and the variables that hold delays.
_ATTEMPT = r"(?:\w+\.)?(?:attempt|retr|tries\b|try|fail)\w*"
_DELAY_NAMES = ("backoff", "delay", "wait", "sleep", "interval")
_DELAY = rf"(?:{'|'.join(_DELAY_NAMES)})\w*"
_POW_OF_TWO = rf"\([ \t]*2(?:\.0)?[ \t]*,[ \t]*(?:float64\()?{_ATTEMPT}"
_GO_STATEMENT = r"^[ \t]*go[ \t]+(?:func\b|[\w.]+\()"
_MAKE_CHANNEL = r"\bmake\([ \t]*(?:<-[ \t]*)?chan\b"
_SQL_BEGIN = r"(?:BEGIN(?:[ \t]+(?:TRANSACTION|WORK))?[ \t]*|START[ \t]+TRANSACTION[^;\n]*);"
_SQL_PLACEHOLDER = r"(?:%s|%\(\w+\)s|\?|:\w+)"
_DOLLAR_PLACEHOLDER = r"(?:\$\d|\?)"
_FEATURE_ON = r"[fF]eature_?(?:[fF]lag_?)?(?:[eE]nabled|[aA]ctive|[oO]n)\??[ \t]*\("
_BEAN_VALIDATION = (
    r"@(?:Valid|Validated|NotNull|NotBlank|NotEmpty|Size|Min|Max|Email|Pattern|Positive"
    r"|PositiveOrZero)\b"
)

PATTERNS: tuple[PatternDetector, ...] = (
    # --- Resilience -----------------------------------------------------------------------
    _detector(
        "retry_with_backoff",
        "Retry with backoff",
        "Retries a failing operation with a growing (usually exponential) delay.",
        _PYTHON | _GO | _JS | _JVM,
        _words(
            r"wait_(?:random_)?exponential(?:_jitter)?[ \t]*\(",
            *(rf"{name}\w*[ \t]*\*=[ \t]*(?:\d|\w*(?:factor|multiplier))" for name in _DELAY_NAMES),
            *(rf"{name}\w*[ \t]*=[ \t]*(?:min\([ \t]*)?{_DELAY}[ \t]*\*[ \t]*\d" for name in _DELAY_NAMES),
            rf"2(?:\.0)? ?\*\*[ \t]*\(?[ \t]*{_ATTEMPT}",
            rf"[mM]ath\.[pP]ow{_POW_OF_TWO}",
            rf"pow{_POW_OF_TWO}",
            rf"1 ?<<[ \t]*(?:uint\w*\()?[ \t]*{_ATTEMPT}",
            r"backoff\.(?:NewExponentialBackOff|Retry|RetryNotify|WithMaxRetries)\b",
            r"ExponentialBackOff",
        ),
        r"@backoff\.on_(?:exception|predicate)\b",
        r"@Retryable\([^\n]{0,300}?\bbackoff[ \t]*=",
        keywords=(
            "backoff",
            "exponential",
            "delay",
            "wait",
            "sleep",
            "interval",
            "2**",
            "2 **",
            "2.0**",
            "2.0 **",
            "pow(",
            "1<<",
            "1 <<",
        ),
    ),
    _detector(
        "http_client_timeout",
        "HTTP client timeout",
        "Outbound HTTP calls carry an explicit timeout instead of waiting forever.",
        _PYTHON | _GO | _JS | _JVM,
        _words(
            *(
                rf"{client}\.(?:get|post|put|patch|delete|head|request)"
                r"\((?:[^\n]{0,300}?|[^()]{0,400}?)\btimeout[ \t]*="
                for client in ("requests", "httpx", "session", "client")
            ),
            r"httpx\.(?:Async)?Client\((?:[^\n]{0,300}?|[^()]{0,400}?)\btimeout[ \t]*=",
            r"http\.Client[ \t]*\{[^}]{0,400}?\bTimeout[ \t]*:",
            r"AbortSignal\.timeout\(",
        ),
        r"\.(?:connectTimeout|readTimeout|callTimeout|setConnectTimeout|setReadTimeout)\(",
        keywords=("timeout",),
    ),
    _detector(
        "rate_limiting",
        "Rate limiting",
        "Caps how often a caller may hit an operation (limiter, token bucket, throttle).",
        _PYTHON | _GO | _JS | _JVM | frozenset({"ruby"}),
        _words(
            r"rate\.NewLimiter\(",
            r"RateLimiter(?:\.create|\.of)?[ \t]*\(",
            r"rateLimit[ \t]*\(",
            r"TokenBucket\w*\(",
        ),
        _lines(
            r"@(?:\w+\.)?(?:limiter\.limit|RateLimiter|ratelimit|rate_limit(?:ed)?|"
            r"sleep_and_retry|limits)\b",
        ),
        r"[lL]imiter\.(?:Wait|Allow|Reserve|limit|acquire|try_?acquire|tryAcquire|hit)\w*\(",
        keywords=("limit", "sleep_and_retry", "tokenbucket"),
    ),
    _detector(
        "feature_flag",
        "Feature flag",
        "Gates behaviour behind a runtime feature flag or toggle service.",
        _APP_LANGUAGES,
        # Case variants are spelled out: an (?i:) group at the start of a branch makes the
        # engine try it at every position instead of rejecting on the first character.
        _words(
            rf"[iI]s_?{_FEATURE_ON}",
            _FEATURE_ON,
            r"flag_is_active[ \t]*\(",
        ),
        r"\.(?:[vV]ariation|[bB]ool_?[vV]ariation|get_?[tT]reatment|[gG]et[tT]reatment)\w*[ \t]*\(",
        r"(?:[cC]lient|[uU]nleash|[fF]lipper|[fF]lags?|[fF]eatures?|[tT]oggles?)\."
        r"(?:(?:is_?[eE]nabled|is_?[oO]n|is_?[aA]ctive|Is[eE]nabled|IsOn)\b|[eE]nabled\?)",
        keywords=("feature", "variation", "enabled", "is_on", "ison", "active", "treatment"),
    ),
    # --- Python ----------------------------------------------------------------------------
    _detector(
        "context_manager",
        "Context manager",
        "Scoped resource handling with `with ... as`, @contextmanager or __enter__/__exit__.",
        _PYTHON,
        # Not anchored at the line start (a `^` branch is tried at every position, and these
        # run on most Python files); the closing colon keeps prose such as comments out.
        _words(
            r"with[ \t]+[^\n]{1,200}?[ \t]as[ \t]+\w[^\n]{0,200}:",
            r"def[ \t]+__a?enter__[ \t]*\(",
        ),
        r"@(?:contextlib\.)?(?:async)?contextmanager" + _EOL,
        keywords=("with", "contextmanager", "enter__"),
    ),
    _detector(
        "dataclass",
        "Dataclass",
        "Declares a record type with @dataclass or attrs.",
        _PYTHON,
        _lines(
            r"@(?:dataclasses\.)?dataclass\b",
            r"@attrs?\.(?:s|attrs|define|frozen|mutable)\b",
        ),
        keywords=("dataclass", "@attr"),
    ),
    _detector(
        "type_hints",
        "Type hints",
        "Annotates function parameters or return values with types.",
        _PYTHON,
        # A return annotation, on the `def` line or on the `)` closing a long signature.
        r"\)[ \t]*->[ \t]*[^\n:]{1,200}:",
        _words(
            r"def[ \t]+\w+[ \t]*\([^\n)]{0,300}?\b\w+[ \t]*:[ \t]*[A-Za-z_][\w.]*(?:\[|[ \t]*[,=)|])",
        ),
        keywords=("->", "def"),
    ),
    _detector(
        "typing_protocol",
        "Typing protocol",
        "Structural types: typing.Protocol, TypedDict, NamedTuple or Generic classes.",
        _PYTHON,
        _lines(
            r"class[ \t]+\w+[ \t]*\([^\n)]{0,300}\b(?:typing\.)?"
            r"(?:Protocol\b|TypedDict\b|NamedTuple\b|Generic\[)",
        ),
        keywords=("protocol", "typeddict", "namedtuple", "generic["),
    ),
    _detector(
        "decorator_definition",
        "Decorator definition",
        "Defines a decorator: a function wrapping another, usually with functools.wraps.",
        _PYTHON,
        _lines(
            r"@(?:functools\.)?wraps\(",
            r"def[ \t]+\w+[ \t]*\([ \t]*(?:func|fn|f|function|method|wrapped|view|handler)\b"
            r"[^\n]{0,200}:" + _NL + r"(?:[ \t]*(?:#|\"\"\"|''')[^\n]*\n)?"
            r"[ \t]+def[ \t]+\w+[ \t]*\([^\n]{0,200}?\*args",
        ),
        keywords=("wraps(", "*args"),
    ),
    _detector(
        "caching_decorator",
        "Caching decorator",
        "Memoizes a function with functools.lru_cache/cache, cachetools or a cache backend.",
        _PYTHON,
        _lines(
            r"@(?:functools\.)?(?:lru_cache|cache|cached_property)\b",
            r"@(?:cachetools\.)?cached\(",
            r"@\w*cache\.(?:cached|memoize)\b",
        ),
        keywords=("cache",),
    ),
    _detector(
        "logging_setup",
        "Logging setup",
        "Configures logging or creates a named logger instead of printing.",
        _PYTHON | _GO | _JS | _JVM,
        _words(
            r"logging\.(?:basicConfig|config\.dictConfig|config\.fileConfig)\(",
            r"logging\.getLogger\([ \t]*__name__[ \t]*\)",
            r"structlog\.configure\(",
            r"slog\.(?:New|SetDefault)\(",
            r"zap\.New(?:Production|Development)?\(",
            r"logrus\.New\(",
            r"zerolog\.New\(",
            r"Logger(?:Factory)?\.getLogger\(",
            r"LogManager\.getLogger\(",
            r"winston\.createLogger\(",
            r"pino\(",
            r"log4js\.configure\(",
        ),
        _lines(r"@(?:Slf4j|Log4j2?)\b"),
        keywords=(
            "logging.",
            "structlog.",
            "slog.",
            "zap.new",
            "logrus.",
            "zerolog.",
            "getlogger(",
            "@slf4j",
            "@log4j",
            "winston.",
            "pino(",
            "log4js.",
        ),
    ),
    _detector(
        "async_await",
        "Async/await",
        "Asynchronous code with async functions and await expressions.",
        _PYTHON | _JS | frozenset({"csharp"}),
        _lines(
            r"async[ \t]+def[ \t]",
            r"(?:return[ \t]+)?await[ \t]+[\w(\[]",
        ),
        _words(
            r"async[ \t]+function\b",
            r"async[ \t]*(?:\([^\n)]{0,200}\)|\w+)[ \t]*=>",
            r"async[ \t]+Task\b",
        ),
        # An await that yields a value: after an assignment, a call or an arrow.
        r"[=(,:!?>][ \t]*await[ \t]+[\w(\[]",
        keywords=("async", "await"),
    ),
    _detector(
        "pytest_fixture",
        "Pytest fixture",
        "Test setup shared through a pytest fixture.",
        _PYTHON,
        _lines(r"@pytest(?:_asyncio)?\.fixture\b"),
        keywords=("fixture",),
    ),
    _detector(
        "test_mocking",
        "Mocking in tests",
        "Replaces collaborators with mocks, stubs or spies in tests.",
        _PYTHON | _JS | _JVM | _GO,
        _words(
            r"mock\.patch(?:\.object|\.dict)?\(",
            r"MagicMock\(",
            r"AsyncMock\(",
            r"Mock\(",
            r"monkeypatch\.(?:setattr|setenv|delattr|setitem)\(",
            r"mocker\.(?:patch|spy|Mock|MagicMock)\b",
            r"jest\.(?:mock|fn|spyOn)\(",
            r"vi\.(?:mock|fn|spyOn)\(",
            r"sinon\.(?:stub|spy|mock|fake)\w*\(",
            r"Mockito\.\w+\(",
            r"when\([^\n]{0,300}\)\.then(?:Return|Throw)\(",
            r"gomock\.NewController\(",
            r"mockk(?:<[^\n>]{0,200}>)?\(",
        ),
        _lines(
            r"@patch(?:\.object|\.dict)?\(",
            r"@(?:Mock|MockBean|InjectMocks|Spy)\b",
        ),
        keywords=("mock", "patch", "jest.", "vi.", "sinon.", "@spy", ").then"),
    ),
    _detector(
        "input_validation",
        "Input validation",
        "Validates input against a declared schema or constraint annotations.",
        _PYTHON | _JS | _JVM | _GO,
        _lines(
            r"class[ \t]+\w+[ \t]*\([^\n)]{0,300}\b(?:BaseModel|Schema|ModelSchema|Serializer|"
            r"ModelSerializer|FlaskForm)\)",
            r"@(?:field_|model_|root_)?validator\(",
            r"@validates(?:_schema)?\b",
            _BEAN_VALIDATION,
        ),
        _words(
            r"jsonschema\.validate\(",
            r"z\.(?:object|string|number|array|enum|union)\(",
            r"zod\.(?:object|string|number|array|enum|union)\(",
            r"[jJ]oi\.(?:object|string|number|array)\(",
            r"yup\.(?:object|string|number|array)\(",
            r"validate:\"[^\"\n]+\"",
            r"validator\.New\(",
        ),
        # Bean Validation annotations on parameters, e.g. `create(@Valid @RequestBody X x)`.
        r"[ \t(,]" + _BEAN_VALIDATION,
        keywords=(
            "basemodel",
            "schema",
            "serializer",
            "flaskform",
            "valid",
            "z.",
            "zod.",
            "joi.",
            "yup.",
            "@notnull",
            "@notblank",
            "@notempty",
            "@size",
            "@min",
            "@max",
            "@email",
            "@pattern",
            "@positive",
        ),
    ),
    # --- Databases and SQL -----------------------------------------------------------------
    _detector(
        "parameterized_query",
        "Parameterized query",
        "Passes values to SQL as bound parameters instead of formatting them into the string.",
        _SQL_HOSTS - _SQL,
        # Python DB-API: a plain (not f-) string holding a placeholder, then the params.
        r"\.execute(?:many)?\([ \t\n]*[rRuU]?(?:"
        + _literal_with('"""', r'[^"]', _SQL_PLACEHOLDER, 4000)
        + "|"
        + _literal_with("'''", r"[^']", _SQL_PLACEHOLDER, 4000)
        + "|"
        + _literal_with('"', r'[^"\n]', _SQL_PLACEHOLDER)
        + "|"
        + _literal_with("'", r"[^'\n]", _SQL_PLACEHOLDER)
        + r")\s*,\s*[\w(\[{]",
        # Go database/sql with $n or ? placeholders and arguments.
        r"\.(?:Query|QueryRow|Exec)(?:Context)?\([ \t]*(?:ctx\w*[ \t]*,[ \t]*)?(?:"
        + _literal_with('"', r'[^"\n]', _DOLLAR_PLACEHOLDER)
        + "|"
        + _literal_with("`", r"[^`]", _DOLLAR_PLACEHOLDER, 4000)
        + r")\s*,\s*\w",
        # node-postgres / mysql: a literal without ${} interpolation and a values array.
        r"\.query\([ \t]*(?:"
        + _literal_with("'", r"[^'\n]", _DOLLAR_PLACEHOLDER)
        + "|"
        + _literal_with('"', r'[^"\n]', _DOLLAR_PLACEHOLDER)
        + "|"
        + _literal_with("`", r"[^`{]", _DOLLAR_PLACEHOLDER, 4000)
        + r")\s*,\s*\[",
        r"\.prepareStatement[ \t]*\(",
        r"->prepare\(",
        _words(r"PreparedStatement\b", r"bind_param\("),
        keywords=("exec", "prepare", "query", "bind_param"),
    ),
    _detector(
        "sql_index_creation",
        "Index creation",
        "Creates a database index (CREATE [UNIQUE] INDEX [CONCURRENTLY], migration helpers).",
        _SQL_HOSTS,
        _words(
            _anycase(
                r"CREATE[ \t]+(?:UNIQUE[ \t]+)?INDEX(?:[ \t]+CONCURRENTLY)?"
                r"(?:[ \t]+IF[ \t]+NOT[ \t]+EXISTS)?(?:[ \t]+[\w.\"]+)?\s+ON\s+(?:ONLY\s+)?[\w.\"]+"
                r"\s*(?:USING\s+\w+\s*)?\("
            ),
            r"op\.create_index\(",
            r"add_index[ \t]+:",
            r"models\.Index\(",
        ),
        keywords=("index",),
    ),
    _detector(
        "sql_transaction",
        "Explicit transaction",
        "Groups SQL statements in an explicit BEGIN ... COMMIT transaction.",
        _SQL,
        rf"^[ \t]*{_SQL_BEGIN}(?:[^\n]*?\b|[^\n]*\n"
        + _lines_unless(rf"[ \t]*{_SQL_BEGIN}", 2000)
        + r"[ \t]*)COMMIT\b",
        keywords=("commit",),
        flags=re.IGNORECASE,
    ),
    _detector(
        "sql_foreign_key",
        "Foreign key",
        "Declares a foreign-key constraint between tables.",
        _SQL | _PYTHON,
        _words(
            _anycase(r"FOREIGN[ \t]+KEY[ \t]*\("),
            _anycase(r"REFERENCES[ \t]+[\w.\"]+(?:[ \t]*\(|[ \t]+ON[ \t]+(?:DELETE|UPDATE)\b)"),
            r"ForeignKey(?:Constraint)?\(",
        ),
        keywords=("foreign", "references"),
    ),
    _detector(
        "sql_add_column",
        "Migration adds a column",
        "A schema migration that adds a column to an existing table.",
        _SQL | _PYTHON | frozenset({"ruby"}),
        _words(
            _anycase(
                r"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?[\w.\"]+\s+ADD\s+(?:COLUMN\b|"
                r"(?!CONSTRAINT\b|PRIMARY\b|FOREIGN\b|UNIQUE\b|CHECK\b|INDEX\b|KEY\b|EXCLUDE\b)\w)"
            ),
            r"op\.add_column\(",
            r"add_column[ \t]+:",
        ),
        keywords=("alter", "add_column"),
    ),
    _detector(
        "sql_upsert",
        "Upsert",
        "Inserts or updates in one statement (ON CONFLICT, ON DUPLICATE KEY, MERGE).",
        _SQL_HOSTS,
        _words(
            _anycase(r"ON\s+CONFLICT\b[^;]{0,300}?\bDO\s+(?:UPDATE|NOTHING)\b"),
            _anycase(r"ON\s+DUPLICATE\s+KEY\s+UPDATE\b"),
        ),
        _lines(r"(?i:MERGE\s+INTO)\b"),
        keywords=("conflict", "duplicate", "merge"),
    ),
    # --- Go --------------------------------------------------------------------------------
    _detector(
        "error_wrapping",
        "Error wrapping",
        "Adds context to an error while keeping the cause (%w, errors.Wrap, raise from).",
        _GO | _PYTHON | _JVM,
        _words(
            r"fmt\.Errorf\([^\n]{0,300}?%w",
            r"errors\.(?:Wrap|Wrapf|WithMessage|WithMessagef|WithStack)\(",
            r"throw[ \t]+(?:new[ \t]+)?\w+(?:Exception|Error)\([^\n]{0,300},[ \t]*"
            r"(?:e|ex|exc|err|error|cause|t|throwable)[ \t]*\)",
        ),
        _lines(r"raise[ \t]+[\w.]+(?:\([^\n]*\))?[ \t]+from[ \t]+(?!None\b)\w"),
        keywords=("%w", "errors.", "raise", "throw"),
    ),
    _detector(
        "goroutine_channel",
        "Goroutine with channel",
        "Starts a goroutine and communicates with it over a channel.",
        _GO,
        _GO_STATEMENT + r"(?:[^\n]*\n" + _lines_unless(r"[ \t]*go[ \t]", 80) + r")?[^\n]*?" + _MAKE_CHANNEL,
        _MAKE_CHANNEL + r"[^\n]{0,300}\n" + _lines_unless(r"[^\n]*" + _MAKE_CHANNEL, 80) + _GO_STATEMENT,
        keywords=("chan",),
    ),
    _detector(
        "select_with_timeout",
        "Select with timeout or cancellation",
        "A select that also waits on ctx.Done() or a timer so it cannot block forever.",
        _GO,
        _lines(
            r"case[ \t]+(?:\w+(?:[ \t]*,[ \t]*\w+)?[ \t]*:?=[ \t]*)?<-[ \t]*"
            r"(?:[\w.]+\.Done\(\)|time\.After\(|\w*[tT]imer\w*\.C\b)",
        ),
        keywords=("<-",),
    ),
    _detector(
        "context_timeout",
        "Context with timeout",
        "Bounds work with context.WithTimeout / WithDeadline.",
        _GO,
        _words(r"context\.With(?:Timeout|Deadline)(?:Cause)?\("),
        keywords=("context.with",),
    ),
    _detector(
        "deferred_cleanup",
        "Deferred cleanup",
        "Releases a resource with defer right after acquiring it.",
        _GO,
        _lines(
            r"defer[ \t]+(?:func\(\)[ \t]*\{|cancel\(\)|[\w.]+\."
            r"(?:Close|Unlock|RUnlock|Done|Stop|Rollback|Cancel|Flush|Release|Sync)\(\))",
        ),
        keywords=("defer",),
    ),
    _detector(
        "wait_group",
        "WaitGroup / errgroup",
        "Waits for a group of goroutines with sync.WaitGroup or errgroup.",
        _GO,
        _words(r"sync\.WaitGroup\b", r"errgroup\.(?:WithContext\(|Group\b)"),
        keywords=("waitgroup", "errgroup."),
    ),
    # --- JavaScript / TypeScript -----------------------------------------------------------
    _detector(
        "react_hook",
        "React hook",
        "Uses or defines a React hook (useState, useEffect, custom use* hooks).",
        _JS,
        _words(
            # A hook call, but not a method such as `config.useCache(...)`.
            r"use(?<![.$]use)[A-Z]\w*[ \t]*(?:<[^\n<>()]*>)?\(",
            r"React\.use[A-Z]\w*\(",
            *(rf"{keyword}[ \t]+use[A-Z]\w*\b" for keyword in ("const", "let", "function")),
        ),
        keywords=("use",),
    ),
    _detector(
        "promise_concurrency",
        "Concurrent promises",
        "Runs promises concurrently with Promise.all / allSettled / race / any.",
        _JS,
        _words(r"Promise\.(?:all|allSettled|race|any)\("),
        keywords=("promise.",),
    ),
    # --- Java ------------------------------------------------------------------------------
    _detector(
        "try_with_resources",
        "Try-with-resources",
        "Java try-with-resources closing an AutoCloseable automatically.",
        frozenset({"java"}),
        _words(
            r"try[ \t]*\([ \t]*(?:final[ \t]+)?[\w.<>,?\[\]]{1,200}(?:<[^\n>]{0,200}>)?[ \t]+\w+[ \t]*=",
        ),
        keywords=("try",),
    ),
    _detector(
        "java_optional",
        "Optional",
        "Represents an absent value with java.util.Optional instead of null.",
        _JVM,
        _words(
            r"Optional[ \t]*\.[ \t]*(?:ofNullable|of|empty)[ \t]*\(",
            r"Optional<",
        ),
        r"\.(?:orElse|orElseGet|orElseThrow|ifPresent|ifPresentOrElse)\(",
        keywords=("optional", ".orelse", ".ifpresent"),
    ),
    _detector(
        "java_streams",
        "Java streams",
        "Processes collections with the Stream API (stream().map/filter/collect).",
        _JVM,
        r"\.stream\(\)\s*\.(?:map|filter|flatMap|collect|sorted|forEach|reduce|mapTo\w+|"
        r"anyMatch|allMatch|noneMatch|distinct|limit|count|findFirst|findAny)\(",
        _words(
            r"Collectors\.\w+\(",
            *(
                rf"{stream}\.(?:of|range|rangeClosed|iterate|generate|concat)\("
                for stream in ("Stream", "IntStream", "LongStream")
            ),
            r"Arrays\.stream\(",
        ),
        keywords=("stream.", ".stream(", "collectors."),
    ),
    _detector(
        "spring_annotations",
        "Spring annotations",
        "Spring components, injection, request mappings and transactions.",
        _JVM,
        _lines(
            r"@(?:RestController|Controller|Service|Repository|Component|Configuration|Bean|"
            r"Autowired|(?:Get|Post|Put|Delete|Patch|Request)Mapping|SpringBootApplication|"
            r"Transactional|ConfigurationProperties)\b",
        ),
        keywords=(
            "@restcontroller",
            "@controller",
            "@service",
            "@repository",
            "@component",
            "@configuration",
            "@bean",
            "@autowired",
            "mapping",
            "@springbootapplication",
            "@transactional",
        ),
    ),
    # --- C / C++ ---------------------------------------------------------------------------
    _detector(
        "smart_pointers",
        "Smart pointers (RAII)",
        "Owns heap objects with unique_ptr/shared_ptr instead of raw new/delete.",
        frozenset({"cpp"}),
        _words(
            r"std::(?:unique_ptr|shared_ptr|weak_ptr|make_unique|make_shared)\b",
            r"make_(?:unique|shared)[ \t]*<",
            r"unique_ptr[ \t]*<",
            r"shared_ptr[ \t]*<",
        ),
        keywords=("_ptr", "make_unique", "make_shared"),
    ),
    _detector(
        "mutex_locking",
        "Mutex locking",
        "Guards shared state with a scoped or explicitly released lock.",
        _C_FAMILY | _GO | _JVM | _PYTHON | frozenset({"rust", "csharp"}),
        _words(
            r"std::(?:lock_guard|unique_lock|scoped_lock|shared_lock)\b",
            r"pthread_(?:mutex|rwlock|spin)_(?:lock|rdlock|wrlock|trylock)\(",
            r"synchronized[ \t]*\(",
            r"Reentrant(?:ReadWrite)?Lock\b",
        ),
        r"\.R?Lock\(\)" + _NL + r"[ \t]*defer[ \t]+[\w.]+\.R?Unlock\(\)",
        r"\.lock\(\)\.(?:unwrap|expect)\(",
        _lines(
            r"(?:async[ \t]+)?with[ \t]+[\w.]*(?:lock|mutex|semaphore)\w*(?:\(\))?[ \t]*:",
            r"lock[ \t]*\([ \t]*[\w.]+[ \t]*\)",
        ),
        keywords=("lock", "mutex", "semaphore", "synchronized"),
    ),
    _detector(
        "malloc_null_check",
        "Checked allocation",
        "Checks the result of malloc/calloc/realloc for NULL before using it.",
        _C_FAMILY,
        r"\b(?P<ptr>\w+(?:(?:->|\.)\w+)*)[ \t]*=[ \t]*(?:\([^\n)]{0,100}\)[ \t]*)?"
        r"(?:malloc|calloc|realloc|strdup|strndup|aligned_alloc)[ \t]*\("
        + _gap(600)
        + r"\bif[ \t]*\([ \t]*(?:![ \t]*\(?[ \t]*(?P=ptr)\b"
        r"|(?P=ptr)[ \t]*==[ \t]*(?:NULL|nullptr|0)\b"
        r"|(?:NULL|nullptr)[ \t]*==[ \t]*(?P=ptr)\b)",
        keywords=("alloc", "strdup", "strndup"),
        # The assignment of the allocation, on the line where the match starts with `ptr`.
        # C code mostly allocates through wrappers (xmalloc), which the regex alone would
        # rule out only after trying every word of the text.
        prefilter=r"=[ \t]*(?:\([^\n)]{0,100}\)[ \t]*)?"
        r"(?:malloc|calloc|realloc|strdup|strndup|aligned_alloc)[ \t]*\(",
    ),
    _detector(
        "bounded_string_copy",
        "Bounded string copy",
        "Uses length-bounded string functions (snprintf, strlcpy, strncpy) over unbounded ones.",
        _C_FAMILY,
        _words(
            *(
                rf"{function}[ \t]*\("
                for function in (
                    "snprintf",
                    "vsnprintf",
                    "strncpy",
                    "strlcpy",
                    "strlcat",
                    "strncat",
                    "strcpy_s",
                    "strncpy_s",
                    "memcpy_s",
                )
            ),
        ),
        keywords=("snprintf", "strn", "strl", "cpy_s"),
    ),
    # --- Shell -----------------------------------------------------------------------------
    _detector(
        "shell_strict_mode",
        "Shell strict mode",
        "Stops a script on the first error (set -e / set -euo pipefail).",
        _SHELL | _DOCKER | _YAML,
        _lines(
            r"(?:RUN[ \t]+)?set[ \t]+(?:-[a-zA-Z]*e[a-zA-Z]*\b|-o[ \t]+errexit\b)",
            r"SHELL[ \t]*\[[^\n]*\"pipefail\"",
        ),
        keywords=("set", "pipefail"),
    ),
    _detector(
        "shell_trap_cleanup",
        "Trap cleanup",
        "Registers a trap that cleans up when the script exits or is interrupted.",
        _SHELL,
        _lines(r"trap[ \t]+(?!-[ \t]|''|\"\")[^\n]*?[ \t](?:SIG)?(?:EXIT|ERR|INT|TERM|HUP|0)\b"),
        keywords=("trap",),
    ),
    _detector(
        "secure_temp_file",
        "Secure temporary file",
        "Creates temporary files with mktemp / tempfile instead of predictable names.",
        _SHELL | _PYTHON,
        r"\$\([ \t]*mktemp\b",
        _lines(r"mktemp[ \t]"),
        _words(
            r"tempfile\.(?:mkstemp|mkdtemp|NamedTemporaryFile|TemporaryDirectory|TemporaryFile)\(",
        ),
        keywords=("mktemp", "tempfile."),
    ),
    # --- Containers ------------------------------------------------------------------------
    _detector(
        "multi_stage_build",
        "Multi-stage build",
        "A Dockerfile that builds in one named stage and copies results into a slim one.",
        _DOCKER,
        # The gap ends at the next FROM of any kind, so it stays short in real files.
        r"^[ \t]*FROM[ \t]+(?:--platform=\S+[ \t]+)?\S+[ \t]+AS[ \t]+[\w.-]+"
        + _gap(20000)
        + r"^[ \t]*FROM[ \t]+\S",
        _lines(r"COPY[ \t]+(?:--\w+=\S+[ \t]+)*?--from="),
        keywords=("from",),
        flags=re.IGNORECASE,
    ),
    _detector(
        "non_root_container",
        "Non-root container",
        "Runs the container as an unprivileged user (USER, runAsNonRoot, runAsUser).",
        _DOCKER | _YAML,
        _lines(
            r"(?i:USER)[ \t]+(?!(?:root|0)(?::\S*)?" + _EOL + r")\S",
            r"runAsNonRoot:[ \t]*true\b",
            r"runAsUser:[ \t]*[1-9]",
        ),
        keywords=("user", "runasnonroot"),
    ),
    _detector(
        "container_healthcheck",
        "Container health check",
        "Declares how the platform can tell the container is healthy.",
        _DOCKER | _YAML,
        _lines(
            r"(?i:HEALTHCHECK)[ \t]+(?!(?i:NONE)\b)\S",
            r"healthcheck:" + _NL + r"[ \t]+(?:test|interval):",
        ),
        keywords=("healthcheck",),
    ),
    _detector(
        "pinned_image_digest",
        "Pinned image digest",
        "Pins a base or deployed image by sha256 digest rather than a movable tag.",
        _DOCKER | _YAML,
        _lines(
            r"(?i:FROM)[ \t]+(?:--platform=\S+[ \t]+)?[^\s@]+@sha256:[0-9a-f]{64}\b",
            r"(?:-[ \t]+)?image:[ \t]*[\"']?[^\s@\"']+@sha256:[0-9a-f]{64}\b",
        ),
        keywords=("@sha256:",),
    ),
    _detector(
        "package_cache_cleanup",
        "Package cache cleanup",
        "Keeps image layers small: no recommends, no package caches left behind.",
        _DOCKER | _SHELL,
        _words(
            r"rm[ \t]+-(?:rf|fr|r)[ \t]+/var/lib/apt/lists",
            r"apt-get[ \t][^\n]{0,300}?--no-install-recommends\b",
            r"apk[ \t]+add[ \t][^\n]{0,300}?--no-cache\b",
            r"pip3?[ \t]+install[ \t][^\n]{0,300}?--no-cache-dir\b",
        ),
        keywords=("/var/lib/apt/lists", "--no-install-recommends", "--no-cache"),
    ),
    # --- Kubernetes and CI -----------------------------------------------------------------
    _detector(
        "kubernetes_probes",
        "Kubernetes probes",
        "Liveness, readiness or startup probes on a container.",
        _YAML,
        _lines(r"(?:livenessProbe|readinessProbe|startupProbe):"),
        keywords=("probe:",),
    ),
    _detector(
        "resource_limits",
        "Resource limits",
        "Caps a container's CPU or memory (Kubernetes or Compose limits).",
        _YAML,
        r"^(?P<indent>[ \t]*)limits:" + _NL + r"(?:[ \t]*#[^\n]*\n)?(?P=indent)[ \t]+"
        r"(?:cpu|memory|ephemeral-storage|nvidia\.com/gpu|pids)[ \t]*:",
        keywords=("limits:",),
    ),
    _detector(
        "container_security_context",
        "Container security context",
        "Hardens a pod: read-only root filesystem, no privilege escalation, dropped capabilities.",
        _YAML,
        _lines(r"(?:readOnlyRootFilesystem:[ \t]*true|allowPrivilegeEscalation:[ \t]*false)\b"),
        r"^(?P<indent>[ \t]*)drop:[ \t]*(?:\[[ \t]*[\"']?ALL\b|"
        + _NL
        + r"(?P=indent)[ \t]*-[ \t]*[\"']?ALL\b)",
        keywords=("readonlyrootfilesystem", "allowprivilegeescalation", "drop:"),
    ),
    _detector(
        "ci_matrix_build",
        "CI matrix build",
        "Runs one CI job across a matrix of versions or platforms.",
        _YAML,
        r"^(?P<indent>[ \t]*)matrix:[ \t]*(?:#[^\n]*)?" + _NL + r"(?P=indent)[ \t]+(?:-[ \t]*)?[\w\"'$]",
        _lines(r"matrix:[ \t]*\$\{\{"),
        keywords=("matrix:",),
    ),
    _detector(
        "ci_caching",
        "CI caching",
        "Caches dependencies between CI runs (actions/cache, setup-* cache, GitLab cache key).",
        _YAML,
        r"uses:[ \t]*[\"']?actions/cache(?:/(?:restore|save))?@",
        _lines(r"cache:[ \t]*[\"']?(?:pip|npm|yarn|pnpm|gradle|maven|sbt|poetry|pipenv)\b"),
        r"^(?P<indent>[ \t]*)cache:" + _NL + r"(?P=indent)[ \t]+(?:-[ \t]+)?(?:key|paths):",
        keywords=("actions/cache", "cache:"),
    ),
    _detector(
        "pinned_action_sha",
        "Action pinned by SHA",
        "Uses a third-party CI action pinned to a full commit SHA instead of a tag.",
        _YAML,
        _lines(r"(?:-[ \t]+)?uses:[ \t]*[\"']?[\w.-]+/[\w./-]+@[0-9a-f]{40}\b"),
        keywords=("uses:",),
    ),
    _detector(
        "ci_token_permissions",
        "Explicit CI token permissions",
        "Declares the CI token's permissions explicitly instead of inheriting broad defaults.",
        _YAML,
        _lines(
            r"permissions:[ \t]*(?:read-all|\{[^\n}]*\})" + _EOL,
            r"permissions:[ \t]*(?:#[^\n]*)?" + _NL + r"[ \t]+[\w-]+:[ \t]*(?:read|write|none)\b",
        ),
        keywords=("permissions:",),
    ),
)

_BY_NAME: dict[str, PatternDetector] = {detector.name: detector for detector in PATTERNS}
_BY_LANGUAGE: dict[str, tuple[PatternDetector, ...]] = {
    language: tuple(d for d in PATTERNS if language in d.languages)
    for language in sorted({language for d in PATTERNS for language in d.languages})
}


def pattern_by_name(name: str) -> PatternDetector | None:
    """The detector called `name`, or None when there is no such detector."""
    return _BY_NAME.get(name)


def detect_patterns(path: str, language: str, added_text: str) -> list[PatternMatch]:
    """Finds the known patterns in the added lines of one file.

    `added_text` is the file's added lines joined by newlines. Every detector for
    `language` runs once; each reports at most one match, at its first occurrence, with
    `line` counted from 1 within `added_text` and a snippet of up to three lines.
    """
    detectors = _BY_LANGUAGE.get(language)
    if not detectors or not added_text:
        return []
    lowered = added_text.lower()
    matches = []
    for detector in detectors:
        if detector.keywords and not any(word in lowered for word in detector.keywords):
            continue
        if detector.prefilter is None:
            found = detector.regex.search(added_text)
        else:
            found = _search_prefiltered(detector.regex, detector.prefilter, added_text)
        if found is None:
            continue
        start = found.start()
        matches.append(
            PatternMatch(
                pattern=detector.name,
                path=path,
                line=added_text.count("\n", 0, start) + 1,
                snippet=_snippet(added_text, start),
            )
        )
    return matches


_WORD_START = re.compile(r"(?<!\w)\w")


def _search_prefiltered(
    regex: re.Pattern[str], prefilter: re.Pattern[str], text: str
) -> re.Match[str] | None:
    """`regex.search(text)`, trying only the words of lines where `prefilter` matches.

    Lines and words are tried in order, so the first match found is the leftmost one.
    """
    tried = -1  # start of the last line tried
    for hint in prefilter.finditer(text):
        line_start = text.rfind("\n", 0, hint.start()) + 1
        if line_start == tried:
            continue
        tried = line_start
        line_end = text.find("\n", hint.start())
        if line_end < 0:
            line_end = len(text)
        for word in _WORD_START.finditer(text, line_start, line_end):
            found = regex.match(text, word.start())
            if found is not None:
                return found
    return None


def _snippet(text: str, start: int) -> str:
    """The line holding `start` with one line either side, cut to SNIPPET_MAX_CHARS."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    if line_end == -1:
        line_end = len(text)
    window_start = text.rfind("\n", 0, line_start - 1) + 1 if line_start else 0
    window_end = text.find("\n", line_end + 1) if line_end < len(text) else -1
    if window_end == -1:
        window_end = len(text)

    # Only slice what can fit: a minified line may be megabytes long.
    if window_end - window_start <= 2 * SNIPPET_MAX_CHARS:
        lines = [line.rstrip() for line in text[window_start:window_end].split("\n")]
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        snippet = "\n".join(lines)
        if len(snippet) <= SNIPPET_MAX_CHARS:
            return snippet
    if line_end - line_start <= SNIPPET_MAX_CHARS:
        return text[line_start:line_end].rstrip()
    cut = max(line_start, start - _CONTEXT_BEFORE)
    return text[cut : min(line_end, cut + SNIPPET_MAX_CHARS)]

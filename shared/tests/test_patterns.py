"""Tests for the code-pattern detectors run over added diff lines.

Every detector has at least one example it must find (POSITIVES) and one look-alike it
must not find (NEAR_MISSES); a guard test fails when a detector is added without both.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap

import pytest
from ades.analysis.patterns import PATTERNS, PatternDetector, detect_patterns, pattern_by_name
from ades.model import PatternMatch

# The language ids the language mapper produces.
KNOWN_LANGUAGES = {
    "python", "go", "javascript", "typescript", "java", "c", "cpp", "sql", "shell",
    "dockerfile", "yaml", "ruby", "rust", "csharp", "kotlin", "php", "markdown", "json",
    "toml", "makefile", "html", "css",
}  # fmt: skip
SPEC_LANGUAGES = [
    "python", "go", "javascript", "typescript", "java", "c", "cpp", "sql", "shell",
    "dockerfile", "yaml",
]  # fmt: skip

SHA = "b4ffde65f46336ab88eb53be808477a3936bae11"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def code(text: str) -> str:
    """Added lines as the miner hands them over: dedented, no surrounding blank lines."""
    return textwrap.dedent(text).strip("\n")


# (detector, language, added text) — each must be found.
POSITIVES = [
    # Resilience
    (
        "retry_with_backoff",
        "python",
        code("""
        for attempt in range(5):
            try:
                return fetch(url)
            except ConnectionError:
                time.sleep(0.1 * 2 ** attempt)
    """),
    ),
    (
        "retry_with_backoff",
        "python",
        code("""
        @backoff.on_exception(backoff.expo, requests.RequestException, max_tries=5)
        def fetch(url):
    """),
    ),
    ("retry_with_backoff", "python", "@retry(wait=wait_exponential(multiplier=1, max=10))"),
    (
        "retry_with_backoff",
        "javascript",
        code("""
        for (let attempt = 0; attempt < 5; attempt++) {
          await sleep(100 * Math.pow(2, attempt));
        }
    """),
    ),
    (
        "retry_with_backoff",
        "go",
        code("""
        for i := 0; i < 5; i++ {
            if err = call(); err == nil { break }
            time.Sleep(backoff)
            backoff *= 2
        }
    """),
    ),
    ("retry_with_backoff", "go", "b := backoff.NewExponentialBackOff()"),
    (
        "retry_with_backoff",
        "java",
        "@Retryable(value = IOException.class, backoff = @Backoff(delay = 100, multiplier = 2))",
    ),
    ("http_client_timeout", "python", "resp = requests.get(url, params=q, timeout=5)"),
    ("http_client_timeout", "go", "client := &http.Client{\n    Timeout: 10 * time.Second,\n}"),
    (
        "http_client_timeout",
        "typescript",
        "await fetch(url, { signal: AbortSignal.timeout(5000) });",
    ),
    ("rate_limiting", "go", "limiter := rate.NewLimiter(rate.Every(time.Second), 5)"),
    ("rate_limiting", "python", '@limiter.limit("10/minute")\ndef login():'),
    ("rate_limiting", "java", "RateLimiter limiter = RateLimiter.create(5.0);"),
    ("rate_limiting", "javascript", "app.use(rateLimit({ windowMs: 60000, max: 100 }));"),
    ("feature_flag", "python", 'if is_feature_enabled("new-checkout", user):'),
    ("feature_flag", "javascript", 'const show = ldClient.variation("new-ui", false);'),
    ("feature_flag", "ruby", "if Flipper.enabled?(:search, current_user)"),
    ("feature_flag", "go", 'if ld.BoolVariation("new-ui", user, false) {'),
    # Python
    ("context_manager", "python", 'with open(path, encoding="utf-8") as handle:'),
    ("context_manager", "python", "@contextmanager\ndef transaction(conn):"),
    ("context_manager", "python", "    def __enter__(self):\n        return self"),
    ("context_manager", "python", "    >>> with pytest.raises(ValueError) as excinfo:"),
    ("dataclass", "python", "@dataclass(frozen=True, slots=True)\nclass Point:"),
    ("dataclass", "python", "@attrs.define\nclass Point:"),
    ("type_hints", "python", "def parse(text: str) -> list[str]:"),
    ("type_hints", "python", "def load(\n    path,\n    strict=False,\n) -> Config:"),
    ("type_hints", "python", "def save(self, path: Path):"),
    ("type_hints", "python", "    def close(self) -> None: ..."),
    ("typing_protocol", "python", "class Reader(Protocol):\n    def read(self) -> bytes: ..."),
    ("typing_protocol", "python", "class Row(TypedDict):"),
    (
        "decorator_definition",
        "python",
        code("""
        def timed(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
    """),
    ),
    (
        "decorator_definition",
        "python",
        code("""
        def logged(fn):
            def inner(*args, **kwargs):
                return fn(*args, **kwargs)
    """),
    ),
    ("caching_decorator", "python", "@functools.lru_cache(maxsize=256)\ndef lookup(key):"),
    ("caching_decorator", "python", "@cache\ndef settings():"),
    ("logging_setup", "python", "logger = logging.getLogger(__name__)"),
    ("logging_setup", "python", 'logging.basicConfig(level=logging.INFO, format="%(message)s")'),
    ("logging_setup", "go", "logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))"),
    (
        "logging_setup",
        "java",
        "private static final Logger log = LoggerFactory.getLogger(App.class);",
    ),
    ("logging_setup", "javascript", "const logger = winston.createLogger({ level: 'info' });"),
    ("async_await", "python", "async def fetch(session, url):\n    return await session.get(url)"),
    ("async_await", "javascript", "const load = async () => {\n  const res = await fetch(url);"),
    ("async_await", "typescript", "const user = await repo.find(id);"),
    ("pytest_fixture", "python", "@pytest.fixture\ndef client(app):\n    return app.test_client()"),
    ("test_mocking", "python", '@mock.patch("app.mail.send")\ndef test_it_sends(send):'),
    ("test_mocking", "python", 'monkeypatch.setattr(clock, "now", lambda: NOON)'),
    ("test_mocking", "javascript", "jest.mock('../api');\nconst send = jest.fn();"),
    ("test_mocking", "java", "when(repo.findById(1L)).thenReturn(Optional.of(user));"),
    ("input_validation", "python", "class SignupForm(BaseModel):\n    email: EmailStr"),
    ("input_validation", "python", '@field_validator("email")\ndef check_email(cls, v):'),
    ("input_validation", "typescript", "const Signup = z.object({ email: z.string().email() });"),
    ("input_validation", "java", "public User create(@Valid @RequestBody UserDto dto) {"),
    ("input_validation", "go", 'Email string `json:"email" validate:"required,email"`'),
    # Databases and SQL
    (
        "parameterized_query",
        "python",
        'cur.execute("SELECT * FROM users WHERE id = %s", (user_id,))',
    ),
    ("parameterized_query", "python", "db.execute('DELETE FROM t WHERE a = ? AND b = ?', [a, b])"),
    (
        "parameterized_query",
        "python",
        code('''
        cursor.execute(
            """
            UPDATE accounts SET balance = %(balance)s
            WHERE id = %(id)s
            """,
            {"balance": balance, "id": account_id},
        )
    '''),
    ),
    (
        "parameterized_query",
        "java",
        'PreparedStatement ps = conn.prepareStatement("SELECT * FROM t WHERE id = ?");',
    ),
    (
        "parameterized_query",
        "go",
        'rows, err := db.Query("SELECT name FROM users WHERE id = $1", id)',
    ),
    (
        "parameterized_query",
        "go",
        "row := db.QueryRowContext(ctx, `SELECT name\nFROM users WHERE id = $1`, id)",
    ),
    (
        "parameterized_query",
        "javascript",
        "await pool.query('SELECT * FROM users WHERE id = $1', [id]);",
    ),
    (
        "sql_index_creation",
        "sql",
        "CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email);",
    ),
    (
        "sql_index_creation",
        "sql",
        "create index if not exists ix_commits_time on commits using btree (commit_time);",
    ),
    ("sql_index_creation", "python", 'op.create_index("ix_users_email", "users", ["email"])'),
    (
        "sql_transaction",
        "sql",
        "BEGIN;\nUPDATE accounts SET balance = balance - 10 WHERE id = 1;\nCOMMIT;",
    ),
    (
        "sql_transaction",
        "sql",
        "start transaction isolation level serializable;\nselect 1;\ncommit;",
    ),
    (
        "sql_foreign_key",
        "sql",
        "author_id BIGINT NOT NULL REFERENCES authors(id) ON DELETE CASCADE,",
    ),
    (
        "sql_foreign_key",
        "sql",
        "CONSTRAINT fk_author FOREIGN KEY (author_id) REFERENCES authors (id)",
    ),
    ("sql_foreign_key", "python", 'author_id = Column(Integer, ForeignKey("authors.id"))'),
    ("sql_add_column", "sql", "ALTER TABLE users ADD COLUMN last_login timestamptz;"),
    (
        "sql_add_column",
        "sql",
        "alter table users\n    add email_verified boolean not null default false;",
    ),
    ("sql_add_column", "python", 'op.add_column("users", sa.Column("age", sa.Integer()))'),
    (
        "sql_upsert",
        "sql",
        "INSERT INTO stats (day, n) VALUES ($1, 1)\nON CONFLICT (day) DO UPDATE SET n = n + 1;",
    ),
    ("sql_upsert", "sql", "INSERT INTO t (k, v) VALUES (1, 2) ON DUPLICATE KEY UPDATE v = 2;"),
    # Go
    ("error_wrapping", "go", 'return fmt.Errorf("open config %s: %w", path, err)'),
    ("error_wrapping", "go", 'return errors.Wrap(err, "read header")'),
    ("error_wrapping", "python", 'raise ConfigError(f"bad value {key}") from exc'),
    ("error_wrapping", "java", 'throw new StorageException("write failed", e);'),
    (
        "goroutine_channel",
        "go",
        code("""
        results := make(chan int, len(jobs))
        for _, j := range jobs {
            go func(j int) { results <- work(j) }(j)
        }
    """),
    ),
    ("goroutine_channel", "go", "go worker(jobs)\ndone := make(chan struct{})"),
    (
        "select_with_timeout",
        "go",
        code("""
        select {
        case msg := <-inbox:
            handle(msg)
        case <-ctx.Done():
            return ctx.Err()
        }
    """),
    ),
    (
        "select_with_timeout",
        "go",
        "select {\ncase <-time.After(2 * time.Second):\n    return errTimeout\n}",
    ),
    ("context_timeout", "go", "ctx, cancel := context.WithTimeout(ctx, 5*time.Second)"),
    (
        "deferred_cleanup",
        "go",
        "f, err := os.Open(path)\nif err != nil { return err }\ndefer f.Close()",
    ),
    ("deferred_cleanup", "go", "defer cancel()"),
    ("wait_group", "go", "var wg sync.WaitGroup\nwg.Add(len(items))"),
    ("wait_group", "go", "g, ctx := errgroup.WithContext(ctx)"),
    # JavaScript / TypeScript
    ("react_hook", "javascript", "const [count, setCount] = useState(0);"),
    ("react_hook", "typescript", "const [user, setUser] = useState<User | null>(null);"),
    ("react_hook", "javascript", "useEffect(() => {\n  document.title = title;\n}, [title]);"),
    ("react_hook", "typescript", "export function useDebounce<T>(value: T, ms: number): T {"),
    ("react_hook", "javascript", "const theme = React.useContext(ThemeContext);"),
    ("promise_concurrency", "typescript", "const [a, b] = await Promise.all([loadA(), loadB()]);"),
    # Java
    ("try_with_resources", "java", "try (BufferedReader reader = Files.newBufferedReader(path)) {"),
    ("try_with_resources", "java", "try (var conn = dataSource.getConnection()) {"),
    ("java_optional", "java", "return Optional.ofNullable(cache.get(key));"),
    ("java_optional", "java", "User u = repo.findById(id).orElseThrow(NotFound::new);"),
    (
        "java_streams",
        "java",
        "var names = users.stream()\n    .map(User::getName)\n    .collect(Collectors.toList());",
    ),
    (
        "spring_annotations",
        "java",
        '@RestController\n@RequestMapping("/api/users")\npublic class UserController {',
    ),
    (
        "spring_annotations",
        "kotlin",
        "@Service\nclass BillingService(private val repo: InvoiceRepository)",
    ),
    # C / C++
    ("smart_pointers", "cpp", "auto conn = std::make_unique<Connection>(url);"),
    ("smart_pointers", "cpp", "std::shared_ptr<Cache> cache_;"),
    ("mutex_locking", "cpp", "std::lock_guard<std::mutex> guard(mu_);"),
    ("mutex_locking", "c", "pthread_mutex_lock(&queue->lock);"),
    ("mutex_locking", "go", "c.mu.Lock()\ndefer c.mu.Unlock()"),
    ("mutex_locking", "java", "synchronized (this.lock) {"),
    ("mutex_locking", "python", "with self._lock:\n    self._items.append(item)"),
    (
        "malloc_null_check",
        "c",
        code("""
        char *buf = malloc(len + 1);
        if (buf == NULL) {
            return -1;
        }
    """),
    ),
    (
        "malloc_null_check",
        "c",
        "node->next = (struct node *)calloc(1, sizeof *node);\nif (!node->next)\n    abort();",
    ),
    ("bounded_string_copy", "c", 'snprintf(path, sizeof path, "%s/%s", dir, name);'),
    ("bounded_string_copy", "cpp", "strlcpy(dst, src, sizeof dst);"),
    # Shell
    ("shell_strict_mode", "shell", "#!/usr/bin/env bash\nset -euo pipefail"),
    ("shell_strict_mode", "shell", "set -o errexit"),
    ("shell_strict_mode", "dockerfile", "RUN set -eux; apt-get update"),
    ("shell_strict_mode", "dockerfile", 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]'),
    ("shell_strict_mode", "yaml", "      run: |\n        set -e\n        make test"),
    ("shell_trap_cleanup", "shell", "tmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT"),
    ("shell_trap_cleanup", "shell", "trap cleanup INT TERM"),
    ("secure_temp_file", "shell", "workdir=$(mktemp -d)"),
    ("secure_temp_file", "python", "with tempfile.TemporaryDirectory() as tmp:"),
    # Containers
    (
        "multi_stage_build",
        "dockerfile",
        code("""
        FROM golang:1.22 AS build
        RUN go build -o /app ./cmd/app
        FROM gcr.io/distroless/static
        COPY --from=build /app /app
    """),
    ),
    ("multi_stage_build", "dockerfile", "COPY --chown=app:app --from=builder /venv /venv"),
    ("multi_stage_build", "dockerfile", "from node:20 as assets\nrun npm ci\nfrom nginx:1.27"),
    ("non_root_container", "dockerfile", "RUN useradd --create-home app\nUSER app"),
    ("non_root_container", "dockerfile", "USER 10001:10001"),
    ("non_root_container", "yaml", "securityContext:\n  runAsNonRoot: true"),
    ("non_root_container", "yaml", "securityContext:\n  runAsUser: 1000"),
    (
        "container_healthcheck",
        "dockerfile",
        "HEALTHCHECK --interval=30s CMD curl -f http://localhost/health || exit 1",
    ),
    ("container_healthcheck", "yaml", '    healthcheck:\n      test: ["CMD", "pg_isready"]'),
    ("pinned_image_digest", "dockerfile", f"FROM python:3.12-slim@{DIGEST}"),
    ("pinned_image_digest", "yaml", f"      image: ghcr.io/acme/api@{DIGEST}"),
    (
        "package_cache_cleanup",
        "dockerfile",
        code("""
        RUN apt-get update \\
            && apt-get install -y curl \\
            && rm -rf /var/lib/apt/lists/*
    """),
    ),
    ("package_cache_cleanup", "dockerfile", "RUN pip install --no-cache-dir -r requirements.txt"),
    ("package_cache_cleanup", "dockerfile", "RUN apk add --no-cache git"),
    # Kubernetes and CI
    (
        "kubernetes_probes",
        "yaml",
        "          livenessProbe:\n            httpGet:\n              path: /healthz",
    ),
    (
        "kubernetes_probes",
        "yaml",
        "          readinessProbe:\n            tcpSocket:\n              port: 8080",
    ),
    (
        "resource_limits",
        "yaml",
        code("""
        resources:
          requests:
            cpu: 100m
          limits:
            cpu: 500m
            memory: 256Mi
    """),
    ),
    ("container_security_context", "yaml", "securityContext:\n  readOnlyRootFilesystem: true"),
    ("container_security_context", "yaml", "capabilities:\n  drop:\n  - ALL"),
    ("container_security_context", "yaml", 'capabilities:\n  drop: ["ALL"]'),
    (
        "ci_matrix_build",
        "yaml",
        code("""
        strategy:
          matrix:
            python-version: ["3.11", "3.12"]
    """),
    ),
    ("ci_matrix_build", "yaml", "  parallel:\n    matrix:\n      - PROVIDER: [aws, gcp]"),
    ("ci_caching", "yaml", f"      - uses: actions/cache@{SHA}\n        with:\n          key: pip"),
    (
        "ci_caching",
        "yaml",
        "      - uses: actions/setup-python@v5\n        with:\n          cache: pip",
    ),
    (
        "ci_caching",
        "yaml",
        "test:\n  cache:\n    key: $CI_COMMIT_REF_SLUG\n    paths: [.cache/pip]",
    ),
    ("pinned_action_sha", "yaml", f"      - uses: actions/checkout@{SHA}  # v4.1.1"),
    ("ci_token_permissions", "yaml", "permissions:\n  contents: read"),
    ("ci_token_permissions", "yaml", "permissions: read-all"),
]

# (detector, language, added text) — look-alikes each detector must not report.
NEAR_MISSES = [
    ("retry_with_backoff", "python", "# retry the upload later if it fails\nupload(file)"),
    ("retry_with_backoff", "python", "for attempt in range(3):\n    time.sleep(1)"),
    ("retry_with_backoff", "javascript", "const area = Math.pow(2, bits);"),
    ("http_client_timeout", "python", "resp = requests.get(url)"),
    ("http_client_timeout", "go", "resp, err := http.DefaultClient.Get(url)"),
    ("rate_limiting", "python", "# TODO: rate limit this endpoint\nrate = 0.2"),
    ("feature_flag", "python", "enabled = True  # feature: dark mode"),
    ("feature_flag", "javascript", "if (button.isEnabled()) { submit(); }"),
    ("context_manager", "python", "# close it with care as usual\nhandle.close()"),
    ("context_manager", "python", 'message = "works with sqlite as well"'),
    ("context_manager", "python", "# implemented as a @contextmanager, however"),
    (
        "dataclass",
        "python",
        "from dataclasses import dataclass, field\nrow = dataclasses.asdict(p)",
    ),
    ("type_hints", "python", "def parse(text, strict=False):"),
    ("type_hints", "python", 'def build(defaults={"retries": 3}):'),
    ("typing_protocol", "python", "class HttpProtocolHandler(BaseHandler):"),
    ("decorator_definition", "python", "@property\ndef name(self):\n    return self._name"),
    ("caching_decorator", "python", "from functools import lru_cache\ncache = {}"),
    ("logging_setup", "python", 'logger.info("started")\nprint("logging in")'),
    ("async_await", "python", "# wait for it asynchronously\nresult = wait(job)"),
    ("async_await", "javascript", "$.ajax({ url, async: false });\n// await the response here"),
    ("pytest_fixture", "python", "def test_fixture_loading():\n    assert load_fixture('a')"),
    ("test_mocking", "python", "# TODO: mock the network later\nmock_data = load_fixture()"),
    ("input_validation", "python", "# validate later\nis_valid = True"),
    ("input_validation", "java", 'String email = "ops@Example.com";'),
    (
        "parameterized_query",
        "python",
        'cursor.execute(f"SELECT * FROM users WHERE id = {user_id}")',
    ),
    (
        "parameterized_query",
        "python",
        'cursor.execute("SELECT * FROM users WHERE id = %s" % user_id)',
    ),
    (
        "parameterized_query",
        "python",
        'cursor.execute("SELECT * FROM users WHERE id = " + user_id)',
    ),
    ("parameterized_query", "java", 'stmt.executeQuery("SELECT * FROM users WHERE id = " + id);'),
    (
        "parameterized_query",
        "go",
        'rows, err := db.Query(fmt.Sprintf("SELECT * FROM users WHERE id = %d", id))',
    ),
    (
        "parameterized_query",
        "javascript",
        "await pool.query(`SELECT * FROM users WHERE id = ${id} AND v = $1`, [v]);",
    ),
    ("sql_index_creation", "sql", "-- TODO: create index on users.email later"),
    ("sql_index_creation", "sql", "DROP INDEX IF EXISTS users_email_idx;"),
    ("sql_transaction", "sql", "BEGIN;\nUPDATE accounts SET balance = 0;"),
    (
        "sql_transaction",
        "sql",
        "CREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;",
    ),
    ("sql_foreign_key", "sql", "-- see references: docs/schema.md\nauthor_id BIGINT NOT NULL,"),
    ("sql_add_column", "sql", "ALTER TABLE users DROP COLUMN last_login;"),
    ("sql_add_column", "sql", "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);"),
    ("sql_upsert", "sql", "INSERT INTO users (email) VALUES ('a@example.com');"),
    ("error_wrapping", "go", 'return fmt.Errorf("open config: %v", err)'),
    ("error_wrapping", "python", 'raise ValueError("value comes from the user")'),
    ("error_wrapping", "python", "raise KeyError(key) from None"),
    (
        "goroutine_channel",
        "go",
        "// go through every item and make(chan) later\nfor _, it := range items {}",
    ),
    ("goroutine_channel", "go", "go func() { log.Println(work()) }()"),
    ("select_with_timeout", "go", "select {\ncase msg := <-inbox:\n    handle(msg)\n}"),
    ("select_with_timeout", "go", "<-ctx.Done()"),
    ("context_timeout", "go", "ctx := context.Background()"),
    ("deferred_cleanup", "go", "// defer closing until the end\nf.Close()"),
    ("wait_group", "go", "// wait for the group to finish\ndone <- true"),
    ("react_hook", "javascript", "config.useCache(true);\nconst u = user();"),
    ("react_hook", "typescript", "import { useState } from 'react';"),
    (
        "promise_concurrency",
        "javascript",
        "await new Promise((resolve) => setTimeout(resolve, 10));",
    ),
    (
        "try_with_resources",
        "java",
        "try {\n    reader.read();\n} finally {\n    reader.close();\n}",
    ),
    ("java_optional", "java", "boolean optional = true; // optional flag"),
    ("java_streams", "java", "InputStream stream = url.openStream();"),
    ("spring_annotations", "java", "@Override\npublic String toString() {"),
    ("smart_pointers", "cpp", "Widget* w = new Widget();\ndelete w;"),
    ("mutex_locking", "cpp", "// TODO: needs a lock around the queue"),
    ("mutex_locking", "go", "c.mu.Lock()\nc.count++"),
    ("malloc_null_check", "c", "char *buf = malloc(len + 1);\nmemcpy(buf, src, len);"),
    ("malloc_null_check", "c", "char *buf = malloc(len);\nif (len == 0) {\n    return;\n}"),
    ("bounded_string_copy", "c", 'strcpy(dst, src);\nsprintf(buf, "%d", n);'),
    ("shell_strict_mode", "shell", "set -x\nset +e"),
    ("shell_strict_mode", "shell", "# set -e would stop too early here"),
    ("shell_trap_cleanup", "shell", 'echo "it\'s a trap"'),
    ("shell_trap_cleanup", "shell", "trap - EXIT\ntrap '' INT"),
    ("secure_temp_file", "shell", "tmp=/tmp/build.$$"),
    ("multi_stage_build", "dockerfile", "FROM python:3.12-slim\nRUN pip install ."),
    ("multi_stage_build", "dockerfile", "FROM python:3.12 AS base\nRUN pip install ."),
    ("non_root_container", "dockerfile", "USER root\nRUN apt-get update"),
    ("non_root_container", "dockerfile", "USER 0:0"),
    ("non_root_container", "yaml", "securityContext:\n  runAsUser: 0"),
    ("container_healthcheck", "dockerfile", "HEALTHCHECK NONE"),
    ("pinned_image_digest", "dockerfile", "FROM python:3.12-slim"),
    ("pinned_image_digest", "yaml", "      image: ghcr.io/acme/api@sha256:abc123"),
    ("package_cache_cleanup", "dockerfile", "RUN apt-get update && apt-get install -y curl"),
    ("kubernetes_probes", "yaml", "# TODO: add a livenessProbe\nports:\n  - containerPort: 80"),
    ("resource_limits", "yaml", "limits:\n  rate: 10"),
    (
        "container_security_context",
        "yaml",
        "securityContext:\n  allowPrivilegeEscalation: true\n  privileged: true",
    ),
    ("ci_matrix_build", "yaml", "build_matrix_size: 3\n# matrix: later"),
    ("ci_caching", "yaml", "cache: false\nno_cache: true"),
    ("pinned_action_sha", "yaml", "      - uses: actions/checkout@v4"),
    ("ci_token_permissions", "yaml", "permissions: write-all"),
]


def case_id(case: tuple[str, str, str]) -> str:
    name, language, _ = case
    return f"{name}-{language}"


@pytest.mark.parametrize(("name", "language", "text"), POSITIVES, ids=map(case_id, POSITIVES))
def test_detector_finds_its_pattern(name, language, text):
    found = {match.pattern for match in detect_patterns("src/file", language, text)}
    assert name in found


@pytest.mark.parametrize(("name", "language", "text"), NEAR_MISSES, ids=map(case_id, NEAR_MISSES))
def test_detector_ignores_a_near_miss(name, language, text):
    assert pattern_by_name(name) is not None, f"unknown detector {name}"
    found = {match.pattern for match in detect_patterns("src/file", language, text)}
    assert name not in found


@pytest.mark.parametrize(("name", "language", "text"), POSITIVES, ids=map(case_id, POSITIVES))
def test_leading_blank_lines_shift_the_reported_line_exactly(name, language, text):
    # Catches `^\s*` in a regex, which would swallow blank lines and report them instead.
    def line_of(added: str) -> int:
        matches = detect_patterns("f", language, added)
        return next(match.line for match in matches if match.pattern == name)

    assert line_of("\n\n" + text) == line_of(text) + 2


def test_there_are_enough_detectors_with_unique_snake_case_names():
    names = [detector.name for detector in PATTERNS]
    assert len(PATTERNS) >= 30
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)


def test_every_detector_has_a_positive_and_a_near_miss_example():
    names = {detector.name for detector in PATTERNS}
    assert names - {case[0] for case in POSITIVES} == set()
    assert names - {case[0] for case in NEAR_MISSES} == set()
    assert {case[0] for case in POSITIVES + NEAR_MISSES} <= names


@pytest.mark.parametrize("detector", PATTERNS, ids=lambda detector: detector.name)
def test_every_detector_is_complete_and_multiline(detector):
    assert detector.title and detector.description
    assert detector.languages and detector.languages <= KNOWN_LANGUAGES
    assert detector.regex.flags & re.MULTILINE
    # Keywords are looked up in the lower-cased text.
    assert detector.keywords
    assert all(word and word == word.lower() for word in detector.keywords)


@pytest.mark.parametrize("language", SPEC_LANGUAGES)
def test_every_required_language_has_detectors(language):
    assert any(language in detector.languages for detector in PATTERNS)


def test_every_positive_example_uses_a_language_of_its_detector():
    for name, language, _ in POSITIVES:
        assert language in pattern_by_name(name).languages, (name, language)


def test_an_unknown_language_returns_nothing():
    assert detect_patterns("notes.txt", "klingon", "@pytest.fixture\ndef x(): pass") == []
    assert detect_patterns("README.md", "markdown", "with open(p) as f:") == []


def test_empty_added_text_returns_nothing():
    assert detect_patterns("app.py", "python", "") == []


def test_a_detector_only_runs_for_its_languages():
    text = "@pytest.fixture\ndef client():\n    pass"
    assert detect_patterns("main.go", "go", text) == []


def test_a_match_reports_path_line_and_three_line_snippet():
    text = code("""
        import pytest


        def helper():
            return 1
        @pytest.fixture
        def client(app):
            return app.test_client()
    """)
    matches = detect_patterns("tests/conftest.py", "python", text)
    fixture = next(match for match in matches if match.pattern == "pytest_fixture")
    assert fixture == PatternMatch(
        pattern="pytest_fixture",
        path="tests/conftest.py",
        line=6,
        snippet="    return 1\n@pytest.fixture\ndef client(app):",
    )


def test_a_match_on_the_first_line_has_no_line_before_it():
    matches = detect_patterns("Dockerfile", "dockerfile", "HEALTHCHECK CMD true\nUSER root\nEXPOSE 80")
    assert [(m.pattern, m.line, m.snippet) for m in matches] == [
        ("container_healthcheck", 1, "HEALTHCHECK CMD true\nUSER root"),
    ]


def test_blank_lines_around_a_match_are_left_out_of_the_snippet():
    matches = detect_patterns("Dockerfile", "dockerfile", "EXPOSE 80\n\nUSER app\n   \n")
    assert [(m.line, m.snippet) for m in matches] == [(3, "USER app")]


def test_each_detector_reports_only_its_first_match_in_a_file():
    text = "@pytest.fixture\ndef a(): ...\n\n@pytest.fixture\ndef b(): ..."
    matches = [m for m in detect_patterns("t.py", "python", text) if m.pattern == "pytest_fixture"]
    assert [match.line for match in matches] == [1]


def test_several_detectors_can_match_the_same_file():
    text = "@dataclass\nclass Job:\n    name: str\n\n@pytest.fixture\ndef job() -> Job:"
    names = {match.pattern for match in detect_patterns("t.py", "python", text)}
    assert {"dataclass", "pytest_fixture", "type_hints"} <= names


def test_snippets_of_long_lines_are_cut_to_300_characters():
    filler = "x = 1  # " + "y" * 400
    text = f"{filler}\ncur.execute('SELECT 1 WHERE a = %s', (a,))\n{filler}"
    match = next(m for m in detect_patterns("q.py", "python", text) if m.line == 2)
    assert match.snippet == "cur.execute('SELECT 1 WHERE a = %s', (a,))"


def test_a_match_inside_a_huge_minified_line_keeps_text_near_the_match():
    text = "a=1;" * 2000 + "const [v, setV] = useState(0);" + "b=2;" * 2000
    (match,) = detect_patterns("bundle.min.js", "javascript", text)
    assert match.pattern == "react_hook"
    assert match.line == 1
    assert len(match.snippet) == 300
    assert "useState(0)" in match.snippet


def test_crlf_line_endings_do_not_turn_user_root_into_a_non_root_user():
    text = "FROM debian\r\nUSER root\r\nRUN make\r\n"
    assert "non_root_container" not in {m.pattern for m in detect_patterns("D", "dockerfile", text)}


def test_pattern_by_name_finds_a_detector_or_returns_none():
    detector = pattern_by_name("retry_with_backoff")
    assert isinstance(detector, PatternDetector)
    assert detector.title == "Retry with backoff"
    assert pattern_by_name("no_such_pattern") is None


def test_detectors_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PATTERNS[0].name = "renamed"

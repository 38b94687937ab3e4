"""SQL-injection and XSS payloads in query strings, forms, JSON bodies and paths are
blocked with 400 and audited, while ordinary text that merely looks odd passes."""

from __future__ import annotations

import pytest
from ades.hardening.audit import query_events
from ades.hardening.inputs import inspect_value
from hardening_world import bearer, login

SQL_INJECTION = [
    "' OR '1'='1", "' OR 1=1 --", "admin'--", "admin' #", "\" OR \"\"=\"", "') OR ('a'='a",
    "x' or 'a'='a", "' or x=x", "1 OR 1=1", "1' AND 1=2 UNION SELECT username, password FROM users--",
    "1 UNION ALL SELECT NULL,NULL--", "1; DROP TABLE users", "'; DROP TABLE users; --",
    "1'; DELETE FROM commits WHERE '1'='1", "1 AND SLEEP(5)", "1; SELECT pg_sleep(5)--",
    "'; WAITFOR DELAY '0:0:5'--", "1 UN/**/ION SEL/**/ECT 1", "1 UNION/**/SELECT password FROM users",
    "%27%20OR%20%271%27%3D%271", "%2527%2520OR%25201%253D1--", "' or ''='",
    "x' AND 1=(SELECT COUNT(*) FROM information_schema.tables)--", "'; EXEC xp_cmdshell('dir')--",
    "1' ORDER BY 3--", "' OR 'x'='x", "1) or (1=1", "' || '1'='1", "admin\")--", "' OR TRUE--",
    "' AND NOT EXISTS (SELECT 1)", "1 AND 1=1", "&#39; OR &#39;1&#39;=&#39;1",
]
XSS = [
    "<script>alert(1)</script>", "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>", "<svg/onload=alert(1)>",
    "<body onload=alert('x')>", "javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<iframe src=\"javascript:alert(1)\">", "\"><script>alert(1)</script>",
    "'><img src=x onerror=alert(1)>", "<a href=\"javascript:alert(1)\">x</a>",
    "<div style=\"background:url(javascript:alert(1))\">",
    "<object data=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
    "<input autofocus onfocus=alert(1)>", "\" onmouseover=\"alert(1)",
    "<details open ontoggle=alert(1)>", "<meta http-equiv=\"refresh\" content=\"0;url=x\">",
    "';alert(String.fromCharCode(88,83,83))//", "<scr<script>ipt>alert(1)</script>",
    "%253Cscript%253Ealert(1)%253C/script%253E", "<video><source onerror=\"alert(1)\">",
    "data:text/html,<script>alert(1)</script>", "<base href=\"//evil.example/\">",
]
BENIGN = [
    "O'Brien", "List<String>", "a < b", "select the best option", "drop-down menu",
    "Map<String, List<Integer>>", "x > 3 and y < 4", "rock 'n' roll", "don't panic",
    "SELECT statement performance", "how did we add retries to the HTTP client?",
    "fix: handle ' in commit messages", "update the docs", "union of two sets", "1 + 1 = 2",
    "C# and F#", "bob@example.com", "feat(api): add --dry-run flag", "Renée O’Connor",
    "std::map<K, V>", "a <= b", "arrow => fn", "#include <stdio.h>", "time.sleep(5)",
    "<T extends Comparable<T>>", "Promise<void>", "<button onClick={handler}>", "50% off",
    "status = 'open' or status = 'closed'", "is it 'x' or not?", "the 'x' -- column",
    "grep -r 'foo' --include='*.py'", "XSS fix: escape <script> in titles", "/* TODO */",
    "<template>", "<div class=\"x\">", "SELECT id FROM users WHERE name = ?",
    "Brian O'Neil and Sam", "it's -- fine", "i; update the readme", "'#' char",
]


@pytest.mark.parametrize("payload", SQL_INJECTION)
def test_sql_injection_payloads_are_detected(payload):
    finding = inspect_value(payload)
    assert finding is not None and finding.attack == "sql_injection", finding


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads_are_detected(payload):
    finding = inspect_value(payload)
    assert finding is not None and finding.attack == "xss", finding


@pytest.mark.parametrize("text", BENIGN)
def test_benign_text_that_looks_odd_passes(text):
    assert inspect_value(text) is None


def test_pathological_inputs_are_inspected_in_linear_time():
    import time

    for value in ["'" + " " * 50_000 + "x", "<a " * 30_000, "<script>" * 10_000,
                  "select from " * 10_000, "/*" * 30_000, "' or '" * 10_000]:
        started = time.perf_counter()
        inspect_value(value)
        assert time.perf_counter() - started < 2.0, value[:20]


@pytest.fixture
def app(make_app):
    return make_app()


def test_every_catalogued_payload_is_blocked_and_audited_wherever_it_is_sent(app, world):
    client = app.test_client()
    token = bearer(world.write_token)
    payloads = SQL_INJECTION + XSS
    for payload in payloads:
        for response in (
                client.get("/api/items", query_string={"q": payload}, headers=token),
                client.post("/api/notes", json={"text": {"nested": [payload]}}, headers=token),
                client.post("/api/notes", data={"text": payload}, headers=token)):
            assert response.status_code == 400, payload
            assert response.get_json()["error"].startswith("request blocked")
    events = query_events(world.store, kind="request.blocked", limit=1000)
    assert len(events) == 3 * len(payloads)
    assert {e.actor for e in events} == {"bob"}
    fields = {e.detail["field"] for e in events}
    assert fields == {"query.q", "json.text.nested[0]", "form.text"}
    assert {e.detail["attack"] for e in events} == {"sql_injection", "xss"}


def test_benign_lookalikes_pass_in_every_position(app, world):
    client = app.test_client()
    token = bearer(world.write_token)
    for text in BENIGN:
        assert client.get("/api/items", query_string={"q": text}, headers=token)\
            .get_json()["q"] == text
        assert client.post("/api/notes", json={"text": text}, headers=token).status_code == 200
        assert client.post("/api/notes", data={"text": text}, headers=token).status_code == 200
    assert query_events(world.store, kind="request.blocked") == []


def test_field_names_and_path_values_are_inspected_too(app, world):
    client, csrf = app.test_client(), None
    csrf = login(client, "alice").get_json()["csrf_token"]
    assert client.post("/api/notes", json={"<script>alert(1)</script>": 1},
                       headers={"X-CSRF-Token": csrf}).status_code == 400
    response = client.put("/api/admin/users/x' OR '1'='1/role", json={"role": "viewer"},
                          headers={"X-CSRF-Token": csrf})
    assert response.status_code == 400
    assert response.get_json()["field"] == "path.username"


@pytest.mark.parametrize("name, secret", [
    ("password", True), ("new_password", True), ("csrf_token", True), ("apiKey", True),
    ("api-key", True), ("client_secret", True), ("passphrase", True),
    ("passage", False), ("compass", False), ("tokens_per_page", False), ("q", False),
    ("keyword", False), ("bypass", False)])
def test_only_fields_named_as_secrets_are_exempt(name, secret):
    from ades.hardening.inputs import is_secret_field

    assert is_secret_field(name) is secret


def test_secret_fields_are_not_inspected(app, world):
    client = app.test_client()
    response = client.post("/api/notes", json={"password": "' OR 1=1 --", "api_token": "<svg>"},
                           headers=bearer(world.write_token))
    assert response.status_code == 200


def test_endpoints_receiving_code_opt_out_for_named_fields_only(app, world):
    client = app.test_client()
    token = bearer(world.write_token)
    diff = "+<script src=\"app.js\"></script>\n+cur.execute(\"SELECT 1; DROP TABLE t\")"
    assert client.post("/api/context", json={"diff": diff}, headers=token).status_code == 200
    assert client.post("/api/context", json={"diff": diff, "path": "<svg onload=alert(1)>"},
                       headers=token).status_code == 400


def test_anonymous_probes_are_refused_before_their_inputs_are_read(app, world):
    response = app.test_client().get("/api/items", query_string={"q": "' OR 1=1 --"})
    assert response.status_code == 401
    assert query_events(world.store, kind="request.blocked") == []


def test_a_blocked_login_name_is_audited_without_the_password(app, world):
    response = app.test_client().post("/api/auth/login",
                                      json={"username": "admin'--", "password": "s3cret-pass"})
    assert response.status_code == 400
    (event,) = query_events(world.store, kind="request.blocked")
    assert event.detail["field"] == "json.username" and "s3cret" not in str(event.detail)

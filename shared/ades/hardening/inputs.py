"""Detection of SQL-injection and XSS payloads in request inputs, blocked and audited.

ADES never builds SQL from input (every query is parameterised) and escapes what it
renders, so this is a second line of defence that also makes probing visible: query
arguments, form fields, JSON bodies (keys and string values, at any depth) and URL
path values are checked, and a request carrying an attack shape is answered 400 and
recorded as `request.blocked`.

The patterns look for the *structure* of an attack - a quote that closes a string and
continues with SQL, `UNION SELECT`, a stacked `; DROP TABLE`, a script tag, an event
handler attribute, a `javascript:` URL - rather than for words, so that ordinary text
such as "O'Brien", "List<String>", "a < b", "select the best option" or "drop-down
menu" passes. Values are also checked after URL- and HTML-entity-decoding, and with SQL
comments removed, because those are the usual ways to smuggle the same shapes past a
filter. Password, secret and token fields are never inspected (a password may contain
anything). Endpoints that legitimately receive code, such as diffs sent by an IDE,
opt out with `@allow_code_input` (for the whole request or named fields).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote_plus

from flask import Response, current_app, request

from .context import audit_request, is_exempt_path, json_error

ALLOW_ATTR = "_ades_allow_code_input"
# Words that mark a field as holding a secret (`password`, `new_password`, `csrf_token`,
# `apiKey`): such values are never inspected, nor copied into the audit log.
SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "pwd", "secret", "token",
                          "apikey", "credential", "credentials"})
MAX_DEPTH = 32

View = TypeVar("View", bound=Callable[..., Any])

_QUOTE = r"['\"`\u2018\u2019]"
_OPERATOR = r"(?:=|<>|!=|<=?|>=?|\blike\b|\bis\b)"


def _compile(*rules: tuple[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    flags = re.IGNORECASE | re.DOTALL | re.VERBOSE
    return tuple((name, re.compile(pattern.replace("Q", _QUOTE).replace("OP", _OPERATOR),
                                   flags)) for name, pattern in rules)


# In these verbose patterns Q stands for any quote character and OP for a comparison.
_SQL_PATTERNS = _compile(
    # ' OR '1'='1    " or ""="    ') or ('a'='a    ' AND 1=2    ' || 'x'='x    ' OR TRUE--
    # (literals on the left, so a searched SQL snippet like "s = 'a' or s = 'b'" passes)
    ("quote then boolean", r"""Q [\s)]* (?:or|and|\|\||&&) \s [\s(]*
        (?: (?:Q[^'"`]{0,100}Q? | \d+(?:\.\d+)?) \s* OP
          | (?P<same>[a-z_]\w*) \s* = \s* (?P=same)\b
          | (?:true|false)\b | \d+ \s* (?:--|\#|;|$) | not \s+ exists \s* \( )"""),
    # admin'--    admin' #    admin")--    '; -- (only with an unclosed quote: see below)
    ("quote then comment", r"Q [\s);]* (?:--(?:\s|$|-)|\#|/\*)"),
    # 1 OR 1=1    x AND 2>1    1) or (1=1
    ("tautology", r"""\b(?:or|and) \s [\s(]* (?:\d+|Q\w*Q) \s* OP \s* (?:\d+|Q\w*Q)
        (?:\s|$|--|\#|;|\))"""),
    ("union select", r"\bunion\b (?:\s+(?:all|distinct))? [\s(]* select\b"),
    # 1; DROP TABLE users    '; DELETE FROM x    ; shutdown
    ("stacked query", r"""; \s* (?: drop \s+ (?:table|database|schema|index|view|user|function)\b
        | truncate \s+ (?:table\s+)? \w | delete \s+ from\b | insert \s+ into\b
        | update \s+ \w+ \s+ set\b | alter \s+ (?:table|user|database|role)\b
        | create \s+ (?:table|user|role|database)\b | exec(?:ute)? \s* (?:\(|\s+\w)
        | shutdown\b | grant \s+ \w | select \s .{1,200}? \bfrom\b )"""),
    # 1' ORDER BY 3--  (probing the column count)
    ("quote then clause", r"Q [\s)]* (?:order|group) \s+ by \s+ \d+"),
    # 1 AND SLEEP(5)    '; SELECT pg_sleep(5)    but time.sleep(5) in a code search passes
    ("time delay", r"""(?: \b(?:and|or|select|if)\b | ; | Q | \|\| ) [\s(]*
        (?:sleep|pg_sleep|benchmark) \s* \( \s* \d | \bwaitfor \s+ delay \s+ Q"""),
    ("system objects", r"""\b(?: xp_cmdshell | sp_executesql | information_schema\.\w+
        | pg_catalog\.\w+ | sqlite_master | load_file \s* \( | into \s+ (?:out|dump)file\b )"""),
)

_SQL_COMMENT = re.compile(r"/\*.{0,200}?\*/", re.DOTALL)
_XSS_PATTERNS = _compile(
    # a script element with content or a source; a bare "<script>" in prose passes
    ("script element", r"""< \s* script\b [^>]{0,500} > .{0,2000}? < \s* / \s* script
        | < \s* script\b [^>]{0,500} \bsrc \s* ="""),
    ("embedding tag", r"""< \s* (?:iframe|frame|frameset|object|embed|applet|base|meta)\b
        [^>]{0,500} \b(?:src|srcdoc|data|href|code|codebase|http-equiv) \s* ="""),
    # <img src=x onerror=alert(1)>    <svg/onload=...>    but JSX's onClick={...} passes
    ("event handler", r"< [a-z!/?] [^>]{0,500}? [\s/\"'] on[a-z]{3,} \s* = \s* (?!\{)"),
    ("script URL", r"""\b(?:javascript|vbscript|livescript) \s* :
        | \bdata \s* : \s* text/(?:html|javascript) | \bdata \s* : [^,\s]{0,100} ;base64"""),
    # "><b ...    " onmouseover="alert(1)
    ("attribute injection", r"""Q \s* > \s* < \s* [a-z]
        | Q \s+ (?:on[a-z]{3,}|style|src|href|formaction) \s* = \s* Q? [^"'`]{0,200}
          (?:alert|prompt|confirm|eval|javascript|document\.|window\.)"""),
    ("script call", r"""\b(?: document\.(?:cookie|domain|write) | String\.fromCharCode
        | alert \s* \( \s* (?:document|\d+\s*\)|Q[^"'`]{0,200}Q\s*\)) )"""),
    ("css expression", r"expression \s* \( | url \s* \( \s* Q? \s* javascript:"),
)


@dataclass(frozen=True)
class Finding:
    """Why an input value was judged an attack."""

    attack: str  # "sql_injection" or "xss"
    rule: str
    field: str


def _variants(value: str) -> Iterator[str]:
    """The value as sent, and decoded the ways filters are usually bypassed."""
    seen = set()
    current = value
    for _ in range(3):  # double and triple encoding
        for variant in (current, html.unescape(current)):
            # Browsers ignore tabs and newlines inside a URL scheme (java\tscript:) and
            # NULs are dropped by some parsers.
            variant = re.sub(r"[\x00\t\n\r]", "", variant) if ":" in variant else variant
            if variant not in seen:
                seen.add(variant)
                yield variant
        decoded = unquote_plus(html.unescape(current))
        if decoded == current:
            break
        current = decoded


def inspect_value(value: str, field: str = "") -> Finding | None:
    """The first attack shape found in `value`, or None for benign input."""
    for variant in _variants(value):
        # SQL comments hide keywords (UNION/**/SELECT) or split them (UN/**/ION).
        sql_views = {variant, _SQL_COMMENT.sub(" ", variant), _SQL_COMMENT.sub("", variant)}
        for name, pattern in _SQL_PATTERNS:
            if name == "quote then comment" and not _has_open_quote(variant):
                continue  # "the 'x' -- column" is prose; "admin'--" leaves a quote open
            if any(pattern.search(view) for view in sql_views):
                return Finding("sql_injection", name, field)
        for name, pattern in _XSS_PATTERNS:
            if pattern.search(variant):
                return Finding("xss", name, field)
    return None


def _has_open_quote(text: str) -> bool:
    return text.count("'") % 2 == 1 or text.count('"') % 2 == 1


def allow_code_input(*fields: str) -> Callable[[View], View]:
    """Exempt a view's inputs from inspection: the named fields, or all when none named.

    For endpoints whose job is to receive code or diffs (which may contain `<script>`
    or SQL), where the view treats the input strictly as data.
    """

    def mark(view: View) -> View:
        setattr(view, ALLOW_ATTR, frozenset(fields) or None)
        return view

    return mark


def request_fields() -> Iterator[tuple[str, str]]:
    """(field, value) pairs of the current request's inputs, secrets left out."""
    for key, value in (request.view_args or {}).items():
        if isinstance(value, str):
            yield f"path.{key}", value
    for key, value in request.args.items(multi=True):
        yield from _named(f"query.{key}", key, value)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            yield from _named(f"form.{key}", key, value)
    elif request.is_json:
        body = request.get_json(silent=True)
        if body is not None:
            yield from _walk(body, "json", 0)


def is_secret_field(name: str) -> bool:
    """True when a field name says its value is a secret (see SECRET_WORDS)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", snake) if w]
    pairs = {a + b for a, b in zip(words, words[1:], strict=False)}  # api_key -> apikey
    return not SECRET_WORDS.isdisjoint(words) or not SECRET_WORDS.isdisjoint(pairs)


def _named(label: str, key: str, value: str) -> Iterator[tuple[str, str]]:
    yield f"{label}(name)", key
    if not is_secret_field(key):
        yield label, value


def _walk(node: Any, label: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > MAX_DEPTH:
        return
    if isinstance(node, str):
        yield label, node
    elif isinstance(node, dict):
        for key, value in node.items():
            key = str(key)
            yield f"{label}.{key}(name)", key
            if not is_secret_field(key):
                yield from _walk(value, f"{label}.{key}", depth + 1)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{label}[{index}]", depth + 1)


def _field_key(label: str) -> str:
    """The plain field name of a label (`json.diff[0]` -> `diff`, `query.q` -> `q`)."""
    name = label.split(".", 1)[-1]
    return re.split(r"[.\[(]", name, maxsplit=1)[0]


def inspect_request() -> Response | None:
    """Before-request hook: 400 (and an audit entry) for a request with an attack shape."""
    if request.endpoint is None or is_exempt_path():
        return None
    view = current_app.view_functions.get(request.endpoint)
    allowed = getattr(view, ALLOW_ATTR, frozenset())
    if allowed is None:
        return None
    for label, value in request_fields():
        if allowed and _field_key(label) in allowed:
            continue
        finding = inspect_value(value, label)
        if finding is not None:
            audit_request("request.blocked", detail={
                "attack": finding.attack, "rule": finding.rule, "field": finding.field,
                "sample": value[:200]})
            kind = "SQL injection" if finding.attack == "sql_injection" else "cross-site scripting"
            return json_error(400, f"request blocked: input looks like {kind}",
                              field=finding.field)
    return None

"""The search's "why it matched" explanation: which query words each field holds.

The explanation runs for every result of every search, over whole commit messages and path
lists, so it is a regular-expression scan rather than a tokenizer; these tests hold it to
the tokenizer's meaning (a field matches a word when one of its tokens, split on anything
but letters and digits, starts with the word's stem).
"""

from __future__ import annotations

import re

from ades.search import _explain, _stem, _word_starts, query_words
from hypothesis import example, given, settings
from hypothesis import strategies as st

_TOKEN = re.compile(r"\w+")


def tokenizer_explain(words: list[str], texts: dict[str, str]) -> dict[str, list[str]]:
    """The meaning, spelled out: tokenize each field and compare token by token."""
    matched: dict[str, list[str]] = {}
    for name, text in texts.items():
        tokens = {t.lower() for t in _TOKEN.findall(text.replace("_", " "))}
        hits = [w for w in words if any(t.startswith(_stem(w)) for t in tokens)]
        if hits:
            matched[name] = hits
    return matched


def test_words_match_token_starts_in_each_field():
    words = query_words("retry backoff http")
    texts = {"title": "Add retries to the HTTP client",
             "message": "Wrap calls in retry_with_backoff()", "paths": "src/prefetch.py",
             "functions": "", "patterns": "retry-with-backoff", "tags": "network"}
    assert _explain(_word_starts(words), texts) == {
        "title": ["retry", "http"], "message": ["retry", "backoff"], "patterns": ["retry", "backoff"]}


def test_a_word_inside_a_token_does_not_match():
    # "fetch" is inside "prefetch" but starts no token of it.
    assert _explain(_word_starts(["fetch"]), {"paths": "src/prefetch.py"}) == {}
    assert _explain(_word_starts(["fetch"]), {"paths": "src/pre_fetch.py"}) == {"paths": ["fetch"]}


def test_a_query_word_with_an_underscore_matches_nothing():
    # Tokens never hold "_", so neither may a stem that is to start one.
    assert _explain(_word_starts(query_words("foo_bar")), {"functions": "foo_bar"}) == {}


_ASCII_TEXT = st.text(alphabet="abcdeXYZ_-./ 0123\n", max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet="abcdeXY_01", min_size=1, max_size=8), min_size=1, max_size=4),
       st.dictionaries(st.sampled_from(["title", "message", "paths"]), _ASCII_TEXT, max_size=3))
@example(["fetch"], {"paths": "a/prefetch_fetcher"})
@example(["used"], {"title": "Use it"})
def test_the_scan_agrees_with_the_tokenizer(words, texts):
    words = query_words(" ".join(words))
    assert _explain(_word_starts(words), texts) == tokenizer_explain(words, texts)

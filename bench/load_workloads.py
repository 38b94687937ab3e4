"""What `make bench-load` asks for, drawn from the ingested repository itself.

Each workload is a list of requests (method, path, JSON body or None) that wrk rotates
over (bench/load.lua reads them from a file, one per line):

- search: two-word and one-word queries made of the repository's own vocabulary (adjacent
  words of experience titles, e.g. "packed refs"), requested with a Zipf-like popularity
  (the k-th most frequent query about 1/k as often as the first) — some repeat, most of the
  long tail does not; half of them restricted to the repository, as the UI's search does;
- search, all distinct: every request a query that no earlier request of the run used
  (random word pairs of one title), so no result can come from a cache;
- search, top 50 queries: the 50 most popular queries over and over, so every answer comes
  from the cache (the cost of the request path alone);
- commit detail: 12,000 commits, each asked for once per rotation (the warm-up asks for 12,000
  others: a commit's answer is cached once computed);
- ide context: the most changed files and a sample of the rest;
- viz: every /viz/api view with the filter sets of bench/viz.py;
- healthz: `/healthz` through the gateway (the ui service), the stack's own ceiling.
"""

from __future__ import annotations

import json
import random
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ades import viz_data
from ades.analytics import file_change_counts
from ades.storage import Store
from ades.storage.repositories import get_repository

# bench/viz.py's filter sets: the whole history, a directory, one author, a date range, a category.
from viz import FILTERS as VIZ_FILTERS

_WORD = re.compile(r"[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*")
# English function words: nobody searches for them.
_STOP = frozenset(("a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does",
                   "for", "from", "has", "have", "if", "in", "into", "is", "it", "its", "not",
                   "of", "on", "or", "so", "that", "the", "then", "this", "to", "too", "was",
                   "were", "when", "where", "which", "while", "will", "with", "without", "also",
                   "more", "only", "via", "some", "all", "any", "out", "up", "one", "two",
                   "instead"))

Request = tuple[str, str, str | None]


@dataclass
class Workloads:
    """Request lists per endpoint, plus what they were drawn from."""

    lists: dict[str, list[Request]]
    query_pool: int
    distinct_queries: int


def _title_words(store: Store, repo_id: int) -> list[list[str]]:
    rows = store.query("SELECT title FROM experiences WHERE repo_id = ? ORDER BY id", (repo_id,))
    titles = []
    for (title,) in rows:
        words = [w for w in _WORD.findall((title or "").lower()) if len(w) >= 3 and w not in _STOP]
        if words:
            titles.append(words)
    return titles


def _stem(word: str) -> str:
    """A crude English stem, enough to group use/used/uses/using."""
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def search_queries(titles: list[list[str]], pool_size: int, *,
                   max_word_share: float = 0.02) -> list[str]:
    """The query pool, most frequent first: title bigrams and single words, interleaved.

    A single word that is in more than `max_word_share` of the titles (`add`, `git`, `fix`
    in git's history) finds a large part of the history and says nothing about what is
    sought: nobody searches for it alone, so it is not a query here (it stays in bigrams).
    """
    bigrams = Counter(f"{a} {b}" for words in titles for a, b in zip(words, words[1:], strict=False))
    singles = Counter(w for words in titles for w in set(words))
    # The search stems words ("using" finds "use"): judge a word by its stem's frequency.
    stems = Counter(s for words in titles for s in {_stem(w) for w in words})
    pairs = [q for q, n in bigrams.most_common() if n >= 3]
    words = [w for w, n in singles.most_common()
             if n >= 5 and stems[_stem(w)] <= max_word_share * len(titles)]
    # Interleave so both kinds appear at every popularity level.
    ranked = [q for pair in zip(pairs, words, strict=False) for q in pair]
    ranked += pairs[len(words):] + words[len(pairs):]
    return ranked[:pool_size]


def _search_path(query: str, repo_name: str, restricted: bool) -> str:
    args = {"q": query}
    if restricted:
        args["repo"] = repo_name
    return "/api/search?" + urllib.parse.urlencode(args)


def zipf_sequence(pool: list[str], length: int, rng: random.Random, exponent: float = 1.0) -> list[str]:
    """`length` draws from `pool` where item k (0-based) has weight 1/(k+1)**exponent."""
    weights = [1.0 / (k + 1) ** exponent for k in range(len(pool))]
    return rng.choices(pool, weights=weights, k=length)


def distinct_queries(titles: list[list[str]], count: int, rng: random.Random) -> list[str]:
    """`count` different two-word queries, each two words of one title (so most match)."""
    seen: set[str] = set()
    candidates = [w for w in titles if len(set(w)) >= 2]
    attempts = 0
    while len(seen) < count and attempts < count * 50:
        attempts += 1
        a, b = rng.sample(sorted(set(rng.choice(candidates))), 2)
        seen.add(f"{a} {b}")
    return sorted(seen, key=lambda q: rng.random())


def build(store: Store, repo_name: str, *, pool_size: int = 4000, sequence: int = 50_000,
          distinct: int = 30_000, commits: int = 12_000, files: int = 1000,
          seed: int = 9, commit_offset: int = 0) -> Workloads:
    """Every workload for repository `repo_name` (deterministic for a given `seed`); the
    commit-detail requests skip the first `commit_offset` commits of their order."""
    repo = get_repository(store, repo_name)
    if repo is None:
        raise LookupError(f"no repository {repo_name!r} in the database")
    rng = random.Random(seed)
    titles = _title_words(store, repo.id)
    pool = search_queries(titles, pool_size)
    search = [("GET", _search_path(q, repo_name, rng.random() < 0.5), None)
              for q in zipf_sequence(pool, sequence, rng)]
    unique = [("GET", _search_path(q, repo_name, rng.random() < 0.5), None)
              for q in distinct_queries(titles, distinct, rng)]
    popular = [("GET", _search_path(q, repo_name, k % 2 == 0), None) for k, q in enumerate(pool[:50])]
    hashes = [h for (h,) in store.query(
        "SELECT hash FROM commits WHERE repo_id = ? ORDER BY md5(hash) LIMIT ? OFFSET ?",
        (repo.id, commits, commit_offset))]
    commit = [("GET", f"/api/repositories/{repo_name}/commits/{h}", None) for h in hashes]
    counts = file_change_counts(store, repo.id)
    top = [p for p, _ in counts[: files // 10]]
    rest = [p for p, n in counts[files // 10:] if n >= 2]
    paths = top + rng.sample(rest, min(len(rest), files - len(top)))
    rng.shuffle(paths)
    ide = [("POST", "/ide/context", json.dumps({"repo": repo_name, "path": p})) for p in paths]
    viz = [("GET", f"/viz/api/{view}?" + urllib.parse.urlencode({"repo": repo_name, **flt}), None)
           for view in viz_data.VIEWS for flt in VIZ_FILTERS]
    rng.shuffle(viz)
    lists = {"healthz": [("GET", "/healthz", None)], "search": search,
             "search, all distinct": unique, "search, top 50 queries": popular,
             "commit detail": commit, "ide context": ide, "viz data": viz}
    lists["mixed"] = mixed(lists, rng)
    return Workloads(lists=lists, query_pool=len(pool), distinct_queries=len(set(
        path for _, path, _ in search)))


# Share of each endpoint in the mixed run: mostly searches and reading, as people use it.
MIX = {"search": 0.40, "commit detail": 0.20, "ide context": 0.25, "viz data": 0.15}


def mixed(lists: dict[str, list[Request]], rng: random.Random, length: int = 40_000) -> list[Request]:
    """An interleaving of the endpoint lists in the proportions of MIX."""
    positions = dict.fromkeys(MIX, 0)
    names = rng.choices(list(MIX), weights=list(MIX.values()), k=length)
    out = []
    for name in names:
        items = lists[name]
        out.append(items[positions[name] % len(items)])
        positions[name] += 1
    return out


def write_requests(requests: list[Request], path: Path) -> Path:
    """One request per line for bench/load.lua: METHOD, path and body separated by tabs."""
    with open(path, "w") as f:
        for method, target, body in requests:
            if "\t" in target or "\n" in target or (body and ("\t" in body or "\n" in body)):
                raise ValueError(f"request {target!r} cannot be written on one line")
            f.write(f"{method}\t{target}" + (f"\t{body}" if body else "") + "\n")
    return path

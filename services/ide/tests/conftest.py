"""The ide tests' world: a scripted repository whose coupling, experts and fixes are known.

History of "shop" (one hour between commits unless dated):
- olga wrote the order code three years before the rest, in big commits;
- rita then changed `src/orders.py` with `src/orders_db.py` and `tests/test_orders.py`
  together, fixed it several times, and once changed `src/orders.py` alone;
- `src/payments.py` changes on its own, with `docs/payments.md` once.
"""

from __future__ import annotations

import pytest
from gitrepos import RepoBuilder

from services.conftest import seed_world
from services.ide import create_app

OLGA = ("Olga Old", "olga@example.com")
RITA = ("Rita Recent", "rita@example.com")
START = 1_600_000_000
YEAR = 365 * 24 * 3600


def _orders(version: int) -> str:
    body = "\n".join(f"    total += item.price * {n}" for n in range(version + 1))
    return f"def order_total(items):\n    total = 0\n{body}\n    return total\n"


def build_shop(path) -> RepoBuilder:
    """Script the "shop" history described in the module docstring."""
    repo = RepoBuilder(path)
    when = START
    repo.write("src/orders.py", _orders(0) + "\n".join(f"# line {n}" for n in range(200)))
    repo.write("src/orders_db.py", "\n".join(f"QUERY_{n} = 'select {n}'" for n in range(150)))
    repo.write("README.md", "# shop\n")
    repo.commit("feat: add order totals and their storage", author=OLGA, date=when)
    when += 3600
    repo.write("src/payments.py", "def pay(order):\n    return order\n")
    repo.commit("feat: add payments", author=OLGA, date=when)
    when += 3 * YEAR
    for n in range(1, 6):
        repo.write("src/orders.py", _orders(n))
        repo.write("src/orders_db.py", f"QUERY = 'select {n}'\n")
        repo.write("tests/test_orders.py", f"def test_total():\n    assert {n}\n")
        kind = "fix: correct order total rounding" if n % 2 else "feat: order discounts"
        repo.commit(f"{kind} ({n})", author=RITA, date=when)
        when += 3600
    repo.write("src/orders.py", _orders(9))
    repo.commit("fix: order total for empty carts", author=RITA, date=when)
    when += 3600
    repo.write("src/payments.py", "def pay(order):\n    retry = 3\n    return order\n")
    repo.write("docs/payments.md", "# payments\n")
    repo.commit("docs: explain payment retries", author=OLGA, date=when)
    return repo


@pytest.fixture(scope="session")
def shop_repo(tmp_path_factory):
    """The scripted "shop" repository (built once per session)."""
    return build_shop(tmp_path_factory.mktemp("ide-shop") / "shop")


def seed_ide(app, repo_path) -> dict[str, str]:
    """Seed the service world, ingest "shop", and create vera's tokens: returns
    {"read": token, "revoked": token}."""
    from ades.hardening import tokens
    from ades.mining.ingest import ingest_repository
    from ades.service import service_context

    seed_world(app)
    store = service_context(app).stores.get().inner
    ingest_repository(store, str(repo_path), name="shop", shards=1)
    _, read = tokens.create_token(store, "vera", "read", "ide plugin")
    revoked_meta, revoked = tokens.create_token(store, "vera", "read", "old laptop")
    tokens.revoke_token(store, revoked_meta.id)
    return {"read": read, "revoked": revoked}


@pytest.fixture
def ide(make_service, service_overrides, shop_repo):
    """(test client, tokens) of an in-process ide app over the ingested "shop"."""
    app = make_service(create_app, service_overrides)
    found = seed_ide(app, shop_repo.path)
    return app.test_client(), found

"""User enumeration through login answers and timing.

The ui app runs in process with the real argon2id parameters (nothing swapped for speed).
Four kinds of failed login — unknown name, wrong password, locked account, disabled account —
must get the same status and body, and take about as long: an unknown name must still pay
for one argon2 verification. Attempts are interleaved so load on the machine hits every kind
alike; each comes from its own address, so the per-address login limit never interferes.
"""

from __future__ import annotations

import statistics
import time

import pytest
from security_world import clear_gait_env, close, create_accounts, overrides, service_factory, store_of

CATEGORY = "user enumeration"
ROUNDS = 7
# Generous on purpose (a loaded 2-core machine): skipping argon2 for unknown names makes
# them 20-100x faster, far outside this band, while scheduling noise stays inside it.
TOLERANCE = 0.5


@pytest.fixture
def ui(tmp_path, monkeypatch):
    clear_gait_env(monkeypatch)
    app = service_factory("ui")(overrides(tmp_path / "data", tmp_path / "roots", max_login_attempts=1000))
    create_accounts(app)
    store = store_of(app)
    with store.transaction() as tx:
        tx.execute("UPDATE users SET locked_until = ? WHERE username = 'mark'", (int(time.time()) + 3600,))
        tx.execute("UPDATE users SET disabled = 1 WHERE username = 'alice'")
    yield app
    close(app)


CASES = {
    "unknown user": ("nobody-here", "some-password-long"),
    "existing user, wrong password": ("vera", "not-veras-password"),
    "locked user, right password": ("mark", "mark-maintainer-password"),
    "disabled user, right password": ("alice", "alice-admin-password-long"),
}


def test_failed_logins_look_the_same_whether_or_not_the_user_exists(ui, attacks):
    client = ui.test_client()
    answers: dict[str, set[tuple[int, str]]] = {case: set() for case in CASES}
    timings: dict[str, list[float]] = {case: [] for case in CASES}
    serial = 0
    for _ in range(ROUNDS):
        for case, (name, password) in CASES.items():
            serial += 1
            start = time.perf_counter()
            response = client.post("/api/auth/login", json={"username": name, "password": password},
                                   headers={"X-Forwarded-For": f"10.77.{serial // 250}.{serial % 250 + 1}"})
            timings[case].append(time.perf_counter() - start)
            body = response.get_json()
            answers[case].add((response.status_code, body.get("error", "")))
    reference = answers["unknown user"]
    medians = {case: statistics.median(values) for case, values in timings.items()}
    for case in CASES:
        attacks.record(CATEGORY, f"login as {case}: status and message", "POST /api/auth/login",
                       expected=f"the unknown user's answer {sorted(reference)}",
                       observed=str(sorted(answers[case])),
                       passed=len(answers[case]) == 1 and answers[case] == reference
                       and next(iter(reference))[0] == 401)
    slowest = max(medians.values())
    for case, median in medians.items():
        attacks.record(CATEGORY, f"login as {case}: timing over {ROUNDS} tries", "POST /api/auth/login",
                       expected=f"median within {TOLERANCE:.0%} of the slowest kind "
                                f"({slowest * 1000:.0f} ms)",
                       observed=f"median {median * 1000:.1f} ms",
                       passed=median >= (1 - TOLERANCE) * slowest)
    attacks.assert_all_refused()


def test_the_html_login_form_does_not_tell_users_apart_either(ui, attacks):
    client = ui.test_client()
    pages = {}
    for n, (case, (name, password)) in enumerate(CASES.items()):
        response = client.post("/login", data={"username": name, "password": password},
                               headers={"X-Forwarded-For": f"10.78.0.{n + 1}"})
        text = response.get_data(as_text=True).replace(name, "NAME")
        pages[case] = (response.status_code, text)
    reference = pages["unknown user"]
    for case, page in pages.items():
        attacks.record(CATEGORY, f"login form as {case}", "POST /login",
                       expected="the same status and page as for an unknown user (the typed name aside)",
                       observed=f"{page[0]}; same page={page == reference}",
                       passed=page == reference and page[0] in (200, 401))
    attacks.assert_all_refused()

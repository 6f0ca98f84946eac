"""Sign-in, sessions, API tokens, the Host allow-list, /metrics access and team-scoped silences."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage import accounts
from storage.account_tables import ApiTokenRow, AuthSecretRow, LoginFailureRow
from tests.web.conftest import add_account, build_app, signed_in
from tests.web.factories import NOW
from web.auth.accounts import change_password, first_admin
from web.auth.cookies import COOKIE_NAME
from web.config import AuthConfig, WebConfig

PASSWORD = "correct horse battery staple"


def _login(client: TestClient, name: str, password: str, next: str = "/alerts") -> int:
    response = client.post("/login", data={"name": name, "password": password, "next": next})
    return response.status_code


def test_password_sign_in_sets_a_session_that_reaches_pages_and_api(
    web_app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    add_account(sessions, name="ann", role="responder", teams=("support",), password=PASSWORD)
    with TestClient(web_app, follow_redirects=False) as browser:
        assert browser.get("/alerts").headers["location"] == "/login?next=%2Falerts"
        form = browser.get("/login?next=%2Falerts")
        assert form.status_code == 200 and 'name="password"' in form.text
        response = browser.post("/login", data={"name": "ann", "password": PASSWORD, "next": "/alerts"})
        assert response.status_code == 303 and response.headers["location"] == "/alerts"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert PASSWORD not in cookie
        assert browser.get("/api/me").json() == {
            "id": 1,
            "name": "ann",
            "role": "responder",
            "teams": ["support"],
        }
        page = browser.get("/sources")
        assert page.status_code == 200 and "ann" in page.text and 'action="/logout"' in page.text


def test_wrong_passwords_and_unknown_names_are_one_answer(
    web_app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    add_account(sessions, name="ann", password=PASSWORD)
    with TestClient(web_app, follow_redirects=False) as browser:
        wrong = browser.post("/login", data={"name": "ann", "password": "not the password"})
        unknown = browser.post("/login", data={"name": "nobody", "password": PASSWORD})
        assert wrong.status_code == unknown.status_code == 401
        assert "Wrong name or password." in wrong.text and "Wrong name or password." in unknown.text
        assert "set-cookie" not in wrong.headers
        assert browser.get("/api/me").status_code == 401


def test_a_token_only_account_cannot_sign_in_with_any_password(
    web_app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    add_account(sessions, name="robot", role="viewer")
    with TestClient(web_app, follow_redirects=False) as browser:
        assert _login(browser, "robot", "") == 422 or _login(browser, "robot", PASSWORD) == 401
        assert _login(browser, "robot", PASSWORD) == 401


def test_login_is_rate_limited_per_name_and_address(sessions: sessionmaker[Session]) -> None:
    app = build_app(sessions, auth=AuthConfig(login_max_failures=3, login_window_minutes=15))
    add_account(sessions, name="ann", password=PASSWORD)
    add_account(sessions, name="bob", password=PASSWORD)
    with TestClient(app, follow_redirects=False) as attacker:
        assert [_login(attacker, "ann", f"guess {i}") for i in range(3)] == [401, 401, 401]
        limited = attacker.post("/login", data={"name": "ann", "password": PASSWORD})
        # Even the right password is not checked any more: guessing cannot go on.
        assert limited.status_code == 429 and limited.headers["retry-after"] == "900"
        assert "set-cookie" not in limited.headers
        # Another account from the same address is not locked out by ann's failures.
        assert _login(attacker, "bob", PASSWORD) == 303
    with TestClient(app, follow_redirects=False, client=("192.0.2.7", 1234)) as elsewhere:
        assert _login(elsewhere, "ann", PASSWORD) == 303  # ann herself, from her own address


def test_failures_older_than_the_window_no_longer_count(sessions: sessionmaker[Session]) -> None:
    clock = [NOW]
    app = build_app(
        sessions, auth=AuthConfig(login_max_failures=2, login_window_minutes=15), clock=lambda: clock[0]
    )
    add_account(sessions, name="ann", password=PASSWORD)
    with TestClient(app, follow_redirects=False) as browser:
        assert [_login(browser, "ann", "bad one"), _login(browser, "ann", "bad two")] == [401, 401]
        assert _login(browser, "bob", "never signs in") == 401
        assert _login(browser, "ann", PASSWORD) == 429
        clock[0] = NOW + timedelta(minutes=16)
        assert _login(browser, "ann", PASSWORD) == 303
        # A later failure (of any name) clears failures older than the window from the table.
        assert _login(browser, "made-up-name", "whatever") == 401
    with sessions() as session:
        assert session.scalars(select(LoginFailureRow.name)).all() == ["made-up-name"]


def test_revoked_tokens_get_401(web_app: FastAPI, sessions: sessionmaker[Session]) -> None:
    _, token = add_account(sessions, name="robot", role="viewer")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(web_app, follow_redirects=False) as client:
        assert client.get("/api/me", headers=headers).json()["name"] == "robot"
        with sessions() as session:
            stored = session.scalars(select(ApiTokenRow)).one()
            assert stored.token_sha256 != token and token not in stored.prefix + stored.token_sha256
            assert stored.last_used_at == NOW
        with sessions.begin() as session:
            accounts.revoke_token(session, token_id=stored.id, now=NOW)
        refused = client.get("/api/me", headers=headers)
        assert refused.status_code == 401 and refused.json() == {"detail": "invalid or revoked API token"}
        # A bad token on a page is refused too, not silently treated as anonymous browsing.
        assert client.get("/alerts", headers=headers).status_code == 303
        assert client.get("/api/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}).status_code == 401


def test_a_foreign_host_is_refused_even_with_a_valid_token(client: TestClient) -> None:
    assert client.get("/api/me").status_code == 200
    for host in ("evil.example", "testserver.evil.example", "127.0.0.1.nip.io"):
        response = client.get("/api/me", headers={"Host": host})
        assert response.status_code == 400, host
    ack = client.post("/api/alerts/1/ack", json={}, headers={"Host": "evil.example"})
    assert ack.status_code == 400


def test_default_allowed_hosts_are_the_configured_ones() -> None:
    assert WebConfig().hosts() == ["localhost", "127.0.0.1", "::1", "[::1]"]
    public = WebConfig(host="0.0.0.0", base_url="https://earshot.example.com/")
    assert public.hosts() == ["localhost", "127.0.0.1", "::1", "[::1]", "earshot.example.com"]
    assert WebConfig(host="10.0.0.5").hosts()[-1] == "10.0.0.5"
    assert WebConfig(allowed_hosts=["a.example"]).hosts() == ["a.example"]


def test_cross_site_posts_are_still_refused(web_app: FastAPI, sessions: sessionmaker[Session]) -> None:
    add_account(sessions, name="ann", password=PASSWORD)
    with TestClient(web_app, follow_redirects=False) as browser:
        assert _login(browser, "ann", PASSWORD) == 303
        hostile = browser.post("/api/silences", json={}, headers={"Origin": "https://evil.example"})
        assert hostile.status_code == 403 and "cross-site" in hostile.text


def test_logout_ends_the_session(web_app: FastAPI, sessions: sessionmaker[Session]) -> None:
    add_account(sessions, name="ann", role="viewer", password=PASSWORD)
    with TestClient(web_app, follow_redirects=False) as browser:
        assert _login(browser, "ann", PASSWORD) == 303
        out = browser.post("/logout")  # a viewer may sign out, though they may change nothing else
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert browser.get("/api/me").status_code == 401


def test_a_password_change_ends_other_sessions_and_tampered_cookies_fail(
    web_app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    add_account(sessions, name="ann", password=PASSWORD)
    with TestClient(web_app, follow_redirects=False) as browser:
        assert _login(browser, "ann", PASSWORD) == 303
        value = browser.cookies[COOKIE_NAME]
        assert browser.get("/api/me").status_code == 200
        forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        with TestClient(web_app, cookies={COOKIE_NAME: forged}) as forger:
            assert forger.get("/api/me").status_code == 401
        with sessions.begin() as session:
            change_password(session, name="ann", password="another long password")
        assert browser.get("/api/me").status_code == 401
        assert _login(browser, "ann", "another long password") == 303


def test_the_generated_session_secret_is_kept_in_the_database(sessions: sessionmaker[Session]) -> None:
    add_account(sessions, name="ann", password=PASSWORD)
    first = build_app(sessions)
    with TestClient(first, follow_redirects=False) as browser:
        assert _login(browser, "ann", PASSWORD) == 303
        cookie = browser.cookies[COOKIE_NAME]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuthSecretRow)) == 1
    # A restarted (or second) worker reads the same secret, so the session still holds.
    with TestClient(build_app(sessions), follow_redirects=False, cookies={COOKIE_NAME: cookie}) as again:
        assert again.get("/api/me").json()["name"] == "ann"
    # A configured secret replaces it: the old cookie no longer verifies.
    configured = build_app(sessions, auth=AuthConfig(session_secret="x" * 40))
    with TestClient(configured, follow_redirects=False, cookies={COOKIE_NAME: cookie}) as other:
        assert other.get("/api/me").status_code == 401


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_sign_in_never_redirects_off_site(
    web_app: FastAPI, sessions: sessionmaker[Session], target: str
) -> None:
    add_account(sessions, name="ann", password=PASSWORD)
    with TestClient(web_app, follow_redirects=False) as browser:
        response = browser.post("/login", data={"name": "ann", "password": PASSWORD, "next": target})
        assert response.status_code == 303 and response.headers["location"] == "/"


def test_metrics_takes_a_token_or_the_configured_loopback(sessions: sessionmaker[Session]) -> None:
    closed = build_app(sessions)
    with TestClient(closed, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 401
    with signed_in(closed, sessions, role="viewer") as scraper:
        assert scraper.get("/metrics").status_code == 200
    opened = build_app(sessions, auth=AuthConfig(metrics_loopback_open=True))
    with TestClient(opened, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200
        assert local.get("/api/me").status_code == 401  # only /metrics is opened
    with TestClient(opened, client=("192.0.2.7", 40000)) as remote:
        assert remote.get("/metrics").status_code == 401


def test_silences_are_team_scoped(web_app: FastAPI, sessions: sessionmaker[Session]) -> None:
    base = {"duration_minutes": 60, "comment": "known outage"}
    with signed_in(web_app, sessions, role="responder", teams=("support",)) as responder:
        for matchers in (
            {"urgency": "low"},
            {"team": "sales"},
            {"team": ["support", "sales"]},
            {"team": "!= sales"},
        ):
            refused = responder.post("/api/silences", json={**base, "matchers": matchers})
            assert refused.status_code == 403, matchers
        mine = responder.post(
            "/api/silences", json={**base, "matchers": {"team": "support", "urgency": "low"}}
        )
        assert mine.status_code == 201 and mine.json()["created_by"] == "responder-support"
    with signed_in(web_app, sessions, role="admin", name="boss") as admin:
        everything = admin.post("/api/silences", json={**base, "matchers": {"urgency": "low"}})
        assert everything.status_code == 201
    with signed_in(web_app, sessions, role="responder", teams=("support",), name="ann") as ann:
        assert ann.post(f"/api/silences/{everything.json()['id']}/expire").status_code == 403
        assert ann.post(f"/api/silences/{mine.json()['id']}/expire").json()["expired_by"] == "ann"
    with signed_in(web_app, sessions, role="viewer") as viewer:
        assert viewer.get("/api/silences").status_code == 200
        assert viewer.post("/api/silences", json={**base, "matchers": {"team": "support"}}).status_code == 403


def test_first_admin_only_on_an_empty_database(sessions: sessionmaker[Session]) -> None:
    assert first_admin(sessions, password=None, now=NOW) is False
    assert first_admin(sessions, password="", now=NOW) is False
    with pytest.raises(ValueError, match="at least"):
        first_admin(sessions, password="short", now=NOW)
    assert first_admin(sessions, password=PASSWORD, now=NOW) is True
    assert first_admin(sessions, password="a different password", now=NOW) is False
    with sessions() as session:
        users = accounts.list_users(session)
    assert [(u.name, u.role) for u in users] == [("admin", "admin")]
    assert users[0].password_hash is not None and users[0].password_hash.startswith("$argon2id$")


def test_viewers_keep_their_own_saved_searches_and_change_nothing_else(
    web_app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    with signed_in(web_app, sessions, role="viewer", name="vera") as vera:
        saved = vera.post("/api/searches", json={"name": "outages", "page": "mentions", "query": "q=outage"})
        assert saved.status_code == 201, saved.text
        search_id = saved.json()["id"]
        form = vera.post("/searches", data={"name": "billing", "page": "mentions", "query": "q=bill"})
        assert form.status_code == 303, form.text
        assert sorted(s["name"] for s in vera.get("/api/searches").json()) == ["billing", "outages"]
        assert vera.delete(f"/api/searches/{search_id}").status_code == 204
        [billing] = vera.get("/api/searches").json()
        assert vera.post(f"/searches/{billing['id']}/delete").status_code == 303
        assert vera.get("/api/searches").json() == []
        # The exception is those routes only: the rest stays read-only for a viewer.
        assert vera.post("/api/silences", json={"matchers": {"team": "support"}}).status_code == 403
        assert vera.put("/api/searches", json={}).status_code == 403
        assert vera.post("/api/searches/1/share", json={}).status_code == 403


def test_every_page_links_the_auth_styles_and_the_saved_searches(client: TestClient) -> None:
    page = client.get("/alerts").text
    assert '<link rel="stylesheet" href="/static/auth.css">' in page
    assert '<a href="/searches">Saved</a>' in page
    assert 'class="whoami"' in page
    css = client.get("/static/auth.css")
    assert css.status_code == 200 and ".topbar .whoami" in css.text

"""A real browser (Debian's chromium, driven by Playwright) works the response desk end to end.

The app is served by uvicorn on 127.0.0.1 over a temporary SQLite database seeded with a week
of mentions and four alerts; replies to X go to a fake X on 127.0.0.1. A responder signs in
through the form, filters the inbox, claims the X alert, replies from a template and resolves
it; works another alert with the keyboard alone; the overview must draw every chart; the inbox
and an alert page must fit a 390 px phone. Each test works its own alerts, so any order holds.
Screenshots go under pytest's temporary directory (inside $TMPDIR). chromium missing is a
failure, not a skip: .ci/run installs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from storage import replies as reply_store
from storage.cases import cases_of
from storage.db import create_db_engine, session_factory, upgrade
from storage.models import AlertRow
from tests.collectors.repliers.desk import desk_for
from tests.collectors.repliers.fakes import FakeX
from tests.collectors.repliers.fakes import serving as serving_fake
from tests.web.browser_helpers import (
    CHART_FACTS_JS,
    CHARTS_DRAWN_JS,
    PASSWORD,
    Desk,
    chromium_path,
    seed_desk,
    serving,
)
from tests.web.conftest import BRANDS, COMPETITORS, add_account, build_app
from web.config import WebConfig

pytestmark = pytest.mark.browser

# Generous: a loaded 2-core CI machine runs chromium, uvicorn and the suite at once.
TIMEOUT_MS = 30_000
PHONE_WIDTH = 390
USER = "ada"
# Like the suite's socket guard, for the browser process: no name but 127.0.0.1 resolves, so
# chromium cannot reach beyond this machine; a small /dev/shm (containers) must not crash it.
CHROMIUM_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-dev-shm-usage"]
SCROLL_WIDTH_JS = "() => document.documentElement.scrollWidth"
# expect()'s default is 5 s; only this module uses Playwright, so setting it globally is contained.
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Site:
    """The served app, its database, what was seeded, the fake X and where screenshots go."""

    url: str
    sessions: sessionmaker[Session]
    desk: Desk
    fake_x: FakeX
    shots: Path


@dataclass
class Tab:
    """A browser page and the console errors (CSP refusals included) and exceptions it logged."""

    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app on 127.0.0.1 over a seeded SQLite database, replying to X through a fake X."""
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'earshot.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    fake = FakeX()
    desk = seed_desk(sessions, fake.target())
    add_account(
        sessions, name=USER, role="responder", teams=("support", "billing", "social"), password=PASSWORD
    )
    with serving_fake(fake) as x_base:
        app = build_app(
            sessions,
            brands=BRANDS,
            competitors=COMPETITORS,
            web=WebConfig(allowed_hosts=["127.0.0.1"]),
            replies=desk_for("x", fake.account(x_base)),
        )
        with serving(app) as url:
            yield Site(url, sessions, desk, fake, tmp_path_factory.mktemp("screenshots"))
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless chromium from the system (never a downloaded one)."""
    path = chromium_path()
    if path is None:
        pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _tab(browser: Browser, site: Site, *, width: int, height: int) -> Tab:
    context = browser.new_context(base_url=site.url, viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    tab = Tab(context.new_page())
    tab.page.on(
        "console", lambda message: tab.errors.append(message.text) if message.type == "error" else None
    )
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


@pytest.fixture
def desktop(browser: Browser, site: Site) -> Iterator[Tab]:
    """A fresh 1280 px wide browser context (no cookies)."""
    tab = _tab(browser, site, width=1280, height=900)
    yield tab
    tab.page.context.close()


@pytest.fixture
def phone(browser: Browser, site: Site) -> Iterator[Tab]:
    """A fresh 390 px wide browser context (no cookies)."""
    tab = _tab(browser, site, width=PHONE_WIDTH, height=844)
    yield tab
    tab.page.context.close()


def sign_in(page: Page, site: Site, path: str) -> None:
    """Open ``path``, get sent to the sign-in form, sign in, and land back on ``path``."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(site.url + path)
    # The deferred scripts (inbox.js's keys, the charts) run before "load", not before the URL changes.
    page.wait_for_load_state("load")
    expect(page.locator("header .whoami .user")).to_have_text(USER)


def row_of(page: Page, alert_id: int) -> Locator:
    """The inbox row that opens alert ``alert_id``."""
    return page.locator(f"tr.inbox-row[data-href='/alerts/{alert_id}']")


def shot(page: Page, site: Site, name: str) -> Path:
    """Save a full-page screenshot; return its path."""
    path = site.shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_responder_filters_claims_replies_on_x_and_resolves(desktop: Tab, site: Site) -> None:
    page, desk = desktop.page, site.desk
    sign_in(page, site, "/alerts")
    rows = page.locator("tr.inbox-row")
    # Each test works its own alerts, so these hold in any order.
    for alert_id in (desk.x_alert, desk.low_support, desk.billing):
        expect(row_of(page, alert_id)).to_be_visible()

    filters = page.locator("form.filters")
    filters.locator("input[name='team']").fill("support")
    filters.locator("select[name='urgency']").select_option("high")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]team=support&.*urgency=high"))
    expect(rows).to_have_count(1)
    row = row_of(page, desk.x_alert)
    expect(row).to_contain_text(desk.x_text)
    expect(row).to_contain_text("unassigned")
    shot(page, site, "1-inbox-filtered")

    row.get_by_role("button", name="Claim").click()
    expect(page.locator("p.notice")).to_have_text("1 alert updated.")
    # The redirect keeps the filters, and the row now shows who owns it.
    expect(page).to_have_url(re.compile(r"team=support.*urgency=high.*done=1"))
    expect(rows).to_have_count(1)
    expect(row).to_contain_text(f"→ {USER}")
    shot(page, site, "2-inbox-claimed")

    row.locator("a.open").click()
    expect(page).to_have_url(f"{site.url}/alerts/{desk.x_alert}")
    composer = page.locator("form.composer-form")
    expect(composer).to_be_visible()
    expected = f"Hi @dana_ops, sorry about that! We're on it (#{desk.x_alert})."
    composer.get_by_label("Template").select_option("sorry")
    expect(composer.get_by_label("Reply")).to_have_value(expected)
    expect(page.locator("[data-count]")).to_have_text(str(len(expected)))
    expect(page.locator("[data-limit]")).to_have_text("280")
    composer.get_by_role("button", name="Send reply").click()
    posted = page.locator(".reply-thread li.reply-posted")
    expect(posted).to_have_count(1)
    # The thread is reloaded after sending; the outcome must still be on screen after that.
    expect(page.locator(".composer-status")).to_have_text("Posted on x.")
    expect(posted).to_contain_text(expected)
    expect(posted.get_by_role("link", name="View on x")).to_have_attribute(
        "href", re.compile(r"^https://x\.com/i/web/status/\d+$")
    )
    shot(page, site, "3-alert-replied")

    [request] = site.fake_x.posts()
    assert request.json == {"text": expected, "reply": {"in_reply_to_tweet_id": desk.tweet_id}}
    assert request.headers["Authorization"] == f"Bearer {site.fake_x.token}"

    page.locator("#act-resolve").click()
    expect(page.locator("#act-resolve")).to_have_count(0)
    expect(page.locator(".page-head")).to_contain_text("resolved")
    expect(page.locator("dl.facts").first).to_contain_text(f"by {USER} (reply)")
    shot(page, site, "4-alert-resolved")

    with site.sessions() as session:
        alerts = {
            alert_id: session.get(AlertRow, alert_id)
            for alert_id in (desk.x_alert, desk.low_support, desk.billing)
        }
        states = {k: (a.status, a.assignee, a.resolved_by) for k, a in alerts.items() if a is not None}
        case = cases_of(session, [desk.x_alert])[desk.x_alert]
        [reply] = reply_store.for_alert(session, desk.x_alert)
    assert states == {
        desk.x_alert: ("resolved", USER, USER),
        desk.low_support: ("firing", None, None),
        desk.billing: ("firing", None, None),
    }
    assert (case.status, case.first_response_by, case.first_response_via) == ("resolved", USER, "reply")
    assert (str(reply.state), reply.posted_by, reply.text) == ("posted", USER, expected)
    assert reply.remote_id == site.fake_x.published[0]["id"]
    assert desktop.errors == []


def test_the_keyboard_moves_selects_acknowledges_opens_and_resolves(desktop: Tab, site: Site) -> None:
    page, desk = desktop.page, site.desk
    sign_in(page, site, "/alerts?team=social")
    row = row_of(page, desk.social)
    expect(page.locator("tr.inbox-row")).to_have_count(1)
    page.keyboard.press("j")
    expect(row).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("x")
    expect(row.locator("input[name='rows']")).to_be_checked()
    page.keyboard.press("a")
    expect(page.locator("p.notice")).to_have_text("1 alert updated.")
    # Keys reach inbox.js only once the new page's deferred scripts ran.
    page.wait_for_load_state("load")
    page.keyboard.press("j")
    page.keyboard.press("e")
    expect(page).to_have_url(f"{site.url}/alerts/{desk.social}")
    expect(page.locator(".page-head")).to_contain_text("acknowledged")
    page.wait_for_load_state("load")
    page.keyboard.press("r")
    expect(page.locator("#act-resolve")).to_have_count(0)
    with site.sessions() as session:
        stored = session.get(AlertRow, desk.social)
        assert stored is not None
        done = (stored.acknowledged_by, stored.status, stored.resolved_by)
    assert done == (USER, "resolved", USER)
    assert desktop.errors == []


def test_the_overview_draws_every_chart(desktop: Tab, site: Site) -> None:
    page = desktop.page
    sign_in(page, site, "/")
    canvases = page.locator("canvas[data-chart]")
    expect(canvases).to_have_count(4)
    page.wait_for_function(CHARTS_DRAWN_JS)
    facts = page.evaluate(CHART_FACTS_JS)
    shot(page, site, "5-overview")
    assert sorted(f["name"] for f in facts) == ["net", "sentiment", "share", "volume"]
    for chart in facts:
        assert chart["painted"] > 0, f"chart {chart['name']} is blank: {chart}"
        assert chart["values"] > 0, f"chart {chart['name']} has no data: {chart}"
    assert desktop.errors == []


def test_the_inbox_and_an_alert_fit_a_390_px_phone(phone: Tab, site: Site) -> None:
    page = phone.page
    sign_in(page, site, "/alerts")
    expect(page.locator("tr.inbox-row").first).to_be_visible()
    widths = {"inbox": page.evaluate(SCROLL_WIDTH_JS)}
    shots = [shot(page, site, "6-inbox-390px")]
    row_of(page, site.desk.low_support).locator("a.open").click()
    expect(page).to_have_url(f"{site.url}/alerts/{site.desk.low_support}")
    page.wait_for_load_state("load")
    expect(page.locator("form.composer-form")).to_be_visible()
    widths["alert"] = page.evaluate(SCROLL_WIDTH_JS)
    shots.append(shot(page, site, "7-alert-390px"))
    too_wide = {page_name: width for page_name, width in widths.items() if width > PHONE_WIDTH}
    assert too_wide == {}, f"wider than {PHONE_WIDTH} px, so it scrolls sideways; see {shots}"
    assert all(path.stat().st_size > 0 for path in shots)
    assert phone.errors == []

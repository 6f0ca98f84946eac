"""Noise control: owned accounts, competitors, history (max_age) and impersonators, table-driven."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting.config import AlertingConfig, RouteConfig, RouteMatch, TeamConfig
from alerting.noise import BrandBook
from domain import Author, Mention, Urgency
from storage.models import MentionRow
from storage.trends import top_authors
from tests.alerting.helpers import Harness, classified
from tests.factories import T0, mention

BOOK = BrandBook.build(
    [
        ("Lumora", False, {"*": ["@lumora", "@LumoraSupport"], "mastodon": ["@lumora@social.example"]}),
        ("Vantix", True, {"*": ["@vantix"]}),
        ("Orbly", True, {}),
    ]
)
TEAMS = [TeamConfig(name=n, channels=["recording"]) for n in ("ops", "pr", "support")]


def _by(handle: str, text: str, *, name: str | None = None, source: str = "fake") -> Mention:
    m = mention("x1", text, handle=handle, source=source)
    return replace(m, author=Author(handle=handle, display_name=name or handle, followers=10))


@pytest.mark.parametrize(
    ("handle", "source", "owned"),
    [
        ("@lumora", "fake", True),
        ("@LUMORA", "fake", True),
        ("lumorasupport", "fake", True),
        ("@lumora@social.example", "mastodon", True),
        ("@vantix", "fake", True),  # a competitor's own account is that brand's, not a customer
        ("@lumora_fan", "fake", False),
        ("@LumoraSupp0rt", "fake", False),
    ],
)
def test_owned_accounts(handle: str, source: str, owned: bool) -> None:
    assert BOOK.mark(_by(handle, "hello", source=source)).owned is owned


@pytest.mark.parametrize(
    ("brands", "ordered", "competitor_only"),
    [
        (("Lumora",), ("Lumora",), False),
        (("Vantix",), ("Vantix",), True),
        (("Vantix", "Orbly"), ("Vantix", "Orbly"), True),
        (("Vantix", "Lumora"), ("Lumora", "Vantix"), False),
    ],
)
def test_competitors_are_marked_and_our_brand_leads(
    brands: tuple[str, ...], ordered: tuple[str, ...], competitor_only: bool
) -> None:
    marked = BOOK.mark(mention("c1", "text", brands=brands))
    assert marked.brands == ordered
    assert marked.competitor_only is competitor_only


@pytest.mark.parametrize(
    ("handle", "name", "text"),
    [
        # Digits for letters, the classic lookalike.
        ("@LumoraSupp0rt", "Lumora Support", "DM us your password and the 6-digit code"),
        # Cyrillic о and а in an otherwise Latin handle.
        ("@Lumоrа_Support", "Support", "please send your login email and password"),
        # Greek omicron, and an official-sounding suffix on the brand's stem.
        ("@Lumοra_HelpDesk", "Help", "DM us your card number to refund you"),
        ("@LumoraSecurityTeam", "Security", "log in here with your email and password"),
        # A capital I standing in for l.
        ("@LumoraSupport_", "LumoraSupport", "send us a DM with your card details"),
        ("@IumoraSupport", "Support", "what is the verification code you just received?"),
        # The display name does the imitation.
        ("@random8812", "Lumora Support", "Please DM us your password"),
        # Spanish and German requests.
        ("@LumoraAyuda_", "Lumora Soporte", "Envíanos un DM con tu contraseña"),
        ("@lumora.hilfe", "Lumora Support", "Schreib uns eine DM mit deinem Passwort"),
    ],
)
def test_impersonators_asking_for_credentials_are_critical_security(
    handle: str, name: str, text: str
) -> None:
    m = _by(handle, text, name=name)
    assert BOOK.impersonated(m) in BOOK.own_accounts  # names the account being imitated
    out = BOOK.check(m, classified("praise", "spam", urgency=Urgency.LOW))
    assert out.urgency is Urgency.CRITICAL
    assert "security" in out.categories and out.signals["impersonation"] == 1.0
    assert "spam" not in out.categories  # spam never alerts; a lure posing as us must


@pytest.mark.parametrize(
    ("handle", "name", "text"),
    [
        # The real account asking for a DM is not an impersonator.
        ("@LumoraSupport", "Lumora Support", "Sorry about that! DM us your order number"),
        # A lookalike that asks for nothing.
        ("@LumoraSupp0rt", "Lumora Support", "we love our customers"),
        # A customer whose handle merely contains the brand.
        ("@lumorafan99", "Lumora fan", "what is the 2FA code setting called?"),
        ("@lumorabakery", "Lumora Bakery", "DM us for cake orders"),
        # Unrelated accounts asking for a DM.
        ("@sam", "Sam", "DM me the password for the wifi lol"),
        # A competitor's account is not ours to protect.
        ("@Vantix_Support", "Vantix Support", "DM us your password"),
    ],
)
def test_not_impersonation(handle: str, name: str, text: str) -> None:
    assert BOOK.impersonated(_by(handle, text, name=name)) is None


def _harness(sessions: sessionmaker[Session], routes: list[RouteConfig]) -> Harness:
    return Harness(sessions=sessions, routes=routes, teams=TEAMS, alerting=AlertingConfig(max_age=6 * 3600))


DEFAULT = RouteConfig(name="default", team="support", default=True)
WATCH = RouteConfig(name="rival-watch", team="pr", match=RouteMatch(brand_role="competitor"))
NAMED = RouteConfig(name="vantix", team="pr", match=RouteMatch(brand=["Vantix"]))


@pytest.mark.parametrize(
    ("routes", "brands", "expected_routes"),
    [
        ([DEFAULT], ("Lumora",), ["default"]),
        ([DEFAULT], ("Vantix",), []),  # competitors page nobody by default
        ([WATCH, DEFAULT], ("Vantix",), ["rival-watch"]),
        ([NAMED, DEFAULT], ("Vantix",), ["vantix"]),
        ([NAMED, DEFAULT], ("Orbly",), []),
        ([WATCH, DEFAULT], ("Vantix", "Lumora"), ["default"]),
    ],
)
def test_competitor_mentions_alert_only_where_a_route_asks(
    sessions: sessionmaker[Session],
    routes: list[RouteConfig],
    brands: tuple[str, ...],
    expected_routes: list[str],
) -> None:
    h = _harness(sessions, routes)
    m = BOOK.mark(mention("c1", "it is down", brands=brands, at=h.clock()))
    ids = h.raise_for(m, classified("outage"))
    with sessions() as session:
        from storage.models import AlertRow

        got = [session.get(AlertRow, i).route_name for i in ids]  # type: ignore[union-attr]
    assert got == expected_routes


@pytest.mark.parametrize(
    ("age", "alerts"),
    [(timedelta(minutes=5), 1), (timedelta(hours=5, minutes=59), 1), (timedelta(hours=6, minutes=1), 0)],
)
def test_history_older_than_max_age_is_stored_without_alert(
    sessions: sessionmaker[Session], age: timedelta, alerts: int
) -> None:
    h = _harness(sessions, [DEFAULT])
    now = h.clock()
    m = replace(mention(f"h{age.seconds}", "site down", at=now - age), collected_at=now)
    assert len(h.raise_for(m, classified("outage"))) == alerts
    with sessions() as session:
        assert session.scalar(select(MentionRow.id).where(MentionRow.external_id == m.external_id))


def test_owned_posts_are_stored_marked_and_never_alert_or_rank(sessions: sessionmaker[Session]) -> None:
    h = _harness(sessions, [DEFAULT])
    ours = BOOK.mark(_by("@LumoraSupport", "Refund issued, sorry for the trouble!"))
    ours = replace(ours, published_at=h.clock(), collected_at=h.clock())
    assert h.raise_for(ours, classified("billing", urgency=Urgency.HIGH)) == []
    customer = replace(mention("c2", "refund me now", handle="@angry", at=h.clock()), external_id="c2")
    assert len(h.raise_for(customer, classified("billing"))) == 1
    with sessions() as session:
        assert session.scalar(select(MentionRow.owned).where(MentionRow.external_id == "x1")) is True
        authors = top_authors(session, since=T0 - timedelta(days=1), until=h.clock() + timedelta(days=1))
    assert [a.handle for a in authors] == ["@angry"]

"""Routes: ordered, first match wins, `continue`, a required default, broken rules are no match."""

from __future__ import annotations

import pytest

from alerting.config import ChannelConfig, RouteConfig, RouteMatch, TeamConfig, check_routes
from alerting.routing import Router
from domain import Classification, Sentiment, Urgency
from tests.factories import mention

TEAMS = [TeamConfig(name=n, channels=[f"{n}-chan"]) for n in ("ops", "legal", "pr", "support")]
ROUTES = [
    RouteConfig(name="legal", team="legal", match=RouteMatch(categories=["legal", "safety"])),
    RouteConfig(name="ops", team="ops", match=RouteMatch(categories=["outage"], urgency=Urgency.HIGH)),
    RouteConfig.model_validate(
        {"name": "pr-watch", "team": "pr", "match": {"min_followers": 10_000}, "continue": True}
    ),
    RouteConfig(
        name="negative-vantix", team="pr", match=RouteMatch(brand=["Vantix"], sentiment=[Sentiment.NEGATIVE])
    ),
    RouteConfig(name="default", team="support", default=True),
]


def _c(
    *categories: str, urgency: Urgency = Urgency.MEDIUM, sentiment: Sentiment = Sentiment.NEGATIVE
) -> Classification:
    return Classification(
        sentiment=sentiment,
        sentiment_scores={},
        urgency=urgency,
        urgency_score=0.5,
        categories=categories,
        language="en",
        model_version="test",
    )


@pytest.mark.parametrize(
    ("categories", "urgency", "followers", "brands", "expected"),
    [
        (("legal",), Urgency.LOW, 10, ("Lumora",), ["legal"]),
        (("safety", "outage"), Urgency.CRITICAL, 10, ("Lumora",), ["legal"]),  # first match wins
        (("outage",), Urgency.HIGH, 10, ("Lumora",), ["ops"]),
        (("outage",), Urgency.MEDIUM, 10, ("Lumora",), ["default"]),  # below the ops threshold
        # The default only catches what no route matched, as in Alertmanager.
        (("billing",), Urgency.HIGH, 50_000, ("Lumora",), ["pr-watch"]),
        (("billing",), Urgency.HIGH, 50_000, ("Vantix",), ["pr-watch", "negative-vantix"]),
        ((), Urgency.MEDIUM, 10, ("Vantix",), ["negative-vantix"]),
        ((), Urgency.MEDIUM, None, ("Lumora",), ["default"]),
    ],
)
def test_route_table(
    categories: tuple[str, ...],
    urgency: Urgency,
    followers: int | None,
    brands: tuple[str, ...],
    expected: list[str],
) -> None:
    router = Router(ROUTES, TEAMS)
    decisions = router.decide(
        mention("1", "x", followers=followers, brands=brands), _c(*categories, urgency=urgency)
    )
    assert [d.route for d in decisions] == expected
    assert all(d.channels == (f"{d.team}-chan",) for d in decisions)


def test_decision_snapshots_route_and_explains() -> None:
    (decision,) = Router(ROUTES, TEAMS).decide(mention("1", "x"), _c("outage", urgency=Urgency.CRITICAL))
    assert decision.snapshot == ROUTES[1].model_dump(mode="json", by_alias=True)
    assert decision.reason == "urgency critical >= high; categories outage"


def test_broken_rule_is_no_match_and_is_reported() -> None:
    broken = RouteConfig(name="broken", team="ops", match=RouteMatch(text="=~ refund"))
    # A rule that cannot be evaluated (here: a bad regex slipped past validation by mutation).
    object.__setattr__(broken.match, "text", "=~ (unclosed")
    router = Router([broken, ROUTES[-1]], TEAMS)
    assert [d.route for d in router.decide(mention("1", "x"), _c())] == ["default"]
    assert router.errors == {"broken": 1}


@pytest.mark.parametrize(
    ("routes", "error"),
    [
        ([], "routes: at least one route is required"),
        ([RouteConfig(name="a", team="ops")], "routes: a default route is required"),
        (
            [RouteConfig(name="d", team="ops", default=True), RouteConfig(name="a", team="ops")],
            "routes[0].default: the default route must be the last one",
        ),
        ([RouteConfig(name="d", team="nobody", default=True)], "routes[0].team: unknown team 'nobody'"),
        (
            [RouteConfig(name="d", team="ops", default=True, channels=["nope"])],
            "routes[0].channels[0]: unknown channel 'nope'",
        ),
    ],
)
def test_route_config_errors(routes: list[RouteConfig], error: str) -> None:
    errors = check_routes(routes, [TeamConfig(name="ops")], [ChannelConfig(name="log", kind="log")])
    assert any(e.startswith(error) for e in errors), errors

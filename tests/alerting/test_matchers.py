"""Route matchers on any field with =, !=, =~, !~, >=, <=, and config errors with their key path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.config import RouteConfig, RouteMatch, TeamConfig
from alerting.matchers import MAX_MATCH_CHARS, MatcherError, parse_cli_matcher, parse_matcher
from alerting.routing import Router
from domain import Author, Engagement, Mention, Sentiment, Urgency
from earshot.settings import ConfigError, load_settings
from tests.alerting.helpers import classified
from tests.factories import T0

TEAMS = [TeamConfig(name="pr", channels=["pr-chat"]), TeamConfig(name="support", channels=["chat"])]


def _mention(**overrides: Any) -> Mention:
    fields: dict[str, Any] = {
        "source": "x-main",
        "source_kind": "twitter",
        "external_id": "1",
        "text": "Lumora charged me twice, I want a REFUND",
        "author": Author(handle="dana", followers=12_000),
        "published_at": T0,
        "collected_at": T0,
        "language": "en",
        "engagement": Engagement(likes=40, shares=5, replies=5),
        "brands": ("Lumora",),
        "queries": ("lumora OR @lumora",),
    }
    return Mention(**(fields | overrides))


M = _mention()
C = classified("billing", "customer_service", urgency=Urgency.HIGH, sentiment=Sentiment.NEGATIVE)


@pytest.mark.parametrize(
    ("match", "mention", "reason"),
    [
        ({"followers": ">= 10000"}, M, "followers 12000 >= 10000"),
        ({"followers": ">= 20000"}, M, None),
        ({"followers": "< 20000"}, M, "followers 12000 < 20000"),
        ({"followers": 10000}, M, "followers 12000 >= 10000"),  # bare number: at least
        ({"min_followers": 10000}, M, "followers 12000 >= 10000"),  # the list-style field still works
        ({"followers": ">= 1"}, _mention(author=Author(handle="x", followers=None)), None),  # unknown is 0
        ({"engagement": "<= 50"}, M, "engagement 50 <= 50"),
        ({"engagement": "> 50"}, M, None),
        ({"text": "=~ (?i)refund"}, M, "text =~ (?i)refund"),
        ({"text": "=~ refund"}, M, None),  # case matters unless (?i)
        ({"text": "!~ (?i)outage"}, M, "text !~ (?i)outage"),
        ({"text": "!~ (?i)refund"}, M, None),
        ({"language": "!= en"}, M, None),
        ({"language": "!= fr"}, M, "language en != fr"),
        ({"language": ["en", "de"]}, M, "language en"),
        ({"language": "= de, en"}, M, "language en"),
        ({"brand": "=~ ^Lum"}, M, "brand Lumora =~ ^Lum"),
        ({"brand": "!= Vantix"}, M, "brand Lumora != Vantix"),
        ({"brand": "!= lumora"}, M, None),  # equality ignores case
        ({"source": "twitter"}, M, "source twitter"),  # the kind matches too
        ({"source": "x-main"}, M, "source x-main"),
        ({"source": "!= reddit"}, M, "source x-main, twitter != reddit"),
        ({"sentiment": "negative"}, M, "sentiment negative"),
        ({"sentiment": "!= negative"}, M, None),
        ({"urgency": "high"}, M, "urgency high >= high"),  # bare level: at or above
        ({"urgency": ">= critical"}, M, None),
        ({"urgency": "= high"}, M, "urgency high"),
        ({"urgency": "<= medium"}, M, None),
        ({"categories": ["billing", "legal"]}, M, "categories billing"),
        ({"categories": "!= legal, safety"}, M, "categories billing, customer_service != legal, safety"),
        ({"categories": "=~ ^cust"}, M, "categories customer_service =~ ^cust"),
        ({"query": "=~ @lumora"}, M, "query =~ @lumora"),
        ({"author": "dana"}, M, "author dana"),
        # Every condition must hold.
        (
            {"followers": ">= 10000", "text": "=~ (?i)refund", "language": "!= fr"},
            M,
            # Reasons follow the field order of RouteMatch, whatever order the YAML used.
            "language en != fr; followers 12000 >= 10000; text =~ (?i)refund",
        ),
        ({"followers": ">= 10000", "text": "=~ (?i)outage"}, M, None),
    ],
)
def test_operators(match: dict[str, Any], mention: Mention, reason: str | None) -> None:
    route = RouteConfig.model_validate({"name": "r", "team": "pr", "match": match})
    router = Router([route, RouteConfig(name="default", team="support", default=True)], TEAMS)
    (decision,) = router.decide(mention, C)
    if reason is None:
        assert decision.route == "default"
    else:
        assert (decision.route, decision.reason) == ("r", reason)
    assert router.errors == {}


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("text", "=~ (unclosed", "invalid regular expression '(unclosed'"),
        ("followers", ">= many", "'many' is not a number"),
        ("followers", "=~ 1+", "followers is compared with =, !=, >=, <=, > or <"),
        ("language", ">= en", "'>=' compares numbers; language is text"),
        ("urgency", ">= hgih", "'hgih' is not one of low, medium, high, critical"),
        ("sentiment", ["angry"], "'angry' is not one of negative, neutral, positive"),
        ("brand", "!=", "'!=' needs a value after it"),
        ("brand", [], "a list needs at least one non-empty value"),
        # Python's re accepts these; RE2 cannot run them in linear time, so they are refused.
        ("text", r"=~ (\w+) \1", "invalid regular expression '(\\w+) \\1': invalid escape sequence: \\1"),
        ("text", "=~ refund(?!ed)", "invalid perl operator: (?! (patterns use RE2 syntax"),
        ("author", "=~ (?<=@)bot", "no lookarounds"),
        ("text", "=~ " + "a" * 1001, "regular expression is 1001 characters; the limit is 1000"),
    ],
)
def test_bad_matchers(field: str, value: Any, error: str) -> None:
    with pytest.raises(MatcherError, match=re.escape(error)):
        parse_matcher(field, value)


# The pattern and input from the ReDoS report, made worse: Python's backtracking re needs about
# 2^40 steps for this, RE2 a few microseconds. The timeout only stops the old engine hanging the run.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("op", ["=~", "!~"])
def test_catastrophic_pattern_is_evaluated_in_linear_time(op: str) -> None:
    matcher = parse_matcher("text", f"{op} (a+)+$")
    assert type(matcher.pattern).__module__.startswith("re2")
    hostile = {"text": "a" * 40 + "!"}
    assert (matcher.evaluate(hostile) is None) is (op == "=~")


def test_matchers_see_at_most_max_match_chars_of_a_value() -> None:
    tail = parse_matcher("text", "=~ needle$")
    head = parse_matcher("text", "=~ ^needle")
    long_text = "needle " + "x" * MAX_MATCH_CHARS + " needle"
    assert tail.evaluate({"text": long_text}) is None  # the end lies past the cap
    assert head.evaluate({"text": long_text}) == "text =~ ^needle"
    # Values of list fields are capped one by one, not as a whole.
    assert parse_matcher("query", "=~ needle$").evaluate({"query": ("x" * 10, "a needle")}) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("brand=Lumora", ("brand", "= Lumora")),
        ("text=~(?i)refund|chargeback", ("text", "=~ (?i)refund|chargeback")),
        ("followers>=10000", ("followers", ">= 10000")),
        ("language != en", ("language", "!= en")),
    ],
)
def test_cli_matchers(text: str, expected: tuple[str, str]) -> None:
    assert parse_cli_matcher(text) == expected


def test_cli_matcher_without_operator_is_an_error() -> None:
    with pytest.raises(MatcherError, match="is not 'field<op>value'"):
        parse_cli_matcher("Lumora")


@pytest.mark.parametrize(
    ("match", "line"),
    [
        ({"text": "=~ (?i)refund("}, "routes[0].match.text: invalid regular expression '(?i)refund('"),
        ({"followers": ">= lots"}, "routes[0].match.followers: 'lots' is not a number"),
        ({"urgency": "hgih"}, "routes[0].match.urgency: 'hgih' is not one of low, medium, high, critical"),
        ({"colour": "red"}, "routes[0].match.colour: unknown key"),
        ({"text": "=~ (\\d+)-\\1"}, "routes[0].match.text: invalid regular expression '(\\d+)-\\1'"),
    ],
)
def test_config_check_reports_bad_matchers_with_their_key_path(
    tmp_path: Path, match: dict[str, Any], line: str
) -> None:
    config = {
        "brands": [{"name": "Lumora", "queries": ["lumora"]}],
        "teams": [{"name": "pr"}],
        "routes": [{"name": "r", "team": "pr", "match": match}, {"name": "d", "team": "pr", "default": True}],
    }
    path = tmp_path / "earshot.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert any(got.startswith(f"{path}: {line}") for got in info.value.lines), info.value.lines


def test_route_snapshot_keeps_the_compact_syntax() -> None:
    route = RouteConfig(name="r", team="pr", match=RouteMatch(followers=">= 10000", text="=~ (?i)refund"))
    (decision,) = Router([route], TEAMS).decide(M, C)
    assert decision.snapshot["match"]["followers"] == ">= 10000"
    assert decision.snapshot["match"]["text"] == "=~ (?i)refund"

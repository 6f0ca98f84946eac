"""Spikes that explain themselves: urgency by how far above the baseline, the terms that changed
(not the brand's everyday words), top categories, the loudest customer posts, and a drill-down
that lists exactly the mentions the spike counted."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from alerting import spikes
from alerting.config import RouteConfig, SpikeConfig, TeamConfig
from domain import Sentiment, Urgency
from storage.mentions import store_mentions
from storage.models import AlertRow
from tests.alerting.helpers import classified
from tests.factories import T0, mention

CONFIG = SpikeConfig()
FLAT = [10] * 12
TEAMS = {"pr": TeamConfig(name="pr", channels=["pr-chat"])}
ROUTES = [RouteConfig(name="default", team="pr", default=True)]


@pytest.mark.parametrize(
    ("volumes", "urgency"),
    [
        (spikes.Volumes(25, 1, FLAT, [1] * 12), Urgency.MEDIUM),  # 2.5x the usual
        (spikes.Volumes(45, 1, FLAT, [1] * 12), Urgency.HIGH),  # 4.5x
        (spikes.Volumes(110, 1, FLAT, [1] * 12), Urgency.CRITICAL),  # 11x
        (spikes.Volumes(93, 1, [8] * 12, [1] * 12), Urgency.CRITICAL),  # the "medium" spike
        (spikes.Volumes(12, 0, [0] * 12, [0] * 12), Urgency.MEDIUM),  # from nothing to a dozen
        (spikes.Volumes(40, 16, [40] * 12, [4] * 12), Urgency.MEDIUM),  # negative share up 30 points
        (spikes.Volumes(12, 9, FLAT, [1] * 12), Urgency.HIGH),  # up 64 points
        (spikes.Volumes(20, 19, FLAT, [1] * 12), Urgency.CRITICAL),  # up 84 points
    ],
)
def test_urgency_grows_with_how_far_above_the_baseline(volumes: spikes.Volumes, urgency: Urgency) -> None:
    findings = spikes.detect(volumes, CONFIG)
    assert findings
    assert spikes.severity(findings, CONFIG) is urgency


def test_urgency_never_drops_as_the_hour_gets_busier() -> None:
    levels = []
    for current in range(20, 400, 5):
        findings = spikes.detect(spikes.Volumes(current, 1, FLAT, [1] * 12), CONFIG)
        levels.append(spikes.severity(findings, CONFIG).rank)
    assert levels == sorted(levels)
    assert {Urgency(u).rank for u in ("medium", "high", "critical")} == set(levels)


EVERYDAY = {"support", "cloud", "hub", "dashboard"}


def test_changed_terms_leave_out_everyday_words() -> None:
    before = [EVERYDAY | {f"noise{i % 7}"} for i in range(300)]
    now = [EVERYDAY | {"outage", "login"} | ({"refund"} if i % 3 == 0 else set()) for i in range(40)]
    now += [EVERYDAY | {"rare"}, EVERYDAY | {"rare"}]  # two mentions are no evidence
    terms = [t["term"] for t in spikes.changed_terms(now, before)]
    assert terms[:2] == ["login", "outage"] or terms[:2] == ["outage", "login"]
    assert "refund" in terms
    assert not (EVERYDAY | {"rare"}) & set(terms)
    top = spikes.changed_terms(now, before)[0]
    assert top["count"] == 40 and top["baseline_share"] == 0.0


def test_changed_terms_without_a_baseline_are_the_most_used() -> None:
    now = [{"outage", "down"}, {"outage"}, {"outage", "down"}, {"once"}]
    assert [t["term"] for t in spikes.changed_terms(now, [])] == ["outage", "down"]


def _seed(
    sessions: sessionmaker[Session], *, hours: range, per_hour: int, text: str, prefix: str, **kw: object
) -> None:
    items = []
    for hours_ago in hours:
        for i in range(per_hour):
            at = T0 - timedelta(hours=hours_ago + 1) + timedelta(seconds=(i + 0.5) * 3600 / per_hour)
            m = mention(f"{prefix}-{hours_ago}-{i}", f"{text} {i}", at=at, likes=i, **kw)  # type: ignore[arg-type]
            cats = ("outage",) if "outage" in text else ("praise",)
            feeling = Sentiment.NEGATIVE if "outage" in text else Sentiment.POSITIVE
            items.append((m, classified(*cats, urgency=Urgency.LOW, sentiment=feeling)))
    with sessions.begin() as session:
        store_mentions(session, [m for m, _ in items], [c for _, c in items], now=T0)


def test_spike_alert_explains_itself(sessions: sessionmaker[Session]) -> None:
    everyday = "lumora support cloud hub dashboard is great"
    _seed(sessions, hours=range(1, 48), per_hour=6, text=everyday, prefix="usual")
    spike_text = (
        "the lumora support cloud hub outage and login broken for us @LumoraSupport #lumoracloud vantix"
    )
    _seed(
        sessions, hours=range(0, 1), per_hour=60, text=spike_text, prefix="now", brands=("Lumora", "Vantix")
    )
    owned = replace(
        mention(
            "own-post", "lumora status: we are looking into it", at=T0 - timedelta(minutes=5), likes=10_000
        ),
        owned=True,
    )
    with sessions.begin() as session:
        store_mentions(session, [owned], [classified("outage")], now=T0)
    with sessions.begin() as session:
        alert_id = spikes.check_brand(
            session, brand="Lumora", config=CONFIG, teams=TEAMS, routes=ROUTES, now=T0
        )
    assert alert_id is not None
    with sessions() as session:
        alert = session.get_one(AlertRow, alert_id)
        details, summary, urgency = alert.details, alert.summary, alert.urgency
    # 61 against about 6 expected: ten times the usual volume.
    assert urgency == "critical" and details["findings"][0]["ratio"] >= spikes.CRITICAL_RATIO
    terms = {t["term"] for t in details["top_terms"]}
    assert {"outage", "login", "broken"} <= terms
    assert not terms & {"lumora", "support", "cloud", "hub", "dashboard", "vantix", "the", "and", "for"}
    assert not any("lumora" in t for t in terms)  # handles and tags of the brand too
    assert details["top_categories"][0] == {"category": "outage", "count": 61}
    assert "own-post" not in {m["url"].rsplit("/", 1)[-1] for m in details["top_mentions"]}
    assert details["top_mentions"][0]["engagement"] == 59
    assert "Terms up from the usual: " in summary and "outage (" in summary
    assert "Top categories: outage (61 of 61)" in summary
    # The drill-down lists exactly the mentions the spike counted.
    path = details["drilldown"]
    assert urlsplit(path).path == "/mentions"
    from web.search import from_form, search

    params = dict(parse_qsl(urlsplit(path).query))
    assert params["brand"] == "Lumora"
    with sessions() as session:
        rows, total = search(session, from_form(params), limit=100, offset=0)
        current = spikes.volumes(session, brand="Lumora", now=T0, config=CONFIG).current
    assert total == current == 61
    assert {r.external_id for r in rows} == {f"now-0-{i}" for i in range(60)} | {"own-post"}

"""Spike detection per brand: mention volume and negative share in the last hour against a baseline.

The baseline is the previous ``baseline_hours`` hours and, when the data goes back far enough,
the same hour on each of the previous ``seasonal_days`` days. The expected volume is the higher
of the two, so a daily rush hour is not a spike; the spread is the larger of the Poisson noise
and the series' own standard deviation. ``sensitivity`` is how many of those standard deviations
above expected counts. A spike raises one alert, not re-raised while it lasts, resolved when over.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from alerting import monitors
from alerting.config import RouteConfig, SpikeConfig, TeamConfig
from alerting.text import handle
from domain import AlertKind, Urgency
from storage.models import ClassificationRow, MentionBrandRow, MentionRow

HOUR = timedelta(hours=1)
_URL = re.compile(r"https?://\S+")
_TOKEN = re.compile(r"[#@]?[^\W\d_][\w'-]{2,}")
# Common English words that say nothing about why a brand is spiking.
_STOPWORD_TEXT = (
    "the and for that this with you your are was were have has had not but all any can our out "
    "get got just from they them their there what when where who why how its it's i'm im about "
    "been being will would could should into than then too very more most some such only also "
    "again still now here over under after before because while did does doing don't didn't "
    "can't cannot won't isn't aren't wasn't one two new via amp rt"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class Volumes:
    """Counts behind one check: the last hour, the recent hours before it, same hour other days."""

    current: int
    negative: int
    recent: Sequence[int]
    recent_negative: Sequence[int]
    seasonal: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One metric that spiked, and by how much."""

    metric: str  # volume or negative_share
    observed: float
    expected: float
    score: float

    def describe(self) -> str:
        """A short human reading of the finding."""
        if self.metric == "volume":
            return f"{self.observed:.0f} mentions in the last hour, expected about {self.expected:.1f}"
        return f"{self.observed:.0%} negative in the last hour, usually {self.expected:.0%}"


def detect(volumes: Volumes, config: SpikeConfig) -> list[Finding]:
    """The metrics that spiked (empty when all is normal)."""
    findings = []
    recent_mean = statistics.fmean(volumes.recent) if volumes.recent else 0.0
    series = list(volumes.recent)
    expected = recent_mean
    if volumes.seasonal and statistics.fmean(volumes.seasonal) > recent_mean:
        expected, series = statistics.fmean(volumes.seasonal), list(volumes.seasonal)
    spread = max(math.sqrt(max(expected, 1.0)), statistics.pstdev(series) if len(series) > 1 else 0.0)
    score = (volumes.current - expected) / spread
    if (
        volumes.current >= config.min_mentions
        and score >= config.sensitivity
        and volumes.current >= config.min_ratio * expected
    ):
        findings.append(Finding("volume", volumes.current, expected, score))
    if volumes.current and volumes.negative >= config.min_negative:
        # Smoothed so a quiet baseline (or none) does not read as 0% negative.
        usual = (sum(volumes.recent_negative) + 1) / (sum(volumes.recent) + 3)
        share = volumes.negative / volumes.current
        spread = math.sqrt(usual * (1 - usual) / volumes.current)
        lift = (share - usual) / spread if spread else 0.0
        if share - usual >= config.negative_share_delta and lift >= config.sensitivity:
            findings.append(Finding("negative_share", share, usual, lift))
    return findings


def _in(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(MentionRow.published_at >= start, MentionRow.published_at < end)


def _brand_rows(brand: str) -> ColumnElement[bool]:
    return MentionRow.id.in_(select(MentionBrandRow.mention_id).where(MentionBrandRow.brand == brand))


def volumes(session: Session, *, brand: str, now: datetime, config: SpikeConfig) -> Volumes:
    """Count the brand's mentions (and negative ones) per window, in one query."""
    recent = [(now - (k + 1) * HOUR, now - k * HOUR) for k in range(1, config.baseline_hours + 1)]
    # The oldest mention, by an ordered scan that stops at the first hit (cheaper than min()).
    first = session.scalar(
        select(MentionRow.published_at).where(_brand_rows(brand)).order_by(MentionRow.published_at).limit(1)
    )
    # Same hour on a previous day counts only if the brand's data goes back that far.
    seasonal = [
        (now - HOUR - timedelta(days=d), now - timedelta(days=d))
        for d in range(1, config.seasonal_days + 1)
        if first is not None and first < now - timedelta(days=d)
    ]
    windows = [(now - HOUR, now), *recent, *seasonal]
    negative = ClassificationRow.sentiment == "negative"
    columns = []
    for start, end in windows:
        columns.append(func.sum(case((_in(start, end), 1), else_=0)))
        columns.append(func.sum(case((and_(_in(start, end), negative), 1), else_=0)))
    stmt = (
        select(*columns)
        .select_from(MentionRow)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(_brand_rows(brand), or_(*(_in(s, e) for s, e in windows)))
    )
    values = [int(v or 0) for v in session.execute(stmt).one()]
    totals, negatives = values[0::2], values[1::2]
    split = 1 + len(recent)
    return Volumes(totals[0], negatives[0], totals[1:split], negatives[1:split], totals[split:])


def _terms(text: str, skip: set[str]) -> list[str]:
    words = _TOKEN.findall(_URL.sub(" ", text.lower()))
    return [w for w in words if w not in _STOPWORDS and w.lstrip("#@") not in skip]


def evidence(
    session: Session, *, brand: str, now: datetime, config: SpikeConfig, top: int = 5
) -> dict[str, Any]:
    """What is behind a spike: terms more frequent than usual, categories, most engaged mentions."""
    current = session.scalars(
        select(MentionRow).where(_brand_rows(brand), _in(now - HOUR, now)).limit(5000)
    ).unique()
    rows = list(current)
    before = session.execute(
        select(MentionRow.title, MentionRow.text)
        .where(_brand_rows(brand), _in(now - HOUR * (config.baseline_hours + 1), now - HOUR))
        .limit(5000)
    ).all()
    skip = {brand.lower()}
    now_terms = Counter(t for m in rows for t in set(_terms(f"{m.title or ''} {m.text}", skip)))
    usual = Counter(t for title, text in before for t in set(_terms(f"{title or ''} {text}", skip)))
    hours = max(1, config.baseline_hours)

    def lift(term: str) -> float:
        count = now_terms[term]
        return count * math.log((count + 1) / (usual[term] / hours + 1))

    terms = sorted((t for t, n in now_terms.items() if n >= 2), key=lambda t: (-lift(t), t))[:top]
    categories = Counter(c for m in rows if m.classification for c in m.classification.categories)
    engaged = sorted(rows, key=lambda m: (-(m.likes + m.shares + m.replies), m.id))[:top]
    return {
        "top_terms": [{"term": t, "count": now_terms[t]} for t in terms],
        "top_categories": [{"category": c, "count": n} for c, n in categories.most_common(top)],
        "top_mentions": [
            {
                "id": m.id,
                "url": m.url,
                "author": m.author.handle if m.author else None,
                "engagement": m.likes + m.shares + m.replies,
                "text": (m.text[:277] + "…") if len(m.text) > 280 else m.text,
            }
            for m in engaged
        ],
    }


def check_brand(
    session: Session,
    *,
    brand: str,
    config: SpikeConfig,
    teams: Mapping[str, TeamConfig],
    routes: Sequence[RouteConfig],
    now: datetime,
) -> int | None:
    """Check one brand; return the id of a newly raised spike alert, if any."""
    state = monitors.monitor(session, f"spike:{brand}", kind=str(AlertKind.SPIKE), now=now)
    # Hysteresis: a spike in progress lasts until it falls below half the threshold, so a volume
    # hovering at the edge does not resolve and re-raise on every run.
    threshold = (
        config.model_copy(update={"sensitivity": config.sensitivity / 2, "min_ratio": 1.0})
        if state.active
        else config
    )
    findings = detect(volumes(session, brand=brand, now=now, config=config), threshold)
    if not findings:
        monitors.end_incident(session, state, now=now, note="spike over: volumes back within the baseline")
        return None
    state.state = {"findings": [f.metric for f in findings], "score": max(f.score for f in findings)}
    if state.active:
        return None  # the same spike, still going: it was raised once already
    team = monitors.team_for(config.team, teams, routes)
    if team is None:
        return None
    facts = evidence(session, brand=brand, now=now, config=config)
    negative = any(f.metric == "negative_share" for f in findings)
    what = "negative spike" if negative else "mention spike"
    terms = ", ".join(t["term"] for t in facts["top_terms"]) or "none stand out"
    lines = [f.describe() for f in findings] + [f"Top terms: {terms}"]
    lines += [
        f"{handle(m['author'])} ({m['engagement']} engagements): {m['text']}"
        for m in facts["top_mentions"][:3]
    ]
    alert = monitors.raise_system_alert(
        session,
        kind=AlertKind.SPIKE,
        route="spikes",
        team=team,
        teams=teams,
        title=f"{what.capitalize()} for {brand}: {findings[0].describe()}",
        summary="\n".join(lines),
        urgency=Urgency.HIGH if negative else Urgency.MEDIUM,
        reason="; ".join(f"{f.metric} {f.score:.1f} sd >= {config.sensitivity}" for f in findings),
        group_key=f"spike|{brand}|{now.isoformat()}",
        snapshot={"name": "spikes", "team": team.name, "spikes": config.model_dump(mode="json")},
        labels={"brand": (brand,), "urgency": Urgency.HIGH if negative else Urgency.MEDIUM},
        now=now,
        brand=brand,
        details={
            "findings": [
                {"metric": f.metric, "observed": f.observed, "expected": f.expected, "score": f.score}
                for f in findings
            ],
            **facts,
        },
    )
    monitors.start_incident(session, state, alert, now)
    return alert.id

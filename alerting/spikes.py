"""Spike detection per brand: mention volume and negative share in the last hour against a baseline.

The baseline is the previous ``baseline_hours`` hours and, when the data goes back far enough,
the same hour on each of the previous ``seasonal_days`` days. The expected volume is the higher
of the two, so a daily rush hour is not a spike; the spread is the larger of the Poisson noise
and the series' own standard deviation. ``sensitivity`` is how many of those standard deviations
above expected counts. A spike raises one alert, not re-raised while it lasts, resolved when over.

The alert explains itself: its urgency grows with how many times the usual volume the hour
carries, and its details list the terms that rose against the brand's recent days (by a log-odds
ratio, so the brand's everyday words drop out), the top categories, the most engaged mentions
and the drill-down path to every mention counted (``/mentions?brand=..&since=..&until=..``).
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
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from alerting import monitors
from alerting.config import RouteConfig, SpikeConfig, TeamConfig
from alerting.text import handle
from domain import AlertKind, Urgency
from storage import spike_queries

HOUR = timedelta(hours=1)
# Urgency by how many times the expected volume the last hour carries.
HIGH_RATIO = 4.0
CRITICAL_RATIO = 10.0
# Urgency by how far the negative share rose above its usual level (in share points).
NEGATIVE_HIGH_RISE = 0.5
NEGATIVE_CRITICAL_RISE = 0.7
# The window the spiking hour's terms are compared with: the brand's recent days, so its everyday
# words ("support", "cloud") count as usual; at most this many of its latest mentions are read.
TERM_BASELINE = timedelta(days=7)
EVIDENCE_ROWS = 5000
# A term is listed only when its log-odds z-score clears this (about a 97.5% one-sided test).
TERM_MIN_Z = 1.96
# The informative Dirichlet prior's weight in the log-odds ratio (Monroe, Colaresi & Quinn 2008).
TERM_PRIOR = 10.0
_URL = re.compile(r"https?://\S+")
_TOKEN = re.compile(r"[#@]?[^\W\d_][\w'-]{2,}")
# Common English words (and social-media filler) that say nothing about why a brand is spiking.
_STOPWORD_TEXT = (
    "the and for that this with you your yours are was were have has had not but all any can our ours out "
    "get got just from they them their theirs there what when where who whom why how its it's i'm im "
    "i've i'd i'll you're you've we're we've they're he's she's that's there's what's let's "
    "about been being will would could should shall might must may into than then too very more most "
    "some such only also again still now here over under after before because while did does doing "
    "done don't didn't doesn't can't cannot won't isn't aren't wasn't weren't haven't hasn't hadn't "
    "wouldn't couldn't shouldn't one two new via amp rt his her hers him she he we us me my mine "
    "myself yourself ourselves themselves itself himself herself these those each every other another "
    "both few many much own same off down onto upon per yet nor either neither whether which whose "
    "who's something anything nothing everything someone anyone everyone nobody thing things "
    "lot lots really actually literally even ever never always just like likes liked know knew "
    "think thought want wants need needs make makes made say says said going gonna wanna gotta "
    "today yesterday tomorrow day days time times week year way well back see seen look looks "
    "thanks thank please hey yes yeah lol omg pls via http https www com"
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
            return (
                f"{self.observed:.0f} mentions in the last hour, "
                f"{self.observed / max(self.expected, 1.0):.1f}x the expected {self.expected:.1f}"
            )
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


def volume_ratio(finding: Finding, config: SpikeConfig) -> float:
    """How many times the expected volume the hour carries.

    At least half of ``min_mentions`` counts as expected, so a brand that goes from nothing to
    12 mentions is a modest spike, not a 12-fold one.
    """
    return finding.observed / max(finding.expected, config.min_mentions / 2, 1.0)


def severity(findings: Sequence[Finding], config: SpikeConfig) -> Urgency:
    """The alert's urgency: higher the further the hour is above its baseline."""
    level = Urgency.MEDIUM
    for f in findings:
        if f.metric == "volume":
            ratio = volume_ratio(f, config)
            found = (
                Urgency.CRITICAL
                if ratio >= CRITICAL_RATIO
                else Urgency.HIGH
                if ratio >= HIGH_RATIO
                else Urgency.MEDIUM
            )
        else:
            rise = f.observed - f.expected
            found = (
                Urgency.CRITICAL
                if rise >= NEGATIVE_CRITICAL_RISE
                else Urgency.HIGH
                if rise >= NEGATIVE_HIGH_RISE
                else Urgency.MEDIUM
            )
        level = found if found.rank > level.rank else level
    return level


def volumes(session: Session, *, brand: str, now: datetime, config: SpikeConfig) -> Volumes:
    """Count the brand's mentions (and negative ones) per window, in one query."""
    recent = [(now - (k + 1) * HOUR, now - k * HOUR) for k in range(1, config.baseline_hours + 1)]
    first = spike_queries.first_published(session, brand=brand)
    # Same hour on a previous day counts only if the brand's data goes back that far.
    seasonal = [
        (now - HOUR - timedelta(days=d), now - timedelta(days=d))
        for d in range(1, config.seasonal_days + 1)
        if first is not None and first < now - timedelta(days=d)
    ]
    windows = [(now - HOUR, now), *recent, *seasonal]
    counts = spike_queries.window_counts(session, brand=brand, windows=windows)
    totals, negatives = [total for total, _ in counts], [negative for _, negative in counts]
    split = 1 + len(recent)
    return Volumes(totals[0], negatives[0], totals[1:split], negatives[1:split], totals[split:])


def _terms(text: str, brands: Sequence[str]) -> set[str]:
    words = _TOKEN.findall(_URL.sub(" ", text.lower()))
    # A brand's name, handle or tag (lumora, @lumorasupport, #lumoracloud) is no explanation.
    return {w for w in words if w not in _STOPWORDS and not any(b in w.lstrip("#@") for b in brands)}


def _brand_words(names: Sequence[str]) -> list[str]:
    return sorted({n.lower().replace(" ", "") for n in names if n.strip()})


def changed_terms(
    now: Sequence[set[str]], before: Sequence[set[str]], *, top: int = 5, min_count: int = 2
) -> list[dict[str, Any]]:
    """Terms whose share of mentions rose most against the baseline, by a log-odds z-score.

    ``now`` and ``before`` hold each mention's distinct terms. Per term, the share of mentions
    using it in each window is compared as a log-odds ratio with an informative Dirichlet prior
    (the pooled share), divided by its standard error: a word as common before as now scores
    about 0, a word that appears out of nowhere in many mentions scores high, and one seen in two
    mentions scores low. Without a baseline, the most used terms are listed instead.
    """
    n_now, n_before = len(now), len(before)
    in_now = Counter(t for terms in now for t in terms)
    in_before = Counter(t for terms in before for t in terms)
    candidates = [t for t, n in in_now.items() if n >= min_count]
    scored: list[tuple[float, str]] = []
    for term in candidates:
        y1, y0 = in_now[term], in_before[term]
        if not n_before:
            scored.append((float(y1), term))
            continue
        # Smoothed so a term in every mention (or none) keeps both prior counts above zero.
        pooled = (y1 + y0 + 0.5) / (n_now + n_before + 1)
        a, b = TERM_PRIOR * pooled, TERM_PRIOR * (1 - pooled)
        delta = math.log((y1 + a) / (n_now - y1 + b)) - math.log((y0 + a) / (n_before - y0 + b))
        variance = 1 / (y1 + a) + 1 / (n_now - y1 + b) + 1 / (y0 + a) + 1 / (n_before - y0 + b)
        z = delta / math.sqrt(variance)
        if z >= TERM_MIN_Z:
            scored.append((z, term))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        {
            "term": term,
            "count": in_now[term],
            "share": round(in_now[term] / n_now, 4) if n_now else 0.0,
            "baseline_share": round(in_before[term] / n_before, 4) if n_before else None,
            "score": round(score, 2),
        }
        for score, term in scored[:top]
    ]


def drilldown_path(brand: str, since: datetime, until: datetime) -> str:
    """The mention list filtered to exactly what the spike counted (the web UI's /mentions)."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return "/mentions?" + urlencode(
        {"brand": brand, "since": since.strftime(fmt), "until": until.strftime(fmt)}
    )


def evidence(
    session: Session, *, brand: str, now: datetime, config: SpikeConfig, top: int = 5
) -> dict[str, Any]:
    """What is behind a spike: terms that rose against the baseline, categories, most engaged mentions."""
    rows = spike_queries.mentions_in(session, brand=brand, since=now - HOUR, until=now, limit=EVIDENCE_ROWS)
    since = now - HOUR - max(TERM_BASELINE, HOUR * config.baseline_hours)
    before = spike_queries.texts_in(session, brand=brand, since=since, until=now - HOUR, limit=EVIDENCE_ROWS)
    # Every brand seen alongside (competitors too) is left out of the terms, not just this one.
    names = _brand_words([brand, *(b.brand for m in rows for b in m.brands)])
    terms = changed_terms(
        [_terms(f"{m.title or ''} {m.text}", names) for m in rows],
        [_terms(f"{title or ''} {text}", names) for title, text in before],
        top=top,
    )
    categories = Counter(c for m in rows if m.classification for c in m.classification.categories)
    # The brand's own posts explain nothing about why people are talking: customers' posts only.
    voices = [m for m in rows if not m.owned]
    engaged = sorted(voices, key=lambda m: (-(m.likes + m.shares + m.replies), m.id))[:top]
    return {
        "mentions": len(rows),
        "top_terms": terms,
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
        "drilldown": drilldown_path(brand, now - HOUR, now),
    }


def explain(findings: Sequence[Finding], facts: Mapping[str, Any]) -> list[str]:
    """The alert's summary lines: what spiked, what changed, about what, and the loudest posts."""
    lines = [f.describe() for f in findings]
    rising = [
        f"{t['term']} ({t['share']:.0%} of mentions"
        + (f", usually {t['baseline_share']:.0%})" if t["baseline_share"] is not None else ")")
        for t in facts["top_terms"]
    ]
    lines.append("Terms up from the usual: " + ("; ".join(rising) or "none stand out"))
    total = max(int(facts.get("mentions") or 0), 1)
    cats = [f"{c['category']} ({c['count']} of {total})" for c in facts["top_categories"][:3]]
    if cats:
        lines.append("Top categories: " + ", ".join(cats))
    lines += [
        f"{handle(m['author'])} ({m['engagement']} engagements): {m['text']}"
        for m in facts["top_mentions"][:3]
    ]
    return lines


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
    urgency = severity(findings, config)
    alert = monitors.raise_system_alert(
        session,
        kind=AlertKind.SPIKE,
        route="spikes",
        team=team,
        teams=teams,
        title=f"{what.capitalize()} for {brand}: {findings[0].describe()}",
        summary="\n".join(explain(findings, facts)),
        urgency=urgency,
        reason="; ".join(f"{f.metric} {f.score:.1f} sd >= {config.sensitivity}" for f in findings),
        group_key=f"spike|{brand}|{now.isoformat()}",
        snapshot={"name": "spikes", "team": team.name, "spikes": config.model_dump(mode="json")},
        labels={"brand": (brand,), "urgency": urgency},
        now=now,
        brand=brand,
        details={
            "findings": [
                {
                    "metric": f.metric,
                    "observed": f.observed,
                    "expected": f.expected,
                    "score": f.score,
                    **({"ratio": round(volume_ratio(f, config), 2)} if f.metric == "volume" else {}),
                }
                for f in findings
            ],
            **facts,
        },
    )
    monitors.start_incident(session, state, alert, now)
    return alert.id

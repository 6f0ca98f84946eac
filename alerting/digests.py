"""Scheduled digests: a daily or weekly summary per team, sent as an alert of kind DIGEST.

The digest covers the period ending at the latest scheduled time (the team's ``at`` in its time
zone): volume per brand against the period before, negative share trend, the most engaged
mentions and the team's open alerts. Each period is sent once; a missed run sends the latest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerting import monitors
from alerting.config import DigestConfig, TeamConfig
from alerting.text import handle
from alerting.windows import Weekday
from domain import AlertKind, Urgency
from storage import alerts as alert_repo
from storage import digest_queries

_WEEKDAYS = list(Weekday)


def latest_due(digest: DigestConfig, timezone: str, now: datetime) -> datetime:
    """The most recent scheduled time at or before ``now``, in UTC."""
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    hour, minute = (int(p) for p in digest.at.split(":"))
    day = local_now.date()
    for back in range(0, 8):
        candidate_day = day - timedelta(days=back)
        if digest.schedule == "weekly" and _WEEKDAYS[candidate_day.weekday()] != digest.weekday:
            continue
        candidate = datetime.combine(candidate_day, time(hour, minute), zone)
        if candidate <= local_now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("a daily or weekly schedule always has a time in the last 8 days")


def _period(digest: DigestConfig) -> timedelta:
    return timedelta(days=7 if digest.schedule == "weekly" else 1)


def summarise(
    session: Session, *, team: str, brands: Sequence[str], since: datetime, until: datetime, top: int
) -> dict[str, Any]:
    """The numbers behind one digest."""
    length = until - since
    now_counts = digest_queries.brand_counts(session, brands=brands, since=since, until=until)
    before_counts = digest_queries.brand_counts(session, brands=brands, since=since - length, until=since)
    engaged = digest_queries.most_engaged(session, brands=brands, since=since, until=until, limit=top)
    open_alerts = alert_repo.open_team_alerts(session, team=team)
    return {
        "brands": [
            {
                "brand": b,
                "mentions": now_counts.get(b, (0, 0))[0],
                "previous": before_counts.get(b, (0, 0))[0],
                "negative": now_counts.get(b, (0, 0))[1],
                "previous_negative": before_counts.get(b, (0, 0))[1],
            }
            for b in brands
        ],
        "top_mentions": [
            {
                "id": m.id,
                "url": m.url,
                "author": m.author.handle if m.author else None,
                "engagement": m.likes + m.shares + m.replies,
                "sentiment": m.classification.sentiment if m.classification else None,
                "text": (m.text[:197] + "…") if len(m.text) > 200 else m.text,
            }
            for m in engaged
        ],
        "open_alerts": {
            "total": len(open_alerts),
            "by_urgency": {u.value: sum(1 for a in open_alerts if a.urgency == u.value) for u in Urgency},
            "oldest": [{"id": a.id, "title": a.title, "status": a.status} for a in open_alerts[:top]],
        },
    }


def _trend(now: int, before: int) -> str:
    if before == 0:
        return "new" if now else "flat"
    change = (now - before) / before
    return f"{change:+.0%}"


def render(facts: Mapping[str, Any], schedule: str) -> str:
    """The digest as plain lines; channels escape them for their own format."""
    period = "week" if schedule == "weekly" else "day"
    lines = []
    for b in facts["brands"]:
        share = b["negative"] / b["mentions"] if b["mentions"] else 0.0
        before = b["previous_negative"] / b["previous"] if b["previous"] else 0.0
        lines.append(
            f"{b['brand']}: {b['mentions']} mentions ({_trend(b['mentions'], b['previous'])} on the "
            f"previous {period}), {share:.0%} negative (was {before:.0%})"
        )
    alerts = facts["open_alerts"]
    by = ", ".join(f"{n} {u}" for u, n in alerts["by_urgency"].items() if n)
    lines.append(f"Open alerts: {alerts['total']}" + (f" ({by})" if by else ""))
    lines += [f"  #{a['id']} [{a['status']}] {a['title']}" for a in alerts["oldest"]]
    if facts["top_mentions"]:
        lines.append("Most engaged:")
        lines += [f"  {handle(m['author'])} ({m['engagement']}): {m['text']}" for m in facts["top_mentions"]]
    return "\n".join(lines)


def send_due(
    session: Session,
    *,
    teams: Mapping[str, TeamConfig],
    brands: Sequence[str],
    now: datetime,
) -> list[int]:
    """Send every team's digest whose scheduled time has come and that was not sent yet."""
    sent = []
    for team in teams.values():
        digest = team.digest
        if digest is None:
            continue
        due = latest_due(digest, team.timezone, now)
        state = monitors.monitor(session, f"digest:{team.name}", kind=str(AlertKind.DIGEST), now=now)
        if state.state.get("last") == due.isoformat():
            continue
        chosen = digest.brands or list(brands)
        facts = summarise(
            session, team=team.name, brands=chosen, since=due - _period(digest), until=due, top=digest.top
        )
        local = due.astimezone(ZoneInfo(team.timezone))
        label = f"{'Weekly' if digest.schedule == 'weekly' else 'Daily'} digest for {team.name}"
        alert = monitors.raise_system_alert(
            session,
            kind=AlertKind.DIGEST,
            route="digest",
            team=team,
            teams=teams,
            title=f"{label}, {local:%a %d %b %Y %H:%M} {team.timezone}",
            summary=render(facts, digest.schedule),
            urgency=Urgency.LOW,
            reason=f"{digest.schedule} at {digest.at} {team.timezone}",
            group_key=f"digest|{team.name}|{due.isoformat()}",
            snapshot={"name": "digest", "team": team.name, "digest": digest.model_dump(mode="json")},
            labels={},
            now=now,
            details={
                "period": {"since": (due - _period(digest)).isoformat(), "until": due.isoformat()},
                **facts,
            },
            channels=digest.channels,
            informational=True,
        )
        state.state = {"last": due.isoformat(), "alert_id": alert.id}
        sent.append(alert.id)
    return sent

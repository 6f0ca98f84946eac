"""Raising alerts: route, fold near-duplicates, then silence, time windows, grouping and escalation.

Keyword-only functions that take a session and never commit; the pipeline (or a periodic job)
owns the transaction, so an alert and its outbox rows are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerting import escalation, silences
from alerting import grouping as groups
from alerting.config import AlertingConfig, GroupingConfig, TeamConfig
from alerting.matchers import mention_labels
from alerting.routing import RouteDecision, Router
from alerting.text import alert_text
from alerting.windows import Schedule, decide
from domain import AlertKind, Classification, Mention
from storage import alerts as alert_repo
from storage.alerting_tables import SilenceRow
from storage.models import AlertRow


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """What a classified mention will raise: its labels, and per route decision the silence that holds."""

    labels: dict[str, Any]
    decisions: list[tuple[RouteDecision, SilenceRow | None]]


def plan_alerts(
    session: Session,
    *,
    router: Router,
    config: AlertingConfig,
    mention: Mention,
    classification: Classification,
    now: datetime,
    active_silences: Sequence[SilenceRow] | None = None,
) -> AlertPlan | None:
    """Route a classified mention and match silences, reading only: None when it raises no alert.

    The pipeline calls this before it opens the write transaction, so evaluating routes and silence
    patterns never holds the database's write lock. ``active_silences`` (the silences in force,
    read once per batch) saves a query per mention; by default they are read here.
    """
    if not classification.urgency.at_least(config.min_urgency):
        return None
    if "spam" in classification.categories or mention.owned:
        return None  # our own accounts' posts never page anyone
    if config.max_age is not None and (mention.collected_at - mention.published_at).total_seconds() > (
        config.max_age
    ):
        return None  # history (a backfill, a first run, an import) is stored, not alerted on
    labels = mention_labels(mention, classification)
    decisions: list[tuple[RouteDecision, SilenceRow | None]] = []
    for decision in router.decide_labels(labels):
        if mention.competitor_only and not router.asks_for_competitors(decision.route):
            continue
        silence_labels = {"kind": str(AlertKind.MENTION), "team": decision.team, "route": decision.route}
        silence = silences.matching_silence(
            session, {**silence_labels, **labels}, now=now, active=active_silences
        )
        decisions.append((decision, silence))
    return AlertPlan(labels, decisions)


def raise_alerts(
    session: Session,
    *,
    router: Router,
    config: AlertingConfig,
    mention_id: int,
    mention: Mention,
    classification: Classification,
    cluster_id: int,
    now: datetime,
    plan: AlertPlan | Literal["compute"] | None = "compute",
    known_open: dict[str, AlertRow] | None = None,
) -> tuple[int, int]:
    """Raise alerts for a stored mention that needs a response; return (created, folded).

    ``plan`` comes from ``plan_alerts`` made before the transaction; by default it is made here.
    ``known_open`` (``storage.alerts.open_alerts`` for a batch) replaces the query per mention for the story's
    open alert; alerts raised here are added to it, so later mentions of the batch fold into them.
    """
    if plan == "compute":
        plan = plan_alerts(
            session, router=router, config=config, mention=mention, classification=classification, now=now
        )
    if plan is None:
        return 0, 0
    created = folded = 0
    brand = mention.brands[0] if mention.brands else None
    labels = plan.labels
    for decision, silence in plan.decisions:
        group_key = _group_key(decision, brand, cluster_id)
        open_alert = known_open.get(group_key) if known_open is not None else _open_alert(session, group_key)
        if open_alert is None:
            title, summary = alert_text(mention, classification)
            route = router.route_by_name.get(decision.route)
            try:
                # A savepoint: another worker may commit this story's alert first, and the unique
                # index on open alerts (storage.scale_tables) then refuses ours; fold into theirs.
                with session.begin_nested():
                    row = dispatch(
                        session,
                        alert_repo.NewAlert(
                            kind=AlertKind.MENTION,
                            title=title,
                            summary=summary,
                            urgency=classification.urgency,
                            team=decision.team,
                            route_name=decision.route,
                            route_snapshot=decision.snapshot,
                            reason=decision.reason,
                            group_key=group_key,
                            channels=decision.channels,
                            mention_id=mention_id,
                            brand=brand,
                            details={"signals": dict(classification.signals), "cluster_id": cluster_id},
                        ),
                        labels={
                            **labels,
                            "team": decision.team,
                            "route": decision.route,
                            "story": cluster_id,
                        },
                        teams=router.team_by_name,
                        grouping=route.grouping(config.grouping) if route is not None else None,
                        now=now,
                        silence=silence,
                    )
                created += 1
                if known_open is not None:
                    known_open[group_key] = row
                continue
            except IntegrityError:
                open_alert = _open_alert(session, group_key)
                if open_alert is None:
                    raise
                if known_open is not None:
                    known_open[group_key] = open_alert
        # The same story again (a retweet, a syndicated copy): count it, do not page again.
        open_alert.count += 1
        open_alert.updated_at = now
        alert_repo.add_event(session, open_alert.id, "folded", now=now, note=f"mention #{mention_id}")
        folded += 1
    return created, folded


def group_keys(plan: AlertPlan | None, mention: Mention, cluster_id: int) -> list[str]:
    """The group keys a planned mention's alerts fold on: one per route decision."""
    if plan is None:
        return []
    brand = mention.brands[0] if mention.brands else None
    return [_group_key(decision, brand, cluster_id) for decision, _ in plan.decisions]


def _group_key(decision: RouteDecision, brand: str | None, cluster_id: int) -> str:
    return f"{decision.route}|{brand}|story-{cluster_id}"


def _open_alert(session: Session, group_key: str) -> AlertRow | None:
    # A seam of its own: a test stands in for it to replay a race between two workers.
    return alert_repo.open_alert(session, group_key=group_key)


def dispatch(
    session: Session,
    new: alert_repo.NewAlert,
    *,
    labels: Mapping[str, Any],
    teams: Mapping[str, TeamConfig],
    now: datetime,
    grouping: GroupingConfig | None = None,
    use_windows: bool = True,
    use_silences: bool = True,
    use_escalation: bool = True,
    silence: SilenceRow | Literal["match"] | None = "match",
) -> AlertRow:
    """Store a new alert and plan its notifications: silence, off hours, grouping, escalation.

    ``silence`` is the silence already matched outside the transaction (or None); by default the
    active silences are matched here.
    """
    labels = {"kind": str(new.kind), "team": new.team, "route": new.route_name, **labels}
    if not use_silences:
        silence = None
    elif silence == "match":
        silence = silences.matching_silence(session, labels, now=now)
    if silence is not None:
        details = {**(new.details or {}), "silenced_by": silence.id}
        row = alert_repo.create_alert(session, replace(new, channels=(), details=details), now=now)
        note = f"silence #{silence.id} by {silence.created_by}: {silence.comment}"
        alert_repo.add_event(session, row.id, "silenced", now=now, note=note)
        return row
    team = teams.get(new.team)
    channels, not_before, notes = new.channels, now, []
    if use_windows and team is not None:
        schedule = Schedule(team.timezone, team.quiet_hours, team.business_hours)
        window = decide(schedule, team.off_hours, new.urgency, now)
        not_before = window.not_before
        if window.redirected:
            channels = _redirect_channels(team, teams)
        if window.note:
            action = "held" if not_before > now else "redirected" if window.redirected else "bypassed"
            notes.append((action, window.note))
    group = None
    if grouping is not None and groups.is_active(grouping):
        group, due = groups.join_group(
            session, route=new.route_name, grouping=grouping, labels=labels, now=now
        )
        not_before = max(not_before, due)
    row = alert_repo.create_alert(session, replace(new, channels=channels), now=now, not_before=not_before)
    for action, note in notes:
        alert_repo.add_event(session, row.id, action, now=now, note=note)
    if group is not None:
        groups.add_member(session, group_id=group.id, alert_id=row.id)
        note = f"{group.group_key}, due {not_before.isoformat()}"
        alert_repo.add_event(session, row.id, "grouped", now=now, note=note)
    if use_escalation:
        escalation.start(session, alert=row, team=team, now=now, notified_at=not_before)
    return row


def _redirect_channels(team: TeamConfig, teams: Mapping[str, TeamConfig]) -> tuple[str, ...]:
    policy = team.off_hours
    if policy.redirect_channels:
        return tuple(policy.redirect_channels)
    target = teams.get(policy.redirect_team or "")
    return tuple(target.channels) if target is not None else ()

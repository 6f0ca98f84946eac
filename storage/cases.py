"""Case repository: status, first response, notes, availability and response times.

One case per alert, opened with it (``storage.alerts.create_alert``). Functions take a session and
never commit. The rules that tie a case to its alert's lifecycle (resolving, acknowledging) live
in ``alerting.lifecycle``; this module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session

from domain import AlertKind, AlertStatus
from storage.alerting_tables import AlertGroupMemberRow
from storage.alerts import add_event
from storage.case_tables import CaseNoteRow, CaseRotationRow, CaseRow, ResponderStatusRow
from storage.models import AlertRow, ClassificationRow, MentionRow

OPEN, IN_PROGRESS, WAITING, RESOLVED = "open", "in_progress", "waiting_on_customer", "resolved"
STATUSES = (OPEN, IN_PROGRESS, WAITING, RESOLVED)
ACTIVE = (OPEN, IN_PROGRESS, WAITING)
# How an alert's own status reads as a case status, for alerts stored before cases existed.
FROM_ALERT = {
    str(AlertStatus.FIRING): OPEN,
    str(AlertStatus.ACKNOWLEDGED): IN_PROGRESS,
    str(AlertStatus.RESOLVED): RESOLVED,
}


@dataclass(frozen=True, slots=True)
class CaseTimes:
    """When one case opened, was first answered and was resolved (for response-time figures)."""

    alert_id: int
    team: str
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None


def open_case(session: Session, alert: AlertRow, *, now: datetime) -> CaseRow:
    """Open the case of a newly stored alert."""
    row = CaseRow(
        alert_id=alert.id,
        team=alert.team,
        status=FROM_ALERT.get(alert.status, OPEN),
        opened_at=alert.created_at,
        resolved_at=alert.resolved_at,
        updated_at=now,
    )
    session.add(row)
    return row


def case_of(session: Session, alert: AlertRow, *, now: datetime) -> CaseRow:
    """The alert's case, opened now from the alert's state if it has none (older alerts)."""
    row = session.get(CaseRow, alert.id)
    if row is None:
        row = open_case(session, alert, now=now)
        session.flush()
    return row


def cases_of(session: Session, alert_ids: Iterable[int]) -> dict[int, CaseRow]:
    """The cases of these alerts, by alert id (alerts without a case are left out)."""
    ids = list(dict.fromkeys(alert_ids))
    if not ids:
        return {}
    return {row.alert_id: row for row in session.scalars(select(CaseRow).where(CaseRow.alert_id.in_(ids)))}


def set_status(session: Session, case: CaseRow, status: str, *, actor: str, now: datetime) -> bool:
    """Move a case to ``status`` and record it in the audit trail; False when it is already there."""
    if status not in STATUSES:
        raise ValueError(f"unknown case status {status!r}; one of {', '.join(STATUSES)}")
    if case.status == status:
        return False
    previous = case.status
    case.status = status
    case.updated_at = now
    if status == RESOLVED:
        case.resolved_at = now
    elif previous == RESOLVED:
        case.resolved_at = None
    add_event(session, case.alert_id, "case_status", actor=actor, now=now, note=f"{previous} -> {status}")
    return True


def record_first_response(
    session: Session, *, alert_id: int, at: datetime, by: str, via: str = "reply"
) -> bool:
    """Record the case's first response (a posted reply, or ``via="elsewhere"``); False if it had one.

    Only the first call counts: later replies do not move the first-response time. An open or
    in-progress case now waits on the customer.
    """
    alert = session.get(AlertRow, alert_id)
    if alert is None:
        raise LookupError(f"alert #{alert_id} does not exist")
    case = case_of(session, alert, now=at)
    if case.first_response_at is not None:
        return False
    case.first_response_at = at
    case.first_response_by = by[:128]
    case.first_response_via = via[:32]
    case.updated_at = at
    add_event(session, alert_id, "first_response", actor=by[:128], now=at, note=f"via {via}")
    if case.status in (OPEN, IN_PROGRESS):
        set_status(session, case, WAITING, actor=by[:128], now=at)
    return True


def note_breach(session: Session, *, alert_id: int, clock: str, breach_alert: int, now: datetime) -> None:
    """Record in a case's audit trail that its ``clock`` SLA was breached and who was told."""
    add_event(
        session, alert_id, "sla_breached", now=now, note=f"{clock}; team lead told by alert #{breach_alert}"
    )


def add_note(session: Session, *, alert_id: int, author: str, text: str, now: datetime) -> CaseNoteRow:
    """Add an internal note to an alert's case."""
    row = CaseNoteRow(alert_id=alert_id, at=now, author=author[:128], text=text)
    session.add(row)
    add_event(session, alert_id, "case_note", actor=author[:128], now=now, note=text[:200])
    session.flush()
    return row


def notes(session: Session, alert_id: int) -> list[CaseNoteRow]:
    """A case's internal notes, oldest first."""
    stmt = select(CaseNoteRow).where(CaseNoteRow.alert_id == alert_id).order_by(CaseNoteRow.id)
    return list(session.scalars(stmt))


def set_available(session: Session, *, user_name: str, available: bool, now: datetime) -> None:
    """Mark a responder on (takes auto-assigned cases) or off."""
    row = session.get(ResponderStatusRow, user_name)
    if row is None:
        session.add(ResponderStatusRow(user_name=user_name, available=available, updated_at=now))
    else:
        row.available, row.updated_at = available, now


def available(session: Session, names: Sequence[str]) -> list[str]:
    """Those of ``names`` who are on, in the given order."""
    if not names:
        return []
    on = set(
        session.scalars(
            select(ResponderStatusRow.user_name).where(
                ResponderStatusRow.user_name.in_(list(names)), ResponderStatusRow.available.is_(True)
            )
        )
    )
    return [name for name in names if name in on]


def is_available(session: Session, user_name: str) -> bool:
    """True when this responder is on."""
    row = session.get(ResponderStatusRow, user_name)
    return bool(row is not None and row.available)


def open_load(session: Session, names: Sequence[str]) -> dict[str, int]:
    """How many unresolved cases each of ``names`` is assigned."""
    if not names:
        return {}
    rows = session.execute(
        select(AlertRow.assignee, func.count())
        .join(CaseRow, CaseRow.alert_id == AlertRow.id)
        .where(AlertRow.assignee.in_(list(names)), CaseRow.status != RESOLVED)
        .group_by(AlertRow.assignee)
    )
    load = dict.fromkeys(names, 0)
    for name, count in rows:
        load[str(name)] = int(count)
    return load


def rotation(session: Session, team: str, *, now: datetime) -> CaseRotationRow:
    """A team's round-robin position, created on first use and locked for this transaction."""
    row = session.get(CaseRotationRow, team, with_for_update=True)
    if row is None:
        row = CaseRotationRow(team=team, last_user=None, updated_at=now)
        session.add(row)
    return row


def group_owner(session: Session, alert_id: int) -> str | None:
    """Who holds another unresolved alert of ``alert_id``'s notification group, if anyone."""
    group_id = session.scalar(
        select(AlertGroupMemberRow.group_id).where(AlertGroupMemberRow.alert_id == alert_id)
    )
    if group_id is None:
        return None
    stmt = (
        select(AlertRow.assignee)
        .join(AlertGroupMemberRow, AlertGroupMemberRow.alert_id == AlertRow.id)
        .where(
            AlertGroupMemberRow.group_id == group_id,
            AlertRow.assignee.is_not(None),
            AlertRow.status != str(AlertStatus.RESOLVED),
        )
        .order_by(AlertRow.id)
        .limit(1)
    )
    return session.scalar(stmt)


def unassigned_open(session: Session, *, team: str, limit: int = 200) -> list[AlertRow]:
    """A team's open, unassigned mention alerts, oldest first: the auto-assignment queue."""
    stmt = (
        select(AlertRow)
        .join(CaseRow, CaseRow.alert_id == AlertRow.id)
        .where(
            CaseRow.team == team,
            CaseRow.status == OPEN,
            AlertRow.assignee.is_(None),
            AlertRow.kind == str(AlertKind.MENTION),
        )
        .order_by(AlertRow.created_at, AlertRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt).unique())


def sla_pending(session: Session, *, team: str) -> list[CaseRow]:
    """A team's mention cases still on an SLA clock with no breach recorded for it yet."""
    stmt = (
        select(CaseRow)
        .join(AlertRow, AlertRow.id == CaseRow.alert_id)
        .where(
            CaseRow.team == team,
            CaseRow.status != RESOLVED,
            AlertRow.status != str(AlertStatus.RESOLVED),
            AlertRow.kind == str(AlertKind.MENTION),
            (CaseRow.first_response_breached_at.is_(None) & CaseRow.first_response_at.is_(None))
            | CaseRow.resolution_breached_at.is_(None),
        )
        .order_by(CaseRow.opened_at, CaseRow.alert_id)
    )
    return list(session.scalars(stmt))


def response_times(session: Session, *, since: datetime, until: datetime) -> list[CaseTimes]:
    """Mention cases opened in [since, until), with their response and resolution times."""
    stmt = (
        select(CaseRow)
        .join(AlertRow, AlertRow.id == CaseRow.alert_id)
        .where(CaseRow.opened_at >= since, CaseRow.opened_at < until, AlertRow.kind == str(AlertKind.MENTION))
        .order_by(CaseRow.opened_at)
    )
    return [
        CaseTimes(
            alert_id=row.alert_id,
            team=row.team,
            opened_at=row.opened_at,
            first_response_at=row.first_response_at,
            resolved_at=row.resolved_at if row.status == RESOLVED else None,
        )
        for row in session.scalars(stmt)
    ]


# The inbox: one row per notification group (or per alert outside any group), most urgent first,
# then the one waiting longest. Paging counts rows, never alerts, so a page never cuts a group.
URGENCY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
VIEWS = ("active", *STATUSES, "all")


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """What the inbox shows; ``status`` is a case status, ``active`` (not resolved) or ``all``."""

    status: str = "active"
    team: str | None = None
    urgency: str | None = None
    brand: str | None = None
    category: str | None = None
    source: str | None = None
    assignee: str | None = None
    unassigned: bool = False


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One inbox row: a group's (or a lone alert's) most urgent, oldest alert stands for it."""

    key: str
    lead: AlertRow
    case: CaseRow | None
    status: str
    alert_ids: tuple[int, ...]
    mentions: int


@dataclass(frozen=True, slots=True)
class InboxPage:
    """One page of inbox rows and the totals that say what the other pages hold."""

    rows: list[InboxRow]
    total_rows: int
    total_alerts: int
    offset: int
    limit: int
    counts: dict[str, int]


def _status_expr() -> Any:
    # An alert resolved without the case (a digest filed as resolved, an incident that ended)
    # closes its case too; an alert older than cases reads its own status.
    derived = case(*((AlertRow.status == k, v) for k, v in FROM_ALERT.items()), else_=OPEN)
    resolved = AlertRow.status == str(AlertStatus.RESOLVED)
    return case((resolved, RESOLVED), else_=func.coalesce(CaseRow.status, derived))


def _filtered(filters: InboxFilter, *, with_status: bool) -> Any:
    status = _status_expr()
    rank = case(*((AlertRow.urgency == k, v) for k, v in URGENCY_RANK.items()), else_=len(URGENCY_RANK))
    key = case((AlertGroupMemberRow.group_id.is_not(None), AlertGroupMemberRow.group_id), else_=-AlertRow.id)
    stmt = (
        select(
            key.label("k"),
            rank.label("r"),
            AlertRow.created_at.label("c"),
            AlertRow.id.label("id"),
            AlertRow.count.label("n"),
            status.label("s"),
        )
        .select_from(AlertRow)
        .outerjoin(CaseRow, CaseRow.alert_id == AlertRow.id)
        .outerjoin(AlertGroupMemberRow, AlertGroupMemberRow.alert_id == AlertRow.id)
    )
    if with_status and filters.status == "active":
        stmt = stmt.where(status != RESOLVED)
    elif with_status and filters.status != "all":
        stmt = stmt.where(status == filters.status)
    if filters.team:
        stmt = stmt.where(AlertRow.team == filters.team)
    if filters.urgency:
        stmt = stmt.where(AlertRow.urgency == filters.urgency)
    if filters.brand:
        stmt = stmt.where(AlertRow.brand == filters.brand)
    if filters.assignee:
        stmt = stmt.where(AlertRow.assignee == filters.assignee)
    if filters.unassigned:
        stmt = stmt.where(AlertRow.assignee.is_(None))
    if filters.source or filters.category:
        stmt = stmt.outerjoin(MentionRow, MentionRow.id == AlertRow.mention_id)
        if filters.source:
            stmt = stmt.where(MentionRow.source == filters.source)
        if filters.category:
            # Categories are a JSON list; its text holds each name quoted on both backends.
            stmt = stmt.outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            text = cast(ClassificationRow.categories, String)
            stmt = stmt.where(text.contains(f'"{filters.category}"', autoescape=True))
    return stmt.subquery()


def inbox(session: Session, filters: InboxFilter, *, limit: int = 50, offset: int = 0) -> InboxPage:
    """One page of the triage inbox with its totals and the row count per case status."""
    rows_q = _filtered(filters, with_status=True)
    keyed = (
        select(rows_q.c.k, func.min(rows_q.c.r).label("r"), func.min(rows_q.c.c).label("c"))
        .group_by(rows_q.c.k)
        .subquery()
    )
    total_rows = int(session.scalar(select(func.count()).select_from(keyed)) or 0)
    total_alerts = int(session.scalar(select(func.count()).select_from(rows_q)) or 0)
    keys = list(
        session.scalars(
            select(keyed.c.k).order_by(keyed.c.r, keyed.c.c, keyed.c.k).limit(limit).offset(offset)
        )
    )
    all_q = _filtered(filters, with_status=False)
    counts = {s: 0 for s in STATUSES}
    for status, n in session.execute(
        select(all_q.c.s, func.count(func.distinct(all_q.c.k))).group_by(all_q.c.s)
    ):
        counts[str(status)] = int(n)
    members = session.execute(select(rows_q.c.k, rows_q.c.id, rows_q.c.s).where(rows_q.c.k.in_(keys))).all()
    ids = [m[1] for m in members]
    alerts = {row.id: row for row in session.scalars(select(AlertRow).where(AlertRow.id.in_(ids)))}
    cases = cases_of(session, alerts)
    grouped: dict[int, list[tuple[AlertRow, str]]] = {k: [] for k in keys}
    for k, alert_id, status in members:
        grouped[k].append((alerts[alert_id], str(status)))
    out = []
    for k in keys:
        items = sorted(
            grouped[k], key=lambda p: (URGENCY_RANK.get(p[0].urgency, 9), p[0].created_at, p[0].id)
        )
        lead = items[0][0]
        out.append(
            InboxRow(
                key=f"g{k}" if k > 0 else f"a{-k}",
                lead=lead,
                case=cases.get(lead.id),
                status=min((s for _, s in items), key=STATUSES.index),
                alert_ids=tuple(a.id for a, _ in items),
                mentions=sum(a.count for a, _ in items),
            )
        )
    return InboxPage(out, total_rows, total_alerts, offset, limit, counts)

"""GET /metrics: Prometheus text exposition of what ops watch (volumes, alerts, outbox, sources).

Computed from the database, so every process (and every replica behind a load
balancer) reports the same numbers.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from storage.models import AlertRow, DeliveryRow, MentionRow, SourceHealthRow
from web.context import Context

router = APIRouter(tags=["health"])


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(ctx: Context) -> PlainTextResponse:
    """Counters and gauges in the Prometheus text format."""
    now = ctx.now()
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")

    with ctx.session_factory() as session:
        by_source = session.execute(select(MentionRow.source, func.count()).group_by(MentionRow.source)).all()
        last_hour = session.scalar(
            select(func.count())
            .select_from(MentionRow)
            .where(MentionRow.collected_at >= now - timedelta(hours=1))
        )
        alerts = session.execute(select(AlertRow.status, func.count()).group_by(AlertRow.status)).all()
        outbox = session.execute(select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)).all()
        overdue = session.scalar(
            select(func.count())
            .select_from(DeliveryRow)
            .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now - timedelta(minutes=5))
        )
        health = list(session.scalars(select(SourceHealthRow)))
    metric(
        "earshot_mentions_total",
        "counter",
        "Mentions stored, by source.",
        [({"source": s}, n) for s, n in by_source],
    )
    metric(
        "earshot_mentions_last_hour", "gauge", "Mentions collected in the last hour.", [({}, last_hour or 0)]
    )
    metric("earshot_alerts", "gauge", "Alerts by status.", [({"status": s}, n) for s, n in alerts])
    metric("earshot_deliveries", "gauge", "Outbox rows by status.", [({"status": s}, n) for s, n in outbox])
    metric(
        "earshot_deliveries_overdue",
        "gauge",
        "Pending deliveries due more than 5 minutes ago (the outbox worker is stuck or a channel is down).",
        [({}, overdue or 0)],
    )
    metric(
        "earshot_source_consecutive_failures",
        "gauge",
        "Consecutive failed runs per source.",
        [({"source": h.source, "kind": h.kind}, h.consecutive_failures) for h in health],
    )
    metric(
        "earshot_source_last_success_timestamp_seconds",
        "gauge",
        "Unix time of each source's last successful run.",
        [
            ({"source": h.source, "kind": h.kind}, h.last_success_at.timestamp())
            for h in health
            if h.last_success_at
        ],
    )
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

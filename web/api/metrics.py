"""GET /metrics: Prometheus exposition of what ops watch (volumes, alerts, outbox, sources, stages).

Database numbers come from a custom prometheus_client collector that queries at scrape time, so
every process (and every replica behind a load balancer) reports the same values; the library
formats them, exactly, in the text format. Process, platform and GC metrics, the stage counters and
the model's batch latency describe this process; in nats mode each stage's lag, in-flight and
redelivered messages and the dead letters are read from JetStream, the same for every replica.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from alerting.config import TeamConfig
from scheduler import metrics as stage_metrics
from scheduler.heartbeat import Heartbeat
from storage import metrics_queries as queries
from storage import sources as source_repo
from web.api.cases import case_metric_families
from web.context import WebContext

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
OVERDUE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class _Families:
    """One scrape's metric families, each typed so samples are added with the right shape."""

    mentions: CounterMetricFamily
    last_hour: GaugeMetricFamily
    alerts: GaugeMetricFamily
    deliveries: GaugeMetricFamily
    overdue: GaugeMetricFamily
    failures: GaugeMetricFamily
    last_success: GaugeMetricFamily
    scheduler: GaugeMetricFamily

    @classmethod
    def empty(cls) -> _Families:
        """Every family with no samples yet."""
        source = ["source", "kind"]
        return cls(
            mentions=CounterMetricFamily(
                "earshot_mentions", "Mentions stored, by source.", labels=["source"]
            ),
            last_hour=GaugeMetricFamily("earshot_mentions_last_hour", "Mentions collected in the last hour."),
            alerts=GaugeMetricFamily("earshot_alerts", "Alerts by status.", labels=["status"]),
            deliveries=GaugeMetricFamily("earshot_deliveries", "Outbox rows by status.", labels=["status"]),
            overdue=GaugeMetricFamily(
                "earshot_deliveries_overdue",
                "Pending deliveries due more than 5 minutes ago (the outbox worker is stuck or a channel is "
                "down).",
            ),
            failures=GaugeMetricFamily(
                "earshot_source_consecutive_failures", "Consecutive failed runs per source.", labels=source
            ),
            last_success=GaugeMetricFamily(
                "earshot_source_last_success_timestamp_seconds",
                "Unix time of each source's last successful run.",
                labels=source,
            ),
            scheduler=GaugeMetricFamily(
                "earshot_scheduler_healthy",
                "1 when this process's scheduler ticked within 3 intervals (or it runs none), else 0.",
            ),
        )

    def all(self) -> list[Metric]:
        """The families in exposition order."""
        return [getattr(self, f.name) for f in fields(self)]


class DatabaseCollector(Collector):
    """Reads volumes, alerts, the outbox and source health from the database at each scrape."""

    def __init__(
        self, ctx: WebContext, heartbeat: Heartbeat, teams: dict[str, TeamConfig] | None = None
    ) -> None:
        self._ctx = ctx
        self._heartbeat = heartbeat
        self._teams = teams or {}

    def describe(self) -> Iterable[Metric]:
        """The metric families without samples, so registering does not query the database."""
        return _Families.empty().all()

    def collect(self) -> Iterable[Metric]:
        """Every family with its current values."""
        now = self._ctx.now()
        out = _Families.empty()
        with self._ctx.session_factory() as session:
            for source, n in queries.mentions_by_source(session):
                out.mentions.add_metric([source], n)
            last_hour = queries.mentions_collected_since(session, since=now - timedelta(hours=1))
            out.last_hour.add_metric([], last_hour)
            for status, n in queries.alerts_by_status(session):
                out.alerts.add_metric([status], n)
            for status, n in queries.deliveries_by_status(session):
                out.deliveries.add_metric([status], n)
            overdue = queries.overdue_deliveries(session, due_before=now - OVERDUE_AFTER)
            out.overdue.add_metric([], overdue)
            for row in source_repo.list_health(session):
                out.failures.add_metric([row.source, row.kind], row.consecutive_failures)
                if row.last_success_at is not None:
                    out.last_success.add_metric([row.source, row.kind], row.last_success_at.timestamp())
        out.scheduler.add_metric([], 1 if self._heartbeat.status()[0] else 0)
        # Case response times (p50/p90 per team); wall-clock until the app is given the teams.
        return [*out.all(), *case_metric_families(self._ctx, self._teams)]


class PipelineCollector(Collector):
    """This process's stage counters and model latency, and (in nats mode) JetStream's stage stats."""

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the bus families depend on the mode, and reading them needs NATS."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The pipeline families with their current values."""
        yield from stage_metrics.REGISTRY.collect()
        yield from stage_metrics.BUS.collect()


def build_registry(
    ctx: WebContext, heartbeat: Heartbeat, teams: dict[str, TeamConfig] | None = None
) -> CollectorRegistry:
    """A registry of its own per app (not the global one), so two apps in one process never clash."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(ctx, heartbeat, teams))
    registry.register(PipelineCollector())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format"},
        503: {"description": "database unreachable"},
    },
)
def metrics(request: Request) -> Response:
    """Counters and gauges in the Prometheus text format."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    try:
        body = generate_latest(registry)
    except Exception:
        # A scrape that cannot read the database is a failed scrape; the reason goes to the log.
        log.warning("metrics: collection failed", exc_info=True)
        return Response("database unreachable\n", status_code=503, media_type="text/plain")
    return Response(body, media_type=CONTENT_TYPE_LATEST)

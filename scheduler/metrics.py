"""This process's pipeline metrics: per-stage throughput, redeliveries, dead letters, model latency.

One registry per process (``REGISTRY``): `/metrics` adds it to the database figures, and a worker
or scheduler process serves it on ``scale.metrics_port``. Consumer lag and redeliveries across all
workers come from JetStream itself (``scheduler.bus.stream_stats``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from scheduler.config import ScaleConfig

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
STAGE_ITEMS = Counter(
    "earshot_stage_items",
    "Items each pipeline stage finished in this process (mentions collected, classified, stored; "
    "notifications delivered).",
    ["stage"],
    registry=REGISTRY,
)
STAGE_MESSAGES = Counter(
    "earshot_stage_messages",
    "Stage messages this process handled, by outcome (ok, retry, dead, skipped).",
    ["stage", "outcome"],
    registry=REGISTRY,
)
REDELIVERIES = Counter(
    "earshot_stage_redeliveries",
    "Messages this process received that had been delivered before (a worker died or failed).",
    ["stage"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "earshot_stage_dead_letters",
    "Messages this process moved to the dead-letter stream after max_deliver attempts.",
    ["stage"],
    registry=REGISTRY,
)
MODEL_BATCH_SECONDS = Histogram(
    "earshot_model_batch_seconds",
    "Seconds per classifier batch in this process.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


def observe_stage(stage: str, items: int) -> None:
    """Count ``items`` finished by ``stage``."""
    if items:
        STAGE_ITEMS.labels(stage).inc(items)


def observe_model(seconds: float, _size: int) -> None:
    """Record one classifier batch's latency."""
    MODEL_BATCH_SECONDS.observe(seconds)


def serve(port: int) -> None:
    """Serve this process's metrics on ``port`` (a worker or scheduler has no web app)."""
    if port:
        start_http_server(port, registry=REGISTRY)


class BusCollector:
    """JetStream's view of every worker at once: per-stage lag, in flight, redeliveries, dead letters."""

    def __init__(self) -> None:
        self.config: ScaleConfig | None = None

    def collect(self) -> Iterable[Metric]:
        """Read the consumers' state at scrape time (nothing when not in nats mode)."""
        if self.config is None:
            return []
        from scheduler.bus import read_stats

        lag = GaugeMetricFamily(
            "earshot_stage_lag", "Messages waiting for each stage (num_pending).", labels=["stage"]
        )
        in_flight = GaugeMetricFamily(
            "earshot_stage_in_flight", "Messages delivered and not yet acknowledged.", labels=["stage"]
        )
        redelivered = GaugeMetricFamily(
            "earshot_stage_redelivered", "Messages of each stage being redelivered now.", labels=["stage"]
        )
        dead = GaugeMetricFamily("earshot_dead_letters", "Messages on the dead-letter stream.")
        up = GaugeMetricFamily("earshot_bus_up", "1 when JetStream answered this scrape.")
        try:
            stats, dead_count = read_stats(self.config)
        except Exception as exc:
            log.warning("metrics: JetStream unreachable: %s", exc)
            up.add_metric([], 0)
            return [up]
        for s in stats:
            lag.add_metric([s.stage], s.pending)
            in_flight.add_metric([s.stage], s.ack_pending)
            redelivered.add_metric([s.stage], s.redelivered)
        dead.add_metric([], dead_count)
        up.add_metric([], 1)
        return [lag, in_flight, redelivered, dead, up]


BUS = BusCollector()


def watch_bus(config: ScaleConfig) -> None:
    """Report JetStream's stage stats in this process's /metrics."""
    BUS.config = config

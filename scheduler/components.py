"""The built components the pipeline stages work with; the composition root fills them."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from alerting.channels.base import Channel
from alerting.config import AlertingConfig
from alerting.noise import BrandBook
from alerting.routing import Router
from classifiers.base import Classifier
from collectors.base import Collector
from collectors.neardup import DEFAULT_MAX_ENTRIES, NearDuplicateIndex
from scheduler import metrics


def _nothing() -> None:
    return None


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass
class SourceRuntime:
    """A configured source and its collector instance."""

    name: str
    kind: str
    collector: Collector  # type: ignore[type-arg]
    interval_seconds: float
    jitter_seconds: float
    # Wall-clock budget of one whole run (every feed and page), from sources[].timeout_seconds.
    timeout_seconds: float = 60.0


@dataclass(frozen=True)
class PeriodicJob:
    """Extra work run on an interval next to collection (escalations, spike checks, digests)."""

    name: str
    interval_seconds: float
    run: Callable[[], object]


@dataclass
class Counters:
    """Process-wide counters, for logs, `earshot run` output and the metrics endpoint."""

    runs: int = 0
    failures: int = 0
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    alerts: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        """Add to several counters at once, thread-safely."""
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


@dataclass
class Components:
    """Everything a pipeline stage needs, built once per process."""

    sessions: sessionmaker[Session]
    sources: dict[str, SourceRuntime]
    classifier: Classifier
    router: Router
    channels: dict[str, Channel]  # type: ignore[type-arg]
    alerting: AlertingConfig
    batch_size: int = 200
    cluster_window_hours: float = 72.0
    clock: Callable[[], datetime] = utcnow
    neardup: NearDuplicateIndex = field(default_factory=NearDuplicateIndex)
    # The index's memory bound: the most recent mentions it keeps for clustering (~4.5 KB each).
    neardup_max_entries: int = DEFAULT_MAX_ENTRIES
    # Our brands, competitors and own accounts: marks mentions and catches impersonators.
    brands: BrandBook = field(default_factory=BrandBook)
    neardup_lock: threading.Lock = field(default_factory=threading.Lock)
    # One store transaction at a time in this process (see scheduler.pipeline.ingest).
    store_lock: threading.Lock = field(default_factory=threading.Lock)
    counters: Counters = field(default_factory=Counters)
    periodic: list[PeriodicJob] = field(default_factory=list)
    # Names this process in source leases (scheduled runs), so `earshot sources` can tell who holds one.
    instance: str = field(default_factory=lambda: f"{socket.gethostname()[:40]}-{os.getpid()}")
    # How long a scheduled run keeps its source to itself if it never finishes.
    source_lease_seconds: float = 600.0
    # Longest a failing source is held back (the delay doubles from its interval).
    max_backoff_seconds: float = 3600.0
    # Near-duplicate clustering inside the store transaction; None is this process's memory index.
    cluster: Callable[[Session, Sequence[Any]], dict[int, int]] | None = None
    # Notifications sent at once by one outbox pass (1 on SQLite, whose writers queue anyway).
    deliver_concurrency: int = 1
    # Called after a commit that stored alerts, so delivery need not wait for its next poll.
    wake_delivery: Callable[[], None] = _nothing

    def observe_stage(self, stage: str, items: int) -> None:
        """Count items a stage finished, for /metrics."""
        metrics.observe_stage(stage, items)

    def observe_model(self, seconds: float, size: int) -> None:
        """Record a classifier batch's latency, for /metrics."""
        metrics.observe_model(seconds, size)

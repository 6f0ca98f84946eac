"""The pipeline: collect -> dedup -> classify -> store -> route, one source run at a time.

A run's mentions, classifications, alerts, outbox rows and the source's new
cursor are written in ONE transaction: a crash anywhere before commit leaves
the cursor where it was, so the next run re-fetches and, because storing is
idempotent, stores nothing twice.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import FetchResult
from collectors.errors import CollectorError, RateLimited
from collectors.neardup import NearDuplicateIndex
from collectors.redact import redact
from domain import Classification, Mention
from scheduler import stages
from scheduler.components import Components, PeriodicJob, SourceRuntime
from scheduler.messages import ClassifiedBatch, FetchedBatch
from storage import mentions as mention_repo
from storage import neardup as neardup_repo
from storage import sources as source_repo
from storage.mentions import StoredMention

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = stages.DEFAULT_TIMEOUT_SECONDS


@dataclass
class RunReport:
    """What one source run did."""

    source: str
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    alerts: int = 0
    folded: int = 0
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # When the collector said to come back (RateLimited.until); scheduled runs wait until then.
    retry_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.error is None


def warm_up(components: Components) -> None:
    """Rebuild the near-duplicate index from recently stored mentions."""
    since = components.clock() - timedelta(hours=components.cluster_window_hours)
    with components.sessions() as session:
        rows = mention_repo.recent_texts(session, since=since)
    index = NearDuplicateIndex(
        window_seconds=components.cluster_window_hours * 3600, max_entries=components.neardup_max_entries
    )
    index.load(rows)
    with components.neardup_lock:
        components.neardup = index
    log.info("near-duplicate index holds %d recent mentions", index.size)


def run_source(
    components: Components,
    name: str,
    *,
    timeout_seconds: float | None = None,
    lease_holder: str | None = None,
) -> RunReport:
    """Fetch one source since its cursor and push what is new through the pipeline.

    The fetch runs under a wall-clock deadline (``timeout_seconds``, else the source's configured
    ``timeout_seconds``, else 60 s) that covers every request of the run; running out is a failure.
    """
    source = components.sources[name]
    report = RunReport(source=name)
    with components.sessions() as session:
        cursor = source_repo.get_cursor(session, name)
    try:
        result = stages.collect(source, cursor, timeout_seconds=timeout_seconds)
    except Exception as exc:  # any collector failure is recorded; other sources keep running
        _record_failure(components, source, exc, report)
        return report
    try:
        ingest(components, source, result, report, lease_holder=lease_holder)
    except Exception as exc:
        # The transaction rolled back; the in-memory index may hold ids that never committed
        # (the database index rolled back with it).
        if components.cluster is None:
            warm_up(components)
        _record_failure(components, source, exc, report)
    return report


def run_scheduled(components: Components, name: str) -> RunReport | None:
    """A scheduled run: skipped (None) while another process collects the source or it is held back.

    After a failure the source is held back: until the collector's ``RateLimited.until``, or for a
    delay doubling with each failure in a row (``storage.sources.backoff_delay``).
    """
    holder = f"{components.instance}-{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=components.source_lease_seconds)
    with components.sessions() as session, session.begin():
        why = source_repo.claim_run(session, name, holder=holder, now=components.clock(), lease=lease)
    if why is not None:
        log.info("source %s: not collected now: %s", name, why)
        return None
    report: RunReport | None = None
    try:
        report = run_source(components, name, lease_holder=holder)
    finally:
        source = components.sources[name]
        settle_run(
            components.sessions,
            name,
            holder=holder,
            failed=report is None or not report.ok,
            retry_at=report.retry_at if report is not None else None,
            interval=source.interval_seconds,
            cap=components.max_backoff_seconds,
            now=components.clock(),
        )
    return report


def run_periodic(components: Components, job: PeriodicJob) -> bool:
    """Run a periodic job unless another process runs it (a lease per job); True when it ran here.

    The lease lasts three intervals and is renewed by each run, so with two schedulers (or two
    `earshot run`) one runs the job and the other takes over only once the first stops.
    """
    name = f"job:{job.name}"[:128]
    lease = timedelta(seconds=3 * job.interval_seconds)
    with components.sessions() as session, session.begin():
        why = source_repo.claim_run(
            session, name, holder=components.instance, now=components.clock(), lease=lease
        )
    if why is not None:
        log.debug("%s: not run here: %s", job.name, why)
        return False
    job.run()
    return True


def settle_run(
    sessions: sessionmaker[Session],
    source: str,
    *,
    holder: str,
    failed: bool,
    retry_at: datetime | None,
    interval: float,
    cap: float,
    now: datetime,
) -> None:
    """Release a run's lease; after a failure, hold the source back (rate limit or back-off)."""
    with sessions() as session, session.begin():
        source_repo.release_run(session, source, holder=holder, now=now)
        if not failed:
            return
        health = {h.source: h for h in source_repo.list_health(session)}.get(source)
        streak = health.consecutive_failures if health is not None else 1
        delay = source_repo.backoff_delay(streak, interval=interval, cap=cap)
        until, reason = now + timedelta(seconds=delay), f"{streak} failures in a row"
        if retry_at is not None and retry_at > until:
            until, reason = retry_at, "rate limited by the source"
        if until > now:
            source_repo.hold_until(session, source, until=until, reason=reason, now=now)
            log.warning("source %s: next collection not before %s (%s)", source, until.isoformat(), reason)


def _configured_timeout(source: SourceRuntime) -> float:
    return stages.configured_timeout(source)


def describe_error(exc: BaseException) -> str:
    """'<Kind>: <message>' for logs and source health: URLs redacted, SQL and its parameters left out."""
    if isinstance(exc, StatementError):
        # str() of a SQLAlchemy error embeds the statement and every bound parameter (mention
        # text, ids): keep only the driver's own first line.
        original = exc.orig if exc.orig is not None else exc
        first = (str(original).strip().splitlines() or [""])[0][:300]
        return redact(f"{type(exc).__name__} ({type(original).__name__}): {first}")
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, RateLimited) and exc.until:
        detail += f" (until {exc.until.isoformat()})"
    return redact(detail)


def _record_failure(components: Components, source: SourceRuntime, exc: Exception, report: RunReport) -> None:
    detail = describe_error(exc)
    report.error = detail
    if isinstance(exc, RateLimited):
        report.retry_at = exc.until
    components.counters.add(runs=1, failures=1)
    if isinstance(exc, CollectorError):
        log.warning("source %s failed: %s", source.name, detail)
    else:
        # The frames only: the exception's own text may carry SQL parameters (already summarised).
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("source %s failed: %s\nTraceback (most recent call last):\n%s", source.name, detail, frames)
    record_failure(
        components.sessions, source=source.name, kind=source.kind, error=detail, now=components.clock()
    )


def record_failure(
    sessions: sessionmaker[Session], *, source: str, kind: str, error: str, now: datetime
) -> None:
    """Count a failed run in source health, in its own transaction."""
    with sessions() as session, session.begin():
        source_repo.record_failure(session, source=source, kind=kind, error=error, now=now)


def store_classified(components: Components, batch: ClassifiedBatch) -> stages.StoreReport:
    """The store stage with this process's dependencies: the in-process run and a worker share it."""
    return stages.store_batch(
        batch,
        sessions=components.sessions,
        router=components.router,
        alerting=components.alerting,
        cluster=components.cluster or memory_clusterer(components),
        now=components.clock(),
    )


def memory_clusterer(components: Components) -> stages.Clusterer:
    """Cluster with this process's in-memory near-duplicate index."""

    def cluster(_session: Session, inserted: Sequence[StoredMention]) -> dict[int, int]:
        with components.neardup_lock:
            return {s.id: components.neardup.assign(s.id, s.mention.full_text) for s in inserted}

    return cluster


def database_clusterer(components: Components, *, evict_every: float = 60.0) -> stages.Clusterer:
    """Cluster against the near-duplicate index in the database, which every worker shares.

    Rows past the clustering window are deleted at most every ``evict_every`` seconds.
    """
    window = timedelta(hours=components.cluster_window_hours)
    last_evicted: list[datetime] = []

    def cluster(session: Session, inserted: Sequence[StoredMention]) -> dict[int, int]:
        now = components.clock()
        if not last_evicted or (now - last_evicted[0]).total_seconds() >= evict_every:
            neardup_repo.evict(session, now=now, window=window)
            last_evicted[:] = [now]
        items = [(s.id, s.mention.full_text) for s in inserted]
        return neardup_repo.assign(session, items, now=now, window=window)

    return cluster


def ingest(
    components: Components,
    source: SourceRuntime,
    result: FetchResult,
    report: RunReport,
    *,
    lease_holder: str | None = None,
) -> None:
    """Dedup, classify, store, cluster and route one fetch result, committing once."""
    batch = stages.fetched_batch(source, result, run_id=uuid.uuid4().hex, lease_holder=lease_holder)
    report.fetched = batch.fetched
    report.problems = list(batch.problems)
    report.failures = list(batch.failures)
    classified = classify_fetched(components, batch)
    report.duplicates = classified.duplicates
    # Source runs classify side by side, but store one at a time: every store of a brand updates
    # the same rollup rows and holds them until its commit, so concurrent stores only queue in
    # the database while they slice one interpreter's GIL, each taking several times as long.
    with components.store_lock:
        stored = store_classified(components, classified)
    report.new, report.alerts, report.folded = stored.new, stored.alerts, stored.folded
    components.counters.add(
        runs=1,
        failures=1 if report.failures else 0,
        fetched=report.fetched,
        stored=report.new,
        duplicates=report.duplicates,
        alerts=report.alerts,
    )
    components.observe_stage("store", report.new)
    if report.alerts:
        components.wake_delivery()


def classify_fetched(components: Components, batch: FetchedBatch) -> ClassifiedBatch:
    """The classify stage with this process's classifier and brand book."""
    classified = stages.classify_batch(
        batch,
        classifier=components.classifier,
        brands=components.brands,
        batch_size=components.batch_size,
        known=stages.known_keys(components.sessions),
        observe=components.observe_model,
    )
    components.observe_stage("classify", len(classified.mentions))
    return classified


def classify(components: Components, mentions: Sequence[Mention]) -> list[Classification]:
    """Classify in batches of the configured size, outside any transaction."""
    return stages.classify(components.classifier, mentions, batch_size=components.batch_size)

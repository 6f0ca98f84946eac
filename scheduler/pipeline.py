"""The pipeline: collect -> dedup -> classify -> store -> route, one source run at a time.

A run's mentions, classifications, alerts, outbox rows and the source's new
cursor are written in ONE transaction: a crash anywhere before commit leaves
the cursor where it was, so the next run re-fetches and, because storing is
idempotent, stores nothing twice.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import StatementError

from alerting.service import plan_alerts, raise_alerts
from classifiers.base import ClassifierInput
from collectors.base import FetchResult
from collectors.errors import CollectorError, RateLimited
from collectors.http import run_deadline
from collectors.neardup import NearDuplicateIndex
from collectors.redact import redact
from domain import Classification, Mention, MentionKey
from scheduler.components import Components, SourceRuntime
from storage import mentions as mention_repo
from storage import sources as source_repo

log = logging.getLogger(__name__)

# A source run's wall-clock budget when its config does not set ``timeout_seconds``.
DEFAULT_TIMEOUT_SECONDS = 60.0


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


def run_source(components: Components, name: str, *, timeout_seconds: float | None = None) -> RunReport:
    """Fetch one source since its cursor and push what is new through the pipeline.

    The fetch runs under a wall-clock deadline (``timeout_seconds``, else the source's configured
    ``timeout_seconds``, else 60 s) that covers every request of the run; running out is a failure.
    """
    source = components.sources[name]
    report = RunReport(source=name)
    budget = timeout_seconds or _configured_timeout(source)
    with components.sessions() as session:
        cursor = source_repo.get_cursor(session, name)
    started = time.monotonic()
    try:
        with run_deadline(budget):
            result = source.collector.fetch(cursor)
    except Exception as exc:  # any collector failure is recorded; other sources keep running
        _record_failure(components, source, exc, report)
        return report
    if time.monotonic() - started > budget and not result.failures:
        # The collector finished without noticing (no request after the deadline): still a failure.
        result = FetchResult(
            result.mentions,
            result.cursor,
            result.problems,
            result.fetched,
            [f"run: exceeded its deadline of {budget:g} s"],
        )
    try:
        ingest(components, source, result, report)
    except Exception as exc:
        # The transaction rolled back; the in-memory index may hold ids that never committed.
        warm_up(components)
        _record_failure(components, source, exc, report)
    return report


def _configured_timeout(source: SourceRuntime) -> float:
    value = source.timeout_seconds
    return float(value) if value > 0 else DEFAULT_TIMEOUT_SECONDS


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
    components.counters.add(runs=1, failures=1)
    if isinstance(exc, CollectorError):
        log.warning("source %s failed: %s", source.name, detail)
    else:
        # The frames only: the exception's own text may carry SQL parameters (already summarised).
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("source %s failed: %s\nTraceback (most recent call last):\n%s", source.name, detail, frames)
    with components.sessions() as session, session.begin():
        source_repo.record_failure(
            session, source=source.name, kind=source.kind, error=detail, now=components.clock()
        )


def ingest(components: Components, source: SourceRuntime, result: FetchResult, report: RunReport) -> None:
    """Dedup, classify, store, cluster and route one fetch result, committing once."""
    report.fetched = result.fetched or len(result.mentions)
    report.problems = [redact(p) for p in result.problems]
    report.failures = [redact(f) for f in result.failures]
    for problem in report.problems:
        log.warning("source %s: %s", source.name, problem)
    for failure in report.failures:
        log.warning("source %s: part failed: %s", source.name, failure)
    unique: dict[MentionKey, Mention] = {}
    for mention in result.mentions:
        unique.setdefault(mention.key, mention)
    with components.sessions() as session:
        stored = mention_repo.existing_keys(session, unique.keys())
    fresh = [components.brands.mark(m) for key, m in unique.items() if key not in stored]
    report.duplicates = len(result.mentions) - len(fresh)
    classifications = [
        components.brands.check(m, c) for m, c in zip(fresh, classify(components, fresh), strict=True)
    ]
    now = components.clock()
    # Routes and silence patterns are evaluated before the write transaction opens, so a slow
    # evaluation never holds the database's write lock.
    with components.sessions() as session:
        plans = {
            m.key: plan_alerts(
                session,
                router=components.router,
                config=components.alerting,
                mention=m,
                classification=c,
                now=now,
            )
            for m, c in zip(fresh, classifications, strict=True)
        }
    with components.sessions() as session, session.begin():
        inserted = mention_repo.store_mentions(session, fresh, classifications, now=now)
        report.new = len(inserted)
        with components.neardup_lock:
            clusters = {s.id: components.neardup.assign(s.id, s.mention.full_text) for s in inserted}
        mention_repo.set_clusters(session, clusters)
        for item in inserted:
            if item.classification is not None:
                created, folded = raise_alerts(
                    session,
                    router=components.router,
                    config=components.alerting,
                    mention_id=item.id,
                    mention=item.mention,
                    classification=item.classification,
                    cluster_id=clusters[item.id],
                    now=now,
                    plan=plans.get(item.mention.key),
                )
                report.alerts += created
                report.folded += folded
        source_repo.set_cursor(session, source.name, result.cursor, now=now)
        if report.failures:
            source_repo.record_partial(
                session,
                source=source.name,
                kind=source.kind,
                items=report.new,
                failures=report.failures,
                now=now,
            )
        else:
            source_repo.record_success(
                session, source=source.name, kind=source.kind, items=report.new, now=now
            )
    components.counters.add(
        runs=1,
        failures=1 if report.failures else 0,
        fetched=report.fetched,
        stored=report.new,
        duplicates=report.duplicates,
        alerts=report.alerts,
    )
    log.info(
        "source %s: fetched %d, new %d, duplicates %d, alerts %d",
        source.name,
        report.fetched,
        report.new,
        report.duplicates,
        report.alerts,
    )


def classify(components: Components, mentions: Sequence[Mention]) -> list[Classification]:
    """Classify in batches of the configured size, outside any transaction."""
    out: list[Classification] = []
    size = components.batch_size
    for start in range(0, len(mentions), size):
        chunk = [ClassifierInput.from_mention(m) for m in mentions[start : start + size]]
        out.extend(components.classifier.predict_batch(chunk))
    if len(out) != len(mentions):
        raise RuntimeError(f"classifier returned {len(out)} results for {len(mentions)} mentions")
    return out

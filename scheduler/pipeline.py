"""The pipeline: collect -> dedup -> classify -> store -> route, one source run at a time.

A run's mentions, classifications, alerts, outbox rows and the source's new
cursor are written in ONE transaction: a crash anywhere before commit leaves
the cursor where it was, so the next run re-fetches and, because storing is
idempotent, stores nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from alerting.service import raise_alerts
from classifiers.base import ClassifierInput
from collectors.base import FetchResult
from collectors.errors import CollectorError, RateLimited
from collectors.neardup import NearDuplicateIndex
from domain import Classification, Mention, MentionKey
from scheduler.components import Components, SourceRuntime
from storage import mentions as mention_repo
from storage import sources as source_repo

log = logging.getLogger(__name__)


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

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.error is None


def warm_up(components: Components) -> None:
    """Rebuild the near-duplicate index from recently stored mentions."""
    since = components.clock() - timedelta(hours=components.cluster_window_hours)
    with components.sessions() as session:
        rows = mention_repo.recent_texts(session, since=since)
    index = NearDuplicateIndex()
    index.load(rows)
    with components.neardup_lock:
        components.neardup = index
    log.info("near-duplicate index holds %d recent mentions", index.size)


def run_source(components: Components, name: str) -> RunReport:
    """Fetch one source since its cursor and push what is new through the pipeline."""
    source = components.sources[name]
    report = RunReport(source=name)
    with components.sessions() as session:
        cursor = source_repo.get_cursor(session, name)
    try:
        result = source.collector.fetch(cursor)
    except Exception as exc:  # any collector failure is recorded; other sources keep running
        _record_failure(components, source, exc, report)
        return report
    try:
        ingest(components, source, result, report)
    except Exception as exc:
        # The transaction rolled back; the in-memory index may hold ids that never committed.
        warm_up(components)
        _record_failure(components, source, exc, report)
    return report


def _record_failure(components: Components, source: SourceRuntime, exc: Exception, report: RunReport) -> None:
    kind = type(exc).__name__
    detail = f"{kind}: {exc}"
    if isinstance(exc, RateLimited) and exc.until:
        detail += f" (until {exc.until.isoformat()})"
    report.error = detail
    components.counters.add(runs=1, failures=1)
    level = logging.WARNING if isinstance(exc, CollectorError) else logging.ERROR
    log.log(level, "source %s failed: %s", source.name, detail, exc_info=not isinstance(exc, CollectorError))
    with components.sessions() as session, session.begin():
        source_repo.record_failure(
            session, source=source.name, kind=source.kind, error=detail, now=components.clock()
        )


def ingest(components: Components, source: SourceRuntime, result: FetchResult, report: RunReport) -> None:
    """Dedup, classify, store, cluster and route one fetch result, committing once."""
    report.fetched = result.fetched or len(result.mentions)
    report.problems = list(result.problems)
    for problem in result.problems:
        log.warning("source %s: %s", source.name, problem)
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
                )
                report.alerts += created
                report.folded += folded
        source_repo.set_cursor(session, source.name, result.cursor, now=now)
        source_repo.record_success(session, source=source.name, kind=source.kind, items=report.new, now=now)
    components.counters.add(
        runs=1, fetched=report.fetched, stored=report.new, duplicates=report.duplicates, alerts=report.alerts
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

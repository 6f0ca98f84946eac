"""The pipeline's stages as functions with narrow dependencies: collect, classify, store and route.

In-process mode (``scheduler.pipeline``) calls them one after another; scaled-out mode
(``scheduler.worker``) runs each on messages pulled from JetStream. Delivery is the fourth stage
(``scheduler.delivery.drain``), fed by the outbox rows the store stage commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from alerting.config import AlertingConfig
from alerting.noise import BrandBook
from alerting.routing import Router
from alerting.service import group_keys, plan_alerts, raise_alerts
from classifiers.base import Classifier, ClassifierInput
from collectors.base import Cursor, FetchResult
from collectors.http import run_deadline
from collectors.redact import redact
from domain import Classification, Mention, MentionKey
from scheduler.components import SourceRuntime
from scheduler.messages import ClassifiedBatch, FetchedBatch
from storage import mentions as mention_repo
from storage import sources as source_repo
from storage.alerts import open_alerts
from storage.mentions import StoredMention
from storage.silences import active_silences

log = logging.getLogger(__name__)

# A source run's wall-clock budget when its config does not set ``timeout_seconds``.
DEFAULT_TIMEOUT_SECONDS = 60.0
# Assigns each newly stored mention its near-duplicate cluster, inside the store transaction.
Clusterer = Callable[[Session, Sequence[StoredMention]], dict[int, int]]
# Reports one classifier call: (seconds, batch size), for the model latency metric.
BatchObserver = Callable[[float, int], None]


@dataclass
class StoreReport:
    """What storing one classified batch did."""

    new: int = 0
    alerts: int = 0
    folded: int = 0
    failures: list[str] = field(default_factory=list)


def configured_timeout(source: SourceRuntime) -> float:
    """The source's run budget in seconds (its ``timeout_seconds``, else 60)."""
    value = source.timeout_seconds
    return float(value) if value > 0 else DEFAULT_TIMEOUT_SECONDS


def collect(
    source: SourceRuntime, cursor: Cursor | None, *, timeout_seconds: float | None = None
) -> FetchResult:
    """Fetch one source since ``cursor`` under one wall-clock deadline; collector errors propagate.

    Running out of time is a failure of the run even when the collector did not notice.
    """
    budget = timeout_seconds or configured_timeout(source)
    started = time.monotonic()
    with run_deadline(budget):
        result = source.collector.fetch(cursor)
    if time.monotonic() - started > budget and not result.failures:
        result = FetchResult(
            result.mentions,
            result.cursor,
            result.problems,
            result.fetched,
            [f"run: exceeded its deadline of {budget:g} s"],
        )
    return result


def fetched_batch(
    source: SourceRuntime, result: FetchResult, *, run_id: str, lease_holder: str | None = None
) -> FetchedBatch:
    """The collect stage's message: the fetch with its cursor, problems redacted."""
    return FetchedBatch(
        run_id=run_id,
        source=source.name,
        kind=source.kind,
        mentions=list(result.mentions),
        cursor=dict(result.cursor) if result.cursor is not None else None,
        problems=[redact(p) for p in result.problems],
        fetched=result.fetched or len(result.mentions),
        failures=[redact(f) for f in result.failures],
        lease_holder=lease_holder,
    )


def classify_batch(
    batch: FetchedBatch,
    *,
    classifier: Classifier,
    brands: BrandBook,
    batch_size: int,
    known: Callable[[Iterable[MentionKey]], set[MentionKey]],
    observe: BatchObserver | None = None,
) -> ClassifiedBatch:
    """Drop mentions already stored (or repeated in the batch), mark brands, classify the rest."""
    unique: dict[MentionKey, Mention] = {}
    for mention in batch.mentions:
        unique.setdefault(mention.key, mention)
    stored = known(unique.keys())
    fresh = [brands.mark(m) for key, m in unique.items() if key not in stored]
    results = classify(classifier, fresh, batch_size=batch_size, observe=observe)
    classifications = [brands.check(m, c) for m, c in zip(fresh, results, strict=True)]
    return ClassifiedBatch(
        fetched=batch,
        mentions=fresh,
        classifications=classifications,
        duplicates=len(batch.mentions) - len(fresh),
    )


def classify(
    classifier: Classifier,
    mentions: Sequence[Mention],
    *,
    batch_size: int,
    observe: BatchObserver | None = None,
) -> list[Classification]:
    """Classify in batches of ``batch_size``, outside any transaction."""
    out: list[Classification] = []
    for start in range(0, len(mentions), batch_size):
        chunk = [ClassifierInput.from_mention(m) for m in mentions[start : start + batch_size]]
        began = time.perf_counter()
        out.extend(classifier.predict_batch(chunk))
        if observe is not None:
            observe(time.perf_counter() - began, len(chunk))
    if len(out) != len(mentions):
        raise RuntimeError(f"classifier returned {len(out)} results for {len(mentions)} mentions")
    return out


def known_keys(sessions: sessionmaker[Session]) -> Callable[[Iterable[MentionKey]], set[MentionKey]]:
    """The classify stage's one database read: which of these keys are stored already."""

    def known(keys: Iterable[MentionKey]) -> set[MentionKey]:
        with sessions() as session:
            return mention_repo.existing_keys(session, keys)

    return known


def store_batch(
    batch: ClassifiedBatch,
    *,
    sessions: sessionmaker[Session],
    router: Router,
    alerting: AlertingConfig,
    cluster: Clusterer,
    now: datetime,
) -> StoreReport:
    """Store the mentions, cluster and route them, set the cursor and health: one transaction.

    Idempotent: a batch stored before (a redelivered message) inserts no mention and so raises
    no alert; the source's lease, if the batch carries one, is released in the same commit.
    """
    fetched = batch.fetched
    report = StoreReport(failures=list(fetched.failures))
    for problem in fetched.problems:
        log.warning("source %s: %s", fetched.source, problem)
    for failure in fetched.failures:
        log.warning("source %s: part failed: %s", fetched.source, failure)
    # Routes and silence patterns are evaluated before the write transaction opens, so a slow
    # evaluation never holds the database's write lock.
    with sessions() as session:
        active = active_silences(session, now=now)
        plans = {
            m.key: plan_alerts(
                session,
                router=router,
                config=alerting,
                mention=m,
                classification=c,
                now=now,
                active_silences=active,
            )
            for m, c in zip(batch.mentions, batch.classifications, strict=True)
        }
    with sessions() as session, session.begin():
        inserted = mention_repo.store_mentions(session, batch.mentions, batch.classifications, now=now)
        report.new = len(inserted)
        clusters = cluster(session, inserted)
        mention_repo.set_clusters(session, clusters)
        keys = [
            key
            for item in inserted
            for key in group_keys(plans.get(item.mention.key), item.mention, clusters[item.id])
        ]
        known_open = open_alerts(session, group_keys=keys)
        for item in inserted:
            if item.classification is None:
                continue
            created, folded = raise_alerts(
                session,
                router=router,
                config=alerting,
                mention_id=item.id,
                mention=item.mention,
                classification=item.classification,
                cluster_id=clusters[item.id],
                now=now,
                plan=plans.get(item.mention.key),
                known_open=known_open,
            )
            report.alerts += created
            report.folded += folded
        source_repo.set_cursor(session, fetched.source, fetched.cursor, now=now)
        if report.failures:
            source_repo.record_partial(
                session,
                source=fetched.source,
                kind=fetched.kind,
                items=report.new,
                failures=report.failures,
                now=now,
            )
        else:
            source_repo.record_success(
                session, source=fetched.source, kind=fetched.kind, items=report.new, now=now
            )
        if fetched.lease_holder is not None:
            source_repo.release_run(session, fetched.source, holder=fetched.lease_holder, now=now)
    log.info(
        "source %s: fetched %d, new %d, duplicates %d, alerts %d",
        fetched.source,
        fetched.fetched,
        report.new,
        batch.duplicates,
        report.alerts,
    )
    return report

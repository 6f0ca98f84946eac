"""The composition root: settings in, wired components out. The only place that knows every package."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from alerting.channels.base import Channel
from alerting.channels.registry import channels as channel_registry
from alerting.config import apply_channel_overrides
from alerting.jobs import SourceSchedule, periodic_jobs
from alerting.noise import BrandBook
from alerting.replies import ReplyDesk, desk_from
from alerting.reports import weekly_report_job
from alerting.routing import Router
from classifiers.base import Classifier
from classifiers.registry import build_classifier
from collectors.base import CollectorContext
from collectors.matching import BrandMatcher, BrandSpec
from collectors.registry import collectors as collector_registry
from earshot import __version__
from earshot.checks import check
from earshot.settings import ConfigError, Settings
from scheduler.components import Components, PeriodicJob, SourceRuntime, utcnow
from storage.db import (
    DatabaseError,
    check_connection,
    create_db_engine,
    pending_revisions,
    retry_locked,
    session_factory,
)

log = logging.getLogger(__name__)


@dataclass
class App:
    """A built Earshot: the engine and the pipeline components."""

    settings: Settings
    engine: Engine
    components: Components
    # The one reply desk of this process: the web app posts through it, the reconciliation job
    # settles through it. None only for a hand-made App (tests); web_app then builds one.
    replies: ReplyDesk | None = None

    def close(self) -> None:
        """Close collectors, channels, reply connections and the database pool."""
        for source in self.components.sources.values():
            source.collector.close()
        for channel in self.components.channels.values():
            channel.close()
        if self.replies is not None:
            self.replies.pool.close()
        self.engine.dispose()


def validate(settings: Settings) -> None:
    """Raise ConfigError listing every problem the registries find."""
    errors = check(settings)
    if errors:
        raise ConfigError(errors)


def brand_matcher(settings: Settings) -> BrandMatcher:
    """The matcher for every configured brand's queries."""
    return BrandMatcher([BrandSpec(b.name, tuple(b.queries), tuple(b.competitors)) for b in settings.brands])


def build_channels(settings: Settings) -> dict[str, Channel]:  # type: ignore[type-arg]
    """One channel instance per configured channel, linking back to ``web.base_url`` when set."""
    built: dict[str, Channel] = {}  # type: ignore[type-arg]
    for config in settings.channels:
        cls = channel_registry.get(config.kind)
        channel = cls(name=config.name, options=cls.options_model(**config.options))
        # Set after construction: a plugin channel's own __init__ need not know the argument.
        channel.base_url = settings.web.base_url or None
        apply_channel_overrides(channel, config)
        built[config.name] = channel
    return built


def _retry_when_locked(name: str, run: Callable[[], object]) -> Callable[[], object]:
    def retried() -> object:
        return retry_locked(run, what=name)

    return retried


# Replies left `posting` by a crash are settled by asking their source; it never posts.
RECONCILE_INTERVAL_SECONDS = 60.0


def reply_reconciliation(
    desk: ReplyDesk, components: Components, clock: Callable[[], datetime]
) -> PeriodicJob:
    """The job that settles replies a crash left half-sent (only where reply accounts are configured)."""
    from alerting.reply_posting import reconcile_stale

    def run() -> object:
        return reconcile_stale(components.sessions, desk=desk, now=clock())

    name = "reply reconciliation"
    return PeriodicJob(
        name=name, interval_seconds=RECONCILE_INTERVAL_SECONDS, run=_retry_when_locked(name, run)
    )


def build(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    classifier: Classifier | None = None,
    require_schema: bool = True,
) -> App:
    """Validate settings, connect to the database and build every component."""
    validate(settings)
    engine = create_db_engine(settings.database.url, echo=settings.database.echo)
    try:
        check_connection(engine)
        if require_schema and pending_revisions(engine):
            raise DatabaseError(
                f"the database at {engine.url.render_as_string()} is not at the newest schema; "
                "run `earshot db upgrade`"
            )
    except DatabaseError:
        engine.dispose()
        raise
    context = CollectorContext(matcher=brand_matcher(settings), now=clock)
    sources: dict[str, SourceRuntime] = {}
    for config in settings.sources:
        if not config.enabled:
            continue
        cls = collector_registry.get(config.kind)
        collector = cls(name=config.name, options=cls.options_model(**config.options), context=context)
        sources[config.name] = SourceRuntime(
            name=config.name,
            kind=config.kind,
            collector=collector,
            interval_seconds=config.interval_seconds,
            jitter_seconds=config.jitter_seconds,
            timeout_seconds=config.timeout_seconds,
        )
    components = Components(
        sessions=session_factory(engine),
        sources=sources,
        classifier=classifier or build_classifier(settings.classifier),
        router=Router(settings.routes, settings.teams),
        channels=build_channels(settings),
        alerting=settings.alerting,
        batch_size=settings.pipeline.batch_size,
        cluster_window_hours=settings.pipeline.cluster_window_hours,
        neardup_max_entries=settings.pipeline.neardup_max_entries,
        clock=clock,
        brands=BrandBook.build(settings.brand_roles()),
    )
    components.periodic = [
        # Each job is one transaction of its own: on SQLite, one that still finds the database locked
        # after the busy timeout (a big first batch holding it) runs again after a pause.
        PeriodicJob(
            name=job.name, interval_seconds=job.interval_seconds, run=_retry_when_locked(job.name, job.run)
        )
        for job in periodic_jobs(
            sessions=components.sessions,
            config=settings.alerting,
            teams=settings.teams,
            routes=settings.routes,
            channels=components.channels,
            brands=[b.name for b in settings.brands],
            sources=[SourceSchedule(s.name, s.kind, s.interval_seconds) for s in sources.values()],
            clock=clock,
        )
    ]
    replies = desk_from(settings.replies, user_agent=f"earshot/{__version__}")
    if settings.replies.accounts:
        components.periodic.append(reply_reconciliation(replies, components, clock))
    if settings.reports.enabled and settings.reports.teams:
        # Opens its own transactions (claim, then send with none open, then record): not wrapped in one.
        report = weekly_report_job(
            sessions=components.sessions,
            config=settings.reports,
            channels=components.channels,
            brands=[name for name, competitor, _ in settings.brand_roles() if not competitor],
            competitors={b.name: list(b.competitors) for b in settings.brands},
            clock=clock,
        )
        components.periodic.append(
            PeriodicJob(
                name=report.name,
                interval_seconds=report.interval_seconds,
                run=_retry_when_locked(report.name, report.run),
            )
        )
    log.info(
        "built %d source(s), %d channel(s), classifier %s",
        len(sources),
        len(components.channels),
        components.classifier.version,
    )
    return App(settings=settings, engine=engine, components=components, replies=replies)

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
from alerting.routing import Router
from classifiers.base import Classifier
from classifiers.registry import build_classifier
from collectors.base import CollectorContext
from collectors.matching import BrandMatcher, BrandSpec
from collectors.registry import collectors as collector_registry
from earshot.checks import check
from earshot.settings import ConfigError, Settings
from scheduler.components import Components, PeriodicJob, SourceRuntime, utcnow
from storage.db import DatabaseError, check_connection, create_db_engine, pending_revisions, session_factory

log = logging.getLogger(__name__)


@dataclass
class App:
    """A built Earshot: the engine and the pipeline components."""

    settings: Settings
    engine: Engine
    components: Components

    def close(self) -> None:
        """Close collectors, channels and the database pool."""
        for source in self.components.sources.values():
            source.collector.close()
        for channel in self.components.channels.values():
            channel.close()
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
    """One channel instance per configured channel."""
    built: dict[str, Channel] = {}  # type: ignore[type-arg]
    for config in settings.channels:
        cls = channel_registry.get(config.kind)
        built[config.name] = cls(name=config.name, options=cls.options_model(**config.options))
        apply_channel_overrides(built[config.name], config)
    return built


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
        PeriodicJob(name=job.name, interval_seconds=job.interval_seconds, run=job.run)
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
    log.info(
        "built %d source(s), %d channel(s), classifier %s",
        len(sources),
        len(components.channels),
        components.classifier.version,
    )
    return App(settings=settings, engine=engine, components=components)

"""Builders for domain objects and pipeline components used across the suite."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy.orm import Session, sessionmaker

from alerting.channels.base import Channel, ChannelOptions
from alerting.config import AlertingConfig, RouteConfig, RouteMatch, TeamConfig
from alerting.routing import Router
from classifiers.baseline import BaselineClassifier
from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.matching import BrandMatcher, BrandSpec
from domain import Author, DeliveryResult, Engagement, Mention, Notification
from scheduler.components import Components, SourceRuntime

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BRANDS = [
    BrandSpec("Lumora", ("lumora OR @lumora OR #lumoracloud",), ("Vantix",)),
    BrandSpec("Vantix", ("vantix OR @vantix",)),
]


class Clock:
    """A controllable clock."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def mention(
    external_id: str,
    text: str,
    *,
    source: str = "fake",
    brands: Sequence[str] = ("Lumora",),
    followers: int | None = 100,
    at: datetime = T0,
    handle: str = "someone",
    likes: int = 0,
) -> Mention:
    """A collected mention with sensible defaults."""
    return Mention(
        source=source,
        source_kind="fake",
        external_id=external_id,
        text=text,
        author=Author(handle=handle, display_name=handle.title(), followers=followers),
        published_at=at,
        collected_at=at,
        url=f"https://social.example/{external_id}",
        language="en",
        engagement=Engagement(likes=likes),
        brands=tuple(brands),
        queries=("lumora",),
        raw={"id": external_id},
    )


class ScriptedOptions(CollectorOptions):
    """No options."""


class ScriptedCollector(Collector[ScriptedOptions]):
    """A collector whose fetch results (or exceptions) are scripted per call."""

    kind: ClassVar[str] = "fake"
    options_model: ClassVar[type[CollectorOptions]] = ScriptedOptions

    def __init__(self, name: str, script: list[FetchResult | Exception]) -> None:
        super().__init__(
            name=name, options=ScriptedOptions(), context=CollectorContext(matcher=BrandMatcher(BRANDS))
        )
        self.script = list(script)
        self.cursors_seen: list[Cursor | None] = []

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        self.cursors_seen.append(cursor)
        step = self.script.pop(0) if self.script else FetchResult(mentions=[], cursor=dict(cursor or {}))
        if isinstance(step, Exception):
            raise step
        return step


class RecordingOptions(ChannelOptions):
    """No options."""


class RecordingChannel(Channel[RecordingOptions]):
    """A channel that records notifications and answers with scripted results."""

    kind: ClassVar[str] = "recording"
    options_model: ClassVar[type[ChannelOptions]] = RecordingOptions

    def __init__(
        self,
        results: list[DeliveryResult] | None = None,
        on_send: Callable[[Notification], None] | None = None,
    ) -> None:
        super().__init__(name="recording", options=RecordingOptions())
        self.results = list(results or [])
        self.sent: list[Notification] = []
        self.on_send = on_send

    def _send(self, notification: Notification) -> DeliveryResult:
        self.sent.append(notification)
        if self.on_send:
            self.on_send(notification)
        return self.results.pop(0) if self.results else DeliveryResult.delivered()


def routes() -> tuple[list[RouteConfig], list[TeamConfig]]:
    """A small routing table: outages to ops, everything else to support."""
    return (
        [
            RouteConfig(name="outages", team="ops", match=RouteMatch(categories=["outage"])),
            RouteConfig(name="default", team="support", default=True),
        ],
        [TeamConfig(name="ops", channels=["recording"]), TeamConfig(name="support", channels=["recording"])],
    )


def components(
    sessions: sessionmaker[Session],
    collectors: dict[str, Collector[Any]],
    *,
    channel: RecordingChannel | None = None,
    clock: Clock | None = None,
    alerting: AlertingConfig | None = None,
) -> Components:
    """Pipeline components over the test database with the baseline classifier."""
    route_list, teams = routes()
    return Components(
        sessions=sessions,
        sources={
            name: SourceRuntime(name=name, kind="fake", collector=c, interval_seconds=60, jitter_seconds=0)
            for name, c in collectors.items()
        },
        classifier=BaselineClassifier(),
        router=Router(route_list, teams),
        channels={"recording": channel or RecordingChannel()},
        alerting=alerting or AlertingConfig(backoff_seconds=10, max_attempts=3, lease_seconds=60),
        clock=clock or Clock(),
    )

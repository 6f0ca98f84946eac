"""Wire formats between the pipeline's stages: what one stage hands the next, as JSON.

The messages wrap the domain types themselves (pydantic validates stdlib dataclasses), so in-process
mode passes the same objects that scaled-out mode serialises with ``encode``/``decode``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter

from domain import Classification, Mention


@dataclass(frozen=True)
class CollectRequest:
    """The scheduler's order to collect one source, for the run it fired at ``fire_time``."""

    source: str
    fire_time: datetime

    @property
    def msg_id(self) -> str:
        """The deterministic id two scheduler replicas give the same run (JetStream drops the copy)."""
        return f"collect:{self.source}:{self.fire_time.isoformat()}"


@dataclass(frozen=True)
class FetchedBatch:
    """One source run's fetch: its mentions and the cursor to store with them, in one transaction.

    ``lease_holder`` is the worker's lease on the source, released by the store that commits it.
    """

    run_id: str
    source: str
    kind: str
    mentions: list[Mention]
    cursor: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    fetched: int = 0
    failures: list[str] = field(default_factory=list)
    lease_holder: str | None = None


@dataclass(frozen=True)
class ClassifiedBatch:
    """A fetch after dedup and classification: the new mentions, each with its classification."""

    fetched: FetchedBatch
    mentions: list[Mention]
    classifications: list[Classification]
    duplicates: int = 0


@dataclass(frozen=True)
class DeliverWake:
    """Work became due in the outbox (sent after the commit that made it due)."""

    reason: str = "stored"


Message = CollectRequest | FetchedBatch | ClassifiedBatch | DeliverWake
M = TypeVar("M", CollectRequest, FetchedBatch, ClassifiedBatch, DeliverWake)
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {
    kind: TypeAdapter(kind) for kind in (CollectRequest, FetchedBatch, ClassifiedBatch, DeliverWake)
}


def encode(message: Message) -> bytes:
    """The message as JSON bytes."""
    return _ADAPTERS[type(message)].dump_json(message)


def decode(kind: type[M], data: bytes) -> M:
    """Parse JSON bytes into a message of ``kind``; raises pydantic.ValidationError on bad input."""
    value: M = _ADAPTERS[kind].validate_json(data)
    return value

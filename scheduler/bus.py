"""JetStream plumbing for scaled-out mode: streams, consumers, publishing, dead letters and stats.

One work-queue stream carries every stage's messages (``<prefix>.collect``, ``.classify``,
``.store``, ``.deliver``); each stage has one durable pull consumer that every worker shares, so
a message is worked on by one worker at a time and removed once acknowledged. A second stream
keeps dead letters (``<prefix>.dead.<stage>``) until someone reads them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from scheduler.config import ScaleConfig

log = logging.getLogger(__name__)
STAGES = ("collect", "classify", "store", "deliver")
# How long a publish waits for JetStream's ack before it is retried.
PUBLISH_TIMEOUT = 5.0


def work_stream(config: ScaleConfig) -> str:
    """The work-queue stream's name."""
    return f"{config.prefix.upper()}_WORK"


def dead_stream(config: ScaleConfig) -> str:
    """The dead-letter stream's name."""
    return f"{config.prefix.upper()}_DEAD"


def subject(config: ScaleConfig, stage: str) -> str:
    """The subject a stage's messages are published on."""
    return f"{config.prefix}.{stage}"


def durable(config: ScaleConfig, stage: str) -> str:
    """The durable pull consumer every worker of ``stage`` shares."""
    return f"{config.prefix}-{stage}"


async def connect(config: ScaleConfig, *, name: str) -> Client:
    """Connect, then wait and reconnect forever while the server is away (its file store keeps messages)."""
    last: list[float] = [0.0]

    async def error(exc: Exception) -> None:
        # One line, at most every 10 s: the client retries every half second while the server is away.
        now = time.monotonic()
        if now - last[0] >= 10.0:
            last[0] = now
            log.warning("NATS at %s: %s: %s (retrying)", config.nats_url, type(exc).__name__, exc)

    async def reconnected() -> None:
        log.info("NATS at %s: connected again", config.nats_url)

    return await nats.connect(
        config.nats_url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
        error_cb=error,
        reconnected_cb=reconnected,
    )


async def ensure_streams(js: JetStreamContext, config: ScaleConfig) -> None:
    """Create (or update) the streams and the stage consumers; safe to call from every process."""
    work = js_api.StreamConfig(
        name=work_stream(config),
        subjects=[subject(config, stage) for stage in STAGES],
        retention=js_api.RetentionPolicy.WORK_QUEUE,
        storage=js_api.StorageType.FILE,
        duplicate_window=config.duplicate_window_seconds,
    )
    dead = js_api.StreamConfig(
        name=dead_stream(config),
        subjects=[f"{config.prefix}.dead.>"],
        retention=js_api.RetentionPolicy.LIMITS,
        storage=js_api.StorageType.FILE,
        duplicate_window=config.duplicate_window_seconds,
    )
    for stream in (work, dead):
        try:
            await js.add_stream(stream)
        except Exception:
            # Another process created it first, or its settings changed: bring it in line.
            await js.update_stream(stream)
    for stage in STAGES:
        consumer = js_api.ConsumerConfig(
            durable_name=durable(config, stage),
            filter_subject=subject(config, stage),
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=config.ack_wait_seconds,
            # One delivery more than the limit: a message that killed its worker max_deliver times
            # is seen once more, and dead-lettered then without being worked on again.
            max_deliver=config.max_deliver + 1,
            max_ack_pending=1000,
        )
        await js.add_consumer(work_stream(config), consumer)


async def publish(
    js: JetStreamContext, config: ScaleConfig, stage: str, payload: bytes, *, msg_id: str, attempts: int = 20
) -> bool:
    """Publish with a deterministic id (JetStream drops a copy within the duplicate window).

    Retries while the server is away; True once stored (or recognised as a duplicate).
    """
    for attempt in range(attempts):
        try:
            ack = await js.publish(
                subject(config, stage), payload, timeout=PUBLISH_TIMEOUT, headers={"Nats-Msg-Id": msg_id}
            )
            if ack.duplicate:
                log.info("%s already published (by another process, or before a redelivery)", msg_id)
            return True
        except Exception as exc:  # disconnected, timed out, no responders while reconnecting
            log.warning("publish %s to %s failed (attempt %d): %s", msg_id, stage, attempt + 1, exc)
            await asyncio.sleep(min(5.0, 0.25 * 2**attempt))
    return False


async def dead_letter(
    js: JetStreamContext,
    config: ScaleConfig,
    stage: str,
    payload: bytes,
    *,
    seq: int,
    attempts: int,
    error: str,
) -> None:
    """Keep a message that failed ``attempts`` times on the dead-letter stream, with why."""
    headers = {
        "Nats-Msg-Id": f"dead:{stage}:{seq}",
        "Earshot-Stage": stage,
        "Earshot-Attempts": str(attempts),
        "Earshot-Error": error[:1000].replace("\n", " "),
        "Earshot-Failed-At": datetime.now(UTC).isoformat(),
    }
    await js.publish(f"{config.prefix}.dead.{stage}", payload, timeout=PUBLISH_TIMEOUT, headers=headers)


@dataclass(frozen=True)
class DeadLetter:
    """One message on the dead-letter stream."""

    seq: int
    stage: str
    attempts: int
    error: str
    failed_at: str
    size: int
    preview: str


async def dead_letters(
    js: JetStreamContext, config: ScaleConfig, *, limit: int
) -> tuple[int, list[DeadLetter]]:
    """How many dead letters there are, and the newest ``limit`` of them, newest first."""
    try:
        info = await js.stream_info(dead_stream(config))
    except NotFoundError:
        return 0, []
    out: list[DeadLetter] = []
    seq = info.state.last_seq
    while seq >= max(1, info.state.first_seq) and len(out) < limit:
        try:
            msg = await js.get_msg(dead_stream(config), seq)
        except NotFoundError:
            seq -= 1
            continue
        headers: dict[str, Any] = dict(msg.headers or {})
        data = msg.data or b""
        out.append(
            DeadLetter(
                seq=seq,
                stage=str(headers.get("Earshot-Stage", "?")),
                attempts=int(headers.get("Earshot-Attempts", 0)),
                error=str(headers.get("Earshot-Error", "")),
                failed_at=str(headers.get("Earshot-Failed-At", "")),
                size=len(data),
                preview=data[:120].decode("utf-8", "replace"),
            )
        )
        seq -= 1
    return info.state.messages, out


@dataclass(frozen=True)
class StageStats:
    """One stage consumer's state as JetStream reports it (the same for every worker)."""

    stage: str
    pending: int
    ack_pending: int
    redelivered: int


async def stream_stats(js: JetStreamContext, config: ScaleConfig) -> tuple[list[StageStats], int]:
    """Each stage's lag (``num_pending``), in-flight and redelivered messages; and the dead letters."""
    stats = []
    for stage in STAGES:
        try:
            info = await js.consumer_info(work_stream(config), durable(config, stage))
        except NotFoundError:
            continue
        stats.append(
            StageStats(
                stage,
                info.num_pending or 0,
                info.num_ack_pending or 0,
                info.num_redelivered or 0,
            )
        )
    try:
        dead = (await js.stream_info(dead_stream(config))).state.messages
    except NotFoundError:
        dead = 0
    return stats, dead


def read_stats(config: ScaleConfig, *, timeout: float = 3.0) -> tuple[list[StageStats], int]:
    """``stream_stats`` from synchronous code (a metrics scrape): connects, reads, disconnects."""

    async def run() -> tuple[list[StageStats], int]:
        nc = await nats.connect(
            config.nats_url, name="earshot-metrics", max_reconnect_attempts=0, connect_timeout=2
        )
        try:
            return await stream_stats(nc.jetstream(timeout=timeout), config)
        finally:
            await nc.close()

    return asyncio.run(asyncio.wait_for(run(), timeout))

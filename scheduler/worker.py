"""Scaled-out worker: pulls each stage's messages from JetStream and runs the same stage functions.

Every message is acknowledged only after its work committed (or its next message was published),
so a worker killed at any moment leaves the message to be redelivered after ``ack_wait``; every
stage is idempotent, so the redelivery stores and sends nothing twice. A failing message is retried
with back-off and, after ``max_deliver`` attempts, moved to the dead-letter stream so it cannot
block the stage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from scheduler import bus, metrics, stages
from scheduler.components import Components
from scheduler.config import ScaleConfig
from scheduler.delivery import drain
from scheduler.messages import ClassifiedBatch, CollectRequest, DeliverWake, FetchedBatch, decode, encode
from scheduler.pipeline import classify_fetched, describe_error, record_failure, settle_run, store_classified
from storage import sources as source_repo

log = logging.getLogger(__name__)
# What a handler asks to publish once it succeeded: (stage, payload, message id).
Out = tuple[str, bytes, str]
Handler = Callable[[bytes], list[Out]]


def run_holder(request: CollectRequest) -> str:
    """The lease holder of one collect order: the same for a redelivery, so a worker taking over keeps it."""
    return "run-" + hashlib.sha256(request.msg_id.encode()).hexdigest()[:20]


class Worker:
    """One worker process's consumers, one loop per stage, over this process's components."""

    def __init__(
        self,
        components: Components,
        config: ScaleConfig,
        *,
        deliver_interval_seconds: float = 5.0,
        stage_names: tuple[str, ...] = bus.STAGES,
    ) -> None:
        self.components = components
        self.config = config
        self.deliver_interval_seconds = deliver_interval_seconds
        self.stage_names = stage_names
        self.handlers: dict[str, Handler] = {
            "collect": self.collect,
            "classify": self.classify,
            "store": self.store,
            "deliver": self.deliver,
        }

    # --- the stages, synchronous, run in a thread so the event loop keeps acking and heart-beating

    def collect(self, data: bytes) -> list[Out]:
        """Lease the source, fetch since its cursor, and hand the batch (with the new cursor) on."""
        request = decode(CollectRequest, data)
        comps = self.components
        source = comps.sources.get(request.source)
        if source is None:
            log.warning("collect: no source named %r is configured here; dropped", request.source)
            return []
        holder = run_holder(request)
        lease = timedelta(seconds=self.config.source_lease_seconds)
        with comps.sessions() as session, session.begin():
            why = source_repo.claim_run(session, source.name, holder=holder, now=comps.clock(), lease=lease)
        if why is not None:
            log.info("source %s: not collected now: %s", source.name, why)
            metrics.STAGE_MESSAGES.labels("collect", "skipped").inc()
            return []
        with comps.sessions() as session:
            cursor = source_repo.get_cursor(session, source.name)
        try:
            result = stages.collect(source, cursor)
        except Exception as exc:  # a collector failure is the run's outcome, not the message's
            detail = describe_error(exc)
            log.warning("source %s failed: %s", source.name, detail)
            record_failure(
                comps.sessions, source=source.name, kind=source.kind, error=detail, now=comps.clock()
            )
            settle_run(
                comps.sessions,
                source.name,
                holder=holder,
                failed=True,
                retry_at=getattr(exc, "until", None),
                interval=source.interval_seconds,
                cap=self.config.max_backoff_seconds,
                now=comps.clock(),
            )
            return []
        batch = stages.fetched_batch(source, result, run_id=holder, lease_holder=holder)
        comps.observe_stage("collect", len(batch.mentions))
        return [("classify", encode(batch), f"fetched:{holder}")]

    def classify(self, data: bytes) -> list[Out]:
        """Dedup against the database and classify; hand the classified batch to the store stage."""
        batch = decode(FetchedBatch, data)
        classified = classify_fetched(self.components, batch)
        return [("store", encode(classified), f"classified:{batch.run_id}")]

    def store(self, data: bytes) -> list[Out]:
        """Store, cluster, route and set the cursor in one transaction; wake delivery if alerts are due."""
        batch = decode(ClassifiedBatch, data)
        comps = self.components
        report = store_classified(comps, batch)
        comps.observe_stage("store", report.new)
        comps.counters.add(runs=1, fetched=batch.fetched.fetched, stored=report.new, alerts=report.alerts)
        if not report.alerts:
            return []
        return [("deliver", encode(DeliverWake()), f"wake:{batch.fetched.run_id}")]

    def deliver(self, data: bytes) -> list[Out]:
        """Send what is due in the outbox (rows are claimed, so workers never send one twice at once)."""
        decode(DeliverWake, data)
        report = drain(self.components, max_passes=10)
        self.components.observe_stage("deliver", report.delivered)
        return []

    def give_up_run(self, stage: str, data: bytes, error: str) -> None:
        """A dead-lettered batch's run is over: record it in source health and free the source."""
        comps = self.components
        if stage == "collect":
            request = decode(CollectRequest, data)
            with comps.sessions() as session, session.begin():
                source_repo.release_run(
                    session, request.source, holder=run_holder(request), now=comps.clock()
                )
            return
        if stage == "classify":
            fetched = decode(FetchedBatch, data)
        elif stage == "store":
            fetched = decode(ClassifiedBatch, data).fetched
        else:
            return
        detail = f"{stage} gave up after {self.config.max_deliver} attempts: {error}"
        record_failure(
            comps.sessions, source=fetched.source, kind=fetched.kind, error=detail, now=comps.clock()
        )
        if fetched.lease_holder is not None:
            with comps.sessions() as session, session.begin():
                source_repo.release_run(
                    session, fetched.source, holder=fetched.lease_holder, now=comps.clock()
                )

    # --- the loops

    async def run(self, stop: asyncio.Event) -> None:
        """Consume every configured stage until ``stop`` is set."""
        nc = await bus.connect(self.config, name=f"earshot-worker-{self.components.instance}")
        js = nc.jetstream()
        await bus.ensure_streams(js, self.config)
        loops = [asyncio.create_task(self._consume(js, stage, stop)) for stage in self.stage_names]
        if "deliver" in self.stage_names:
            loops.append(asyncio.create_task(self._poll_outbox(stop)))
        log.info("worker consuming %s from %s", ", ".join(self.stage_names), self.config.nats_url)
        try:
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            with contextlib.suppress(Exception):
                await nc.close()

    async def _consume(self, js: JetStreamContext, stage: str, stop: asyncio.Event) -> None:
        sub = None
        batch = self.config.fetch_batch if stage == "classify" else 1
        while not stop.is_set():
            try:
                if sub is None:
                    sub = await js.pull_subscribe(
                        bus.subject(self.config, stage),
                        durable=bus.durable(self.config, stage),
                        stream=bus.work_stream(self.config),
                    )
                msgs = await sub.fetch(batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:  # disconnected or reconnecting: try again shortly
                log.debug("%s: fetch failed: %s", stage, exc)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self._handle(js, stage, msg)

    async def _handle(self, js: JetStreamContext, stage: str, msg: Msg) -> None:
        meta = msg.metadata
        attempts = meta.num_delivered or 1
        seq = meta.sequence.stream if meta.sequence is not None else 0
        if attempts > 1:
            metrics.REDELIVERIES.labels(stage).inc()
        if attempts > self.config.max_deliver:
            # Every earlier attempt died without an answer (a worker killed, a hang past ack_wait).
            await self._dead(js, stage, msg, seq, attempts - 1, "no worker finished it (killed or timed out)")
            return
        keepalive = asyncio.create_task(self._keep_alive(msg))
        try:
            outs = await asyncio.to_thread(self.handlers[stage], msg.data)
            for next_stage, payload, msg_id in outs:
                if not await bus.publish(js, self.config, next_stage, payload, msg_id=msg_id):
                    raise RuntimeError(f"could not publish to {next_stage}")
        except Exception as exc:
            error = describe_error(exc)
            log.warning(
                "%s: message %d failed (attempt %d of %d): %s",
                stage,
                seq,
                attempts,
                self.config.max_deliver,
                error,
            )
            if attempts >= self.config.max_deliver:
                await self._dead(js, stage, msg, seq, attempts, error)
            else:
                delays = self.config.backoff_seconds or [1.0]
                with contextlib.suppress(Exception):
                    await msg.nak(delay=delays[min(attempts - 1, len(delays) - 1)])
                metrics.STAGE_MESSAGES.labels(stage, "retry").inc()
            return
        finally:
            keepalive.cancel()
        with contextlib.suppress(Exception):  # a lost ack only means one idempotent redelivery
            await msg.ack()
        metrics.STAGE_MESSAGES.labels(stage, "ok").inc()

    async def _dead(
        self, js: JetStreamContext, stage: str, msg: Msg, seq: int, attempts: int, error: str
    ) -> None:
        try:
            await bus.dead_letter(js, self.config, stage, msg.data, seq=seq, attempts=attempts, error=error)
        except Exception as exc:  # not stored as dead: leave it to be redelivered rather than lose it
            log.error("%s: could not dead-letter message %d: %s", stage, seq, exc)
            return
        with contextlib.suppress(Exception):
            await msg.ack()
        with contextlib.suppress(Exception):  # best effort: the lease also expires by itself
            await asyncio.to_thread(self.give_up_run, stage, msg.data, error)
        metrics.DEAD_LETTERS.labels(stage).inc()
        metrics.STAGE_MESSAGES.labels(stage, "dead").inc()
        log.error("%s: message %d dead-lettered after %d attempts: %s", stage, seq, attempts, error)

    async def _keep_alive(self, msg: Msg) -> None:
        # A long batch (a slow model, a slow source) is still alive: tell JetStream before ack_wait.
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(max(0.5, self.config.ack_wait_seconds / 3))
                await msg.in_progress()

    async def _poll_outbox(self, stop: asyncio.Event) -> None:
        # Rows held for later (group_wait, quiet hours, retries) come due with no message.
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.deliver_interval_seconds)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(drain, self.components, max_passes=10)
            except Exception:
                log.exception("outbox: unexpected error")

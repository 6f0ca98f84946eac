"""What `earshot run --role` starts in this process, in each mode, and how it stops.

``in_process`` mode: ``all`` is today's single process (APScheduler runs every stage here) and
``web`` serves only the web app. ``nats`` mode: ``scheduler`` publishes collect orders, ``worker``
runs the stages on JetStream messages, ``web`` serves the web app, and ``all`` runs the three in
one process (the same code paths as separate processes, for a small deployment or a test).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from classifiers.base import ClassifierInput
from domain import Classification
from scheduler import metrics
from scheduler.components import Components
from scheduler.config import ScaleConfig
from scheduler.heartbeat import HEARTBEAT

log = logging.getLogger(__name__)
Role = Literal["all", "scheduler", "worker", "web"]
ROLES: tuple[Role, ...] = ("all", "scheduler", "worker", "web")


class RoleError(ValueError):
    """A role that this mode cannot run."""


def check_role(role: str, config: ScaleConfig) -> Role:
    """The role, validated against the mode; RoleError with the fix otherwise."""
    if role not in ROLES:
        raise RoleError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if config.mode == "in_process" and role in ("scheduler", "worker"):
        raise RoleError(
            f"role {role} needs scale.mode: nats (with scale.nats_url); in_process runs --role all"
        )
    return role


class NoClassifier:
    """Stands in for the model in roles that never classify (scheduler, web): no memory spent on it."""

    version = "not-loaded"

    def predict_batch(self, items: Sequence[ClassifierInput]) -> list[Classification]:
        """Never called in these roles; refuse loudly if it is."""
        raise RuntimeError("this role does not classify (the model is loaded by workers)")


def needs_classifier(role: Role, config: ScaleConfig) -> bool:
    """Whether this process runs the classify stage (and so must load the model)."""
    return (config.mode == "in_process" and role == "all") or role in ("all", "worker")


def serves_web(role: Role) -> bool:
    """Whether this role serves the dashboard and API."""
    return role in ("all", "web")


@dataclass
class Running:
    """What a role started, so ``stop_role`` can drain it."""

    role: Role
    mode: str
    scheduler: object | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop_event: asyncio.Event | None = None
    thread: threading.Thread | None = None
    stuck: dict[str, int] = field(default_factory=dict)


def start_role(
    role: Role, components: Components, config: ScaleConfig, *, deliver_interval_seconds: float
) -> Running:
    """Start the background work of ``role`` (nothing for ``web``); return a handle to stop it."""
    if role == "web":
        return Running(role, config.mode)
    if config.mode == "in_process":
        from scheduler.runner import start

        return Running(
            role, config.mode, scheduler=start(components, deliver_interval_seconds=deliver_interval_seconds)
        )
    metrics.serve(config.metrics_port)
    ready = threading.Event()
    running = Running(role, config.mode)

    async def main() -> None:
        running.loop = asyncio.get_running_loop()
        running.stop_event = asyncio.Event()
        ready.set()
        await _nats_role(role, components, config, running.stop_event, deliver_interval_seconds)

    def target() -> None:
        try:
            asyncio.run(main())
        except Exception:
            log.exception("%s role stopped with an error", role)
        finally:
            ready.set()

    running.thread = threading.Thread(target=target, name=f"earshot-{role}", daemon=True)
    running.thread.start()
    ready.wait(30)
    return running


async def _nats_role(
    role: Role,
    components: Components,
    config: ScaleConfig,
    stop: asyncio.Event,
    deliver_interval_seconds: float,
) -> None:
    from scheduler.dispatcher import run_scheduler
    from scheduler.pipeline import warm_up
    from scheduler.runner import bound_neardup
    from scheduler.worker import Worker

    tasks = []
    if role in ("all", "scheduler"):
        tasks.append(
            run_scheduler(
                components, config, stop, tick_seconds=deliver_interval_seconds, heartbeat=HEARTBEAT
            )
        )
    if role in ("all", "worker"):
        if components.cluster is None:
            await asyncio.to_thread(warm_up, components)
            bound_neardup(components)
        worker = Worker(components, config, deliver_interval_seconds=deliver_interval_seconds)
        tasks.append(worker.run(stop))
    await asyncio.gather(*tasks)


def stop_role(running: Running, *, grace_seconds: float = 5.0) -> dict[str, int]:
    """Stop and drain what ``start_role`` started; per pool, how many jobs were abandoned."""
    if running.mode == "in_process" and running.scheduler is not None:
        from scheduler.runner import Scheduler, stop

        assert isinstance(running.scheduler, Scheduler)
        return stop(running.scheduler, grace_seconds=grace_seconds)
    if running.loop is not None and running.stop_event is not None:
        running.loop.call_soon_threadsafe(running.stop_event.set)
    if running.thread is not None:
        running.thread.join(grace_seconds)
        if running.thread.is_alive():
            return {running.role: 1}
    return {}


def wait_forever(stopping: threading.Event, running: Running) -> bool:
    """Block until told to stop; False when the role's thread ended by itself (an error)."""
    while not stopping.wait(0.5):
        if running.thread is not None and not running.thread.is_alive():
            log.error("the %s role stopped on its own; exiting", running.role)
            return False
    return True

"""Scaled-out mode against a real NATS JetStream and PostgreSQL, with real processes.

Each test runs its own nats-server (so it can be restarted) and earshot processes started through
``tests.scheduler.scale_launcher``; nothing waits on a sleep, every wait polls with a deadline.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from bench.counting import story
from earshot.cli import app
from scheduler.messages import CollectRequest, decode
from storage.models import AlertRow, DeliveryRow, MentionRow
from storage.scale_tables import SourceStateRow
from tests.scheduler.scale_helpers import (
    NatsServer,
    config_text,
    consumer_delivered,
    processes,
    publish_raw,
    stream_messages,
    wait_until,
)

pytestmark = pytest.mark.slow
# Several processes share one database: these run on PostgreSQL only.
ON_POSTGRES = pytest.mark.parametrize(
    "engine", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _write_config(tmp_path: Path, engine: Engine, server: NatsServer, **kwargs: object) -> Path:
    path = tmp_path / "earshot.yaml"
    url = engine.url.render_as_string(hide_password=False)
    path.write_text(
        config_text(database_url=url, nats_url=server.url, alerts_path=tmp_path / "alerts.jsonl", **kwargs),  # type: ignore[arg-type]
        encoding="utf-8",
    )
    return path


def _count(engine: Engine, model: type, *where: object) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def _sent(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _all_delivered(engine: Engine, expected_alerts: int) -> bool:
    alerts = _count(engine, AlertRow)
    delivered = _count(engine, DeliveryRow, DeliveryRow.status == "delivered")
    return alerts == expected_alerts and delivered == expected_alerts


def _assert_once_each(engine: Engine, tmp_path: Path, sources: dict[str, int]) -> None:
    """Every mention stored once, one alert per story, each alert sent (same key at most twice)."""
    total = sum(sources.values())
    with engine.connect() as connection:
        ids = list(connection.scalars(select(MentionRow.external_id)))
        keys = list(connection.scalars(select(AlertRow.group_key)))
    assert sorted(ids) == sorted(f"{name}-{n}" for name, count in sources.items() for n in range(count))
    assert len(keys) == total and len(set(keys)) == total, "two alerts for one story"
    sent = _sent(tmp_path)
    by_key = Counter(str(line["idempotency_key"]) for line in sent)
    by_alert = {int(line["alert_id"]) for line in sent}  # type: ignore[call-overload]
    assert len(by_alert) == total, "an alert was never delivered"
    assert max(by_key.values()) <= 2, "a notification went out more than twice"
    assert len(by_key) == total, "one alert was announced under two keys"


@ON_POSTGRES
@pytest.mark.parametrize("stage", ["collect", "classify", "store", "deliver"])
def test_a_worker_killed_mid_stage_loses_nothing_and_doubles_nothing(
    tmp_path: Path, engine: Engine, nats_server: NatsServer, stage: str
) -> None:
    sources = {"alpha": 12, "beta": 8}
    config = _write_config(
        tmp_path, engine, nats_server, sources={name: (n, n, 3600) for name, n in sources.items()}
    )
    with processes(tmp_path, config) as procs:
        doomed = procs.start("worker-doomed", "run", "--role", "worker", stall=stage)
        go = tmp_path / "go"
        procs.start("worker-survivor", "run", "--role", "worker", hold=go)
        procs.start("scheduler", "run", "--role", "scheduler")
        marker = f"{stage}-{doomed.pid}"
        try:
            wait_until(
                lambda: (tmp_path / marker).exists() or doomed.poll() is not None,
                what=f"the first worker to stall in {stage}",
            )
        except AssertionError:
            raise AssertionError(procs.logs()) from None
        assert doomed.poll() is None, procs.logs()
        go.write_text("go", encoding="utf-8")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(30)
        try:
            wait_until(
                lambda: _all_delivered(engine, sum(sources.values())) and _count(engine, MentionRow) == 20,
                what="every mention stored and every alert delivered by the surviving worker",
            )
        except AssertionError:
            raise AssertionError(procs.logs()) from None
    _assert_once_each(engine, tmp_path, sources)
    # The killed run's lease was handed over or released: no source is left leased.
    assert _count(engine, SourceStateRow, SourceStateRow.lease_holder.is_not(None)) == 0


@ON_POSTGRES
def test_two_schedulers_publish_each_collect_once(
    tmp_path: Path, engine: Engine, nats_server: NatsServer
) -> None:
    config = _write_config(tmp_path, engine, nats_server, sources={"alpha": (5, 5, 2), "beta": (5, 5, 3)})
    with processes(tmp_path, config) as procs:
        procs.start("scheduler-1", "run", "--role", "scheduler")
        procs.start("scheduler-2", "run", "--role", "scheduler")

        def orders() -> list[CollectRequest]:
            messages = stream_messages(nats_server.url, "T_WORK")
            return [decode(CollectRequest, data) for subject, data, _ in messages if subject == "t.collect"]

        def both_published_a_duplicate() -> bool:
            logs = procs.logs()
            return logs.count("already published") >= 2 and len({r.fire_time for r in orders()}) >= 4

        try:
            wait_until(both_published_a_duplicate, what="both schedulers firing the same runs")
        except AssertionError:
            raise AssertionError(procs.logs()) from None
        seen = orders()
    per_run = Counter((r.source, r.fire_time) for r in seen)
    assert per_run and max(per_run.values()) == 1, per_run
    assert {r.source for r in seen} == {"alpha", "beta"}


@ON_POSTGRES
def test_a_poison_message_is_dead_lettered_without_blocking(
    tmp_path: Path, engine: Engine, nats_server: NatsServer
) -> None:
    config = _write_config(tmp_path, engine, nats_server, sources={"alpha": (10, 5, 2)}, max_deliver=3)
    with processes(tmp_path, config) as procs:
        procs.start("worker", "run", "--role", "worker")
        # The worker created the streams; a batch no stage can read goes in ahead of the real work.
        wait_until(lambda: "worker consuming" in procs.logs(), what="the worker to start")
        publish_raw(nats_server.url, "t.classify", b'{"run_id": "poison", "source": 1', "poison-1")
        procs.start("scheduler", "run", "--role", "scheduler")
        try:
            wait_until(lambda: _all_delivered(engine, 10), what="the good work to get through")
            dead = wait_until(lambda: stream_messages(nats_server.url, "T_DEAD"), what="the dead letter")
        except AssertionError:
            raise AssertionError(procs.logs()) from None
    assert len(dead) == 1
    subject, data, headers = dead[0]
    assert subject == "t.dead.classify" and data.startswith(b'{"run_id": "poison"')
    assert headers["Earshot-Attempts"] == "3" and "ValidationError" in headers["Earshot-Error"]
    listed = CliRunner().invoke(app, ["--config", str(config), "dead-letters"])
    assert listed.exit_code == 0, listed.output
    assert "1 dead letter(s) on T_DEAD" in listed.output and "classify after 3 attempt(s)" in listed.output


@ON_POSTGRES
def test_workers_reconnect_after_a_nats_restart_and_lose_nothing(
    tmp_path: Path, engine: Engine, nats_server: NatsServer
) -> None:
    # Five mentions a run, a run a second: the restart lands in the middle of the work.
    config = _write_config(tmp_path, engine, nats_server, sources={"alpha": (40, 5, 1)})
    with processes(tmp_path, config) as procs:
        procs.start("worker", "run", "--role", "worker")
        procs.start("scheduler", "run", "--role", "scheduler")
        try:
            wait_until(lambda: _count(engine, MentionRow) >= 5, what="the first runs to be stored")
            nats_server.stop()
            nats_server.start()
            wait_until(lambda: _all_delivered(engine, 40), what="every run after the restart")
        except AssertionError:
            raise AssertionError(procs.logs()) from None
    _assert_once_each(engine, tmp_path, {"alpha": 40})


def test_story_texts_are_distinct_stories() -> None:
    # The tests above count one alert per mention: that needs no two texts to be near-duplicates.
    from collectors.neardup import similarity

    texts = [story("alpha", n) for n in range(12)]
    assert max(similarity(a, b) for i, a in enumerate(texts) for b in texts[i + 1 :]) < 0.6


@ON_POSTGRES
def test_role_all_in_nats_mode_runs_every_stage_in_one_process(
    tmp_path: Path, engine: Engine, nats_server: NatsServer
) -> None:
    config = _write_config(tmp_path, engine, nats_server, sources={"alpha": (6, 3, 1)})
    with processes(tmp_path, config) as procs:
        procs.start("all", "run", "--role", "all")
        try:
            wait_until(lambda: _all_delivered(engine, 6), what="every mention through one nats-mode process")
        except AssertionError:
            raise AssertionError(procs.logs()) from None
    _assert_once_each(engine, tmp_path, {"alpha": 6})
    # The stages went through JetStream, not around it: each stage's consumer delivered messages.
    delivered = {s: consumer_delivered(nats_server.url, "T_WORK", f"t-{s}") for s in ("classify", "store")}
    assert min(delivered.values()) >= 2, delivered  # 6 mentions, 3 a run
    assert "worker consuming collect, classify, store, deliver" in procs.logs()

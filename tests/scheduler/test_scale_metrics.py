"""/metrics shows the pipeline's stages: this process's throughput and model latency, and (nats mode)
JetStream's lag, in-flight, redelivered and dead-lettered messages, read with Prometheus's parser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from collectors.base import FetchResult
from earshot.cli import app
from scheduler import bus, metrics
from scheduler.config import ScaleConfig
from scheduler.pipeline import run_source
from tests.factories import ScriptedCollector, components, mention
from tests.scheduler.scale_helpers import NatsServer, publish_raw, stream_messages
from tests.web.conftest import build_app, signed_in

OUTAGE = "lumora is down again, sync stuck and 500 errors everywhere"


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


@pytest.fixture
def bus_config(tmp_path: Path) -> Iterator[tuple[NatsServer, ScaleConfig]]:
    server = NatsServer(tmp_path)
    server.start()
    config = ScaleConfig(mode="nats", nats_url=server.url, prefix="m", max_deliver=2)
    yield server, config
    metrics.BUS.config = None
    server.stop()


def test_metrics_count_each_stage_and_the_model_in_this_process(sessions: sessionmaker[Session]) -> None:
    with signed_in(build_app(sessions), sessions) as client:
        before = _samples(client)
        batch = FetchResult([mention(str(n), f"{OUTAGE} {n}") for n in range(3)], {"n": 1})
        run_source(components(sessions, {"fake": ScriptedCollector("fake", [batch])}), "fake")
        after = _samples(client)

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    assert grew("earshot_stage_items_total", (("stage", "classify"),)) == 3
    assert grew("earshot_stage_items_total", (("stage", "store"),)) == 3
    assert grew("earshot_model_batch_seconds_count") == 1  # one batch of 3 (batch_size 200)
    assert ("earshot_stage_lag", (("stage", "classify"),)) not in after  # in-process: no bus


@pytest.mark.slow
def test_metrics_read_lag_and_dead_letters_from_jetstream(
    sessions: sessionmaker[Session], bus_config: tuple[NatsServer, ScaleConfig]
) -> None:
    server, config = bus_config

    async def setup() -> None:
        nc = await bus.connect(config, name="test")
        try:
            js = nc.jetstream()
            await bus.ensure_streams(js, config)
            await bus.dead_letter(js, config, "store", b"{}", seq=7, attempts=2, error="ValueError: bad")
        finally:
            await nc.close()

    asyncio.run(setup())
    for n in range(3):
        publish_raw(server.url, "m.classify", b"{}", f"waiting-{n}")
    metrics.watch_bus(config)
    client = signed_in(build_app(sessions), sessions)
    with client:
        samples = _samples(client)
    assert samples[("earshot_stage_lag", (("stage", "classify"),))] == 3
    assert samples[("earshot_stage_lag", (("stage", "store"),))] == 0
    assert samples[("earshot_dead_letters", ())] == 1
    assert samples[("earshot_bus_up", ())] == 1
    assert len(stream_messages(server.url, "M_WORK")) == 3
    server.stop()
    with client:
        down = _samples(client)
    assert down[("earshot_bus_up", ())] == 0  # the scrape still answers, without the bus figures
    server.start()


def test_worker_and_scheduler_roles_need_nats_mode(tmp_path: Path) -> None:
    config = tmp_path / "earshot.yaml"
    config.write_text(f'database: {{url: "sqlite:///{tmp_path / "e.db"}"}}\n', encoding="utf-8")
    for role in ("worker", "scheduler"):
        result = CliRunner().invoke(app, ["--config", str(config), "run", "--role", role])
        assert result.exit_code == 2
        assert f"role {role} needs scale.mode: nats" in result.output
    result = CliRunner().invoke(app, ["--config", str(config), "run", "--role", "everything"])
    assert result.exit_code == 2 and "unknown role 'everything'" in result.output
    result = CliRunner().invoke(app, ["--config", str(config), "dead-letters"])
    assert result.exit_code == 2 and "only with scale.mode: nats" in result.output

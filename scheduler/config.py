"""Settings for running the pipeline in one process or scaled out over NATS JetStream."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ScaleConfig(BaseModel):
    """How the pipeline's stages are run: in this process (the default) or as separate roles."""

    model_config = ConfigDict(extra="forbid")

    # in_process: `earshot run` calls every stage itself. nats: the scheduler publishes collect
    # messages and workers pull each stage's messages from JetStream.
    mode: Literal["in_process", "nats"] = "in_process"
    nats_url: str = "nats://127.0.0.1:4222"
    # Stream and subject prefix; two deployments on one NATS server need different prefixes.
    prefix: str = Field("earshot", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # Deliveries of one message before it goes to the dead-letter stream.
    max_deliver: int = Field(5, ge=1, le=100)
    # How long a worker may hold a message unacknowledged before JetStream redelivers it.
    ack_wait_seconds: float = Field(120.0, ge=1.0)
    # Redelivery delays after a failure (nak), one per attempt; the last repeats.
    backoff_seconds: list[float] = Field(default_factory=lambda: [1.0, 5.0, 30.0])
    # JetStream drops a second publish with the same Nats-Msg-Id within this window.
    duplicate_window_seconds: float = Field(600.0, ge=1.0)
    # Messages a classify worker pulls at once. Each already carries a whole source run, classified
    # in model batches of classifier.batch_size; pulling more would only hold them from idle workers.
    fetch_batch: int = Field(1, ge=1, le=256)
    # How long a source stays leased to the worker collecting it if that worker never finishes.
    source_lease_seconds: float = Field(600.0, ge=10.0)
    # Longest wait after consecutive failures of a source (doubling from its interval).
    max_backoff_seconds: float = Field(3600.0, ge=1.0)
    # Notifications one outbox pass sends at once, on PostgreSQL (SQLite always sends one at a time).
    deliver_concurrency: int = Field(4, ge=1, le=32)
    # Where near-duplicates are looked up: this process's memory, or tables every worker shares.
    # auto: the database in nats mode (workers must see each other's mentions), memory otherwise.
    neardup: Literal["auto", "memory", "database"] = "auto"
    # Workers and schedulers serve their own Prometheus metrics here (0 = not served).
    metrics_port: int = Field(0, ge=0, le=65535)

"""Helpers for the scaled-out tests: a private NATS server, earshot processes, polling with deadlines."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats

REPO = Path(__file__).resolve().parents[2]
# Generous: a loaded 2-core machine starts a Python process in seconds, not milliseconds.
DEADLINE = 90.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_binary() -> str:
    """The nats-server executable (scripts/services.sh installs it)."""
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if found is None:
        raise RuntimeError("these tests need nats-server (bash scripts/services.sh installs and starts it)")
    return found


class NatsServer:
    """A private JetStream server on its own port and store, so tests can restart it at will."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.store = root / "jetstream"
        self.log = root / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [
                nats_binary(),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store),
                "-l",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._accepts, what="nats-server to accept connections", deadline=30)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait until it is gone."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None


def wait_until(predicate: Callable[[], Any], *, what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``deadline`` s."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:.0f}s waiting for {what}")
        time.sleep(0.2)


class Processes:
    """Earshot processes started through the test launcher; all killed at the end."""

    def __init__(self, root: Path, config: Path) -> None:
        self.root = root
        self.config = config
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, *args: str, stall: str | None = None, hold: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``earshot --config CONFIG ARGS`` (stalling in one stage, or held), logging to a file."""
        launcher = [sys.executable, "-m", "tests.scheduler.scale_launcher"]
        if stall is not None:
            launcher += ["--stall", stall, "--marks", str(self.root)]
        if hold is not None:
            launcher += ["--hold", str(hold)]
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [*launcher, "--", "--config", str(self.config), *args],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def logs(self) -> str:
        """Every process's output, for a failure message."""
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.root.glob("*.log")
        )

    def close(self) -> None:
        """Kill whatever is still running."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(30)


@contextmanager
def processes(root: Path, config: Path) -> Iterator[Processes]:
    """A ``Processes`` that kills its processes on the way out."""
    group = Processes(root, config)
    try:
        yield group
    finally:
        group.close()


def stream_messages(url: str, stream: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """Every message left on ``stream``: (subject, data, headers)."""

    async def read() -> list[tuple[str, bytes, dict[str, str]]]:
        nc = await nats.connect(url, max_reconnect_attempts=0)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except Exception:
                    continue  # acknowledged (work queue) or deleted
                out.append((msg.subject or "", msg.data or b"", dict(msg.headers or {})))
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def publish_raw(url: str, subject: str, payload: bytes, msg_id: str) -> None:
    """Publish one message to JetStream as-is (a poison message, for instance)."""

    async def send() -> None:
        nc = await nats.connect(url, max_reconnect_attempts=0)
        try:
            await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": msg_id}, timeout=10)
        finally:
            await nc.close()

    asyncio.run(send())


def config_text(
    *,
    database_url: str,
    nats_url: str,
    alerts_path: Path,
    sources: dict[str, tuple[int, int, float]],
    max_deliver: int = 3,
) -> str:
    """An earshot.yaml in nats mode: counting sources {name: (total, per_fetch, interval)}, jsonl alerts."""
    source_lines = "\n".join(
        f"  - {{name: {name}, kind: counting, interval_seconds: {interval}, jitter_seconds: 0, "
        f"options: {{total: {total}, per_fetch: {per_fetch}}}}}"
        for name, (total, per_fetch, interval) in sources.items()
    )
    return f"""
database: {{url: "{database_url}"}}
brands: [{{name: Lumora, queries: [lumora]}}]
sources:
{source_lines}
classifier: {{kind: baseline}}
teams: [{{name: ops, channels: [file]}}]
channels: [{{name: file, kind: jsonl, options: {{path: "{alerts_path}"}}}}]
routes: [{{name: default, team: ops, default: true}}]
alerting: {{lease_seconds: 3, backoff_seconds: 1}}
pipeline: {{deliver_interval_seconds: 1}}
web: {{enabled: false}}
scale:
  mode: nats
  nats_url: "{nats_url}"
  prefix: t
  ack_wait_seconds: 2
  max_deliver: {max_deliver}
  backoff_seconds: [0.2]
  source_lease_seconds: 30
"""


def consumer_delivered(url: str, stream: str, durable: str) -> int:
    """How many messages a durable consumer has delivered so far (its consumer sequence)."""

    async def read() -> int:
        nc = await nats.connect(url, max_reconnect_attempts=0)
        try:
            info = await nc.jetstream().consumer_info(stream, durable)
            return int(info.delivered.consumer_seq or 0) if info.delivered is not None else 0
        finally:
            await nc.close()

    return asyncio.run(read())

"""`earshot run` stops on SIGTERM, promptly, even while a source is stuck in a read."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from earshot.cli import app

# The promise is 10 s (uvicorn 3 s + drain 5 s); the test allows more so a loaded machine's slow
# interpreter teardown cannot fail it. Before the fix the process waited for the stuck read (15 min).
EXIT_CEILING = 45.0


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "earshot.yaml"
    path.write_text(
        f"""
database: {{url: "sqlite:///{tmp_path / "earshot.db"}"}}
brands: [{{name: Lumora, queries: [lumora]}}]
sources:
  - name: slow
    kind: rss
    interval_seconds: 600
    timeout_seconds: 900
    options: {{feeds: ["http://127.0.0.1:{port}/feed.xml"], allow_private: true, timeout_seconds: 900}}
classifier: {{kind: baseline}}
teams: [{{name: support, channels: [file]}}]
channels: [{{name: file, kind: jsonl, options: {{path: "{tmp_path / "alerts.jsonl"}"}}}}]
routes: [{{name: default, team: support, default: true}}]
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("web", [False, True])
def test_sigterm_exits_promptly_with_a_collector_stuck(tmp_path: Path, web: bool) -> None:
    # A feed server that accepts the connection, reads the request and never answers.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(120)
    config = _config(tmp_path, server.getsockname()[1])
    assert CliRunner().invoke(app, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    port = _free_port()
    web_args = ["--web", "--host", "127.0.0.1", "--port", str(port)] if web else ["--no-web"]
    earshot = Path(sys.executable).parent / "earshot"
    process = subprocess.Popen(
        [str(earshot), "--config", str(config), "run", *web_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        connection, _ = server.accept()  # the rss source is now blocked reading from us
        connection.recv(4096)
        if web:
            # Serving, and healthy: the heartbeat ticks on its own pool while the source is stuck.
            assert _healthz(port, process) == 200
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            code = process.wait(timeout=EXIT_CEILING)
        except subprocess.TimeoutExpired:
            pytest.fail(f"earshot run did not exit within {EXIT_CEILING:.0f}s of SIGTERM")
        print(f"exited {time.monotonic() - started:.1f}s after SIGTERM")
        _, err = process.communicate()
        assert code == 0, err
        assert "abandoned: collect 1" in err  # the stuck run was left behind, and said so
        connection.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        server.close()


def _healthz(port: int, process: subprocess.Popen[str]) -> int:
    for _ in range(600):
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
        except httpx.TransportError:
            assert process.poll() is None, "earshot run exited during start-up"
            time.sleep(0.1)  # polling for start-up, not a timing assertion
    pytest.fail("the web server never started")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

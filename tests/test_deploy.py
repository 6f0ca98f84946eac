"""The deployment as docker-compose describes it: the same commands, run here as processes.

There is no Docker engine on CI, so these tests check the compose file and
Dockerfile are consistent, then run exactly their commands (`earshot db upgrade`,
`earshot run`) with the compose environment against the local PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EARSHOT = str(Path(sys.executable).parent / "earshot")


def _run_earshot(executable: str | Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`earshot run` as the compose app runs it, its output captured for failure messages."""
    return subprocess.Popen(
        [str(executable), "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


def test_compose_file_is_consistent_with_the_image() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"db", "migrate", "app"}
    assert services["migrate"]["command"] == ["earshot", "db", "upgrade"]
    assert services["app"]["command"] == ["earshot", "run"]
    assert services["app"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    env = services["app"]["environment"]
    assert env["EARSHOT_DATABASE__URL"].startswith("postgresql://earshot:earshot@db:5432/")
    assert services["app"]["ports"] == ["8000:8000"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'CMD ["earshot", "run"]' in dockerfile
    assert "ENV EARSHOT_CONFIG=/etc/earshot/earshot.yaml" in dockerfile
    for package in (
        "domain",
        "collectors",
        "classifiers",
        "alerting",
        "storage",
        "scheduler",
        "web",
        "earshot",
    ):
        assert f"COPY {package} ./{package}" in dockerfile, package
    assert "pip install ." in dockerfile and ".[train" not in dockerfile  # runtime image: no torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def compose_env(tmp_path: Path, _postgres_url: str) -> dict[str, str]:
    """The app service's environment, pointed at a throwaway local PostgreSQL database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSHOT_")}
    env.update({k: str(v) for k, v in _compose()["services"]["app"]["environment"].items()})
    # The compose file's host 'db' is this machine's PostgreSQL here; each test gets fresh tables.
    env["EARSHOT_DATABASE__URL"] = _postgres_url
    env["EARSHOT_WEB__HOST"] = "127.0.0.1"
    env["EARSHOT_CONFIG"] = str(ROOT / "earshot.example.yaml")
    # A send cut off by kill -9 is retried after the lease; keep that inside the test's wait.
    env["EARSHOT_ALERTING__LEASE_SECONDS"] = "10"
    # The example config groups outage alerts for 30 s; the defaults below cannot shorten a
    # route's own group_wait, so the wait for delivery below allows for it.
    return env


def _drop_tables(url: str) -> None:
    from sqlalchemy import text

    from storage.db import create_db_engine

    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def app_process(compose_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`earshot db upgrade` then `earshot run`, as the compose services run them."""
    _drop_tables(compose_env["EARSHOT_DATABASE__URL"])
    migrate = subprocess.run(
        [EARSHOT, "db", "upgrade"],
        env=compose_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = _free_port()
    compose_env["EARSHOT_WEB__PORT"] = str(port)
    procs: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        proc = _run_earshot(EARSHOT, compose_env, tmp_path)
        procs.append(proc)
        return proc

    yield start(), port
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_for(predicate: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out waiting")


def _get(port: int, path: str) -> Any:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def _query(url: str, sql: str) -> list[Any]:
    from sqlalchemy import text

    from storage.db import create_db_engine

    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql)))
    finally:
        engine.dispose()


def _stored_demo_ids(url: str) -> set[str]:
    return {str(r[0]) for r in _query(url, "SELECT external_id FROM mentions WHERE source = 'demo'")}


def _demo_cursor(url: str) -> dict[str, Any]:
    rows = _query(url, "SELECT cursor FROM collector_cursors WHERE source = 'demo'")
    return dict(rows[0][0]) if rows else {}


def _demo_position(url: str) -> int:
    cursor = _demo_cursor(url)
    assert int(cursor.get("loop", 0)) == 0, "the demo stream looped; the test would need to follow it"
    return int(cursor.get("position", 0))


def _demo_replay_ids(url: str, position: int) -> set[str]:
    """Ids of the demo mentions among the first ``position`` stream items, replayed in-process."""
    from collectors.base import CollectorContext
    from collectors.demo import DemoCollector, DemoOptions
    from earshot.compose import brand_matcher
    from earshot.settings import load_settings

    settings = load_settings(ROOT / "earshot.example.yaml")
    options = next(s.options for s in settings.sources if s.name == "demo")
    replay = DemoCollector(
        name="demo",
        options=DemoOptions(**{**options, "per_run": position}),
        context=CollectorContext(matcher=brand_matcher(settings)),
    )
    result = replay.fetch({**_demo_cursor(url), "position": 0, "loop": 0})
    return {m.external_id for m in result.mentions}


def _mentions_without_classification(url: str) -> int:
    sql = (
        "SELECT count(*) FROM mentions m LEFT JOIN classifications c ON c.mention_id = m.id"
        " WHERE c.mention_id IS NULL"
    )
    return int(_query(url, sql)[0][0])


def test_compose_commands_serve_demo_data_and_survive_a_kill(
    app_process: tuple[subprocess.Popen[str], int], compose_env: dict[str, str], tmp_path: Path
) -> None:
    proc, port = app_process
    assert _wait_for(lambda: _get(port, "/healthz")) == {"status": "ok"}
    mentions = _wait_for(
        lambda: (
            (_get(port, "/api/mentions?limit=5") or {}).get("total", 0) > 250
            and _get(port, "/api/mentions?limit=5")
        )
    )
    assert mentions["items"][0]["classification"]["sentiment"] in {"negative", "neutral", "positive"}
    alerts_file = tmp_path / "data" / "alerts.jsonl"
    _wait_for(lambda: alerts_file.exists() and alerts_file.read_text().count("\n") > 5)
    url = compose_env["EARSHOT_DATABASE__URL"]
    # Kill -9 mid-stream, then start again: nothing lost, nothing stored or delivered twice.
    proc.kill()
    proc.wait(timeout=10)
    before_ids, before_position = _stored_demo_ids(url), _demo_position(url)
    restarted = _run_earshot(EARSHOT, compose_env, tmp_path)
    try:
        _wait_for(lambda: _get(port, "/healthz"))
        listed = _wait_for(lambda: _get(port, "/api/alerts?limit=500"))
        alert_ids = {a["id"] for a in listed}

        def all_delivered() -> bool:
            fired = [json.loads(line) for line in alerts_file.read_text().splitlines() if line.strip()]
            ids = {f["alert_id"] for f in fired if f["action"] == "fire"}
            ids |= {m["id"] for f in fired if f["group"] for m in f["group"]["alerts"]}
            # Grouped routes may hold an alert for group_interval; held is not lost: it must
            # still be in the outbox, due later.
            return ids | held_in_outbox() >= alert_ids

        def held_in_outbox() -> set[int]:
            from sqlalchemy import text

            from storage.db import create_db_engine

            engine = create_db_engine(compose_env["EARSHOT_DATABASE__URL"])
            try:
                with engine.connect() as connection:
                    rows = connection.execute(
                        text(
                            "SELECT alert_id FROM deliveries"
                            " WHERE status = 'pending' AND next_attempt_at > now()"
                        )
                    )
                    return {int(r[0]) for r in rows}
            finally:
                engine.dispose()

        _wait_for(all_delivered)
        # Mentions: the restarted run went on from the committed cursor, and every demo item up to
        # where the cursor now stands is stored (the run cut off by the kill was fetched again).
        _wait_for(lambda: _demo_position(url) > before_position)
        after_ids, position = _stored_demo_ids(url), _demo_position(url)
        assert before_ids <= after_ids
        expected = _demo_replay_ids(url, position)
        assert len(expected) > 250 and expected <= _stored_demo_ids(url)
        assert _mentions_without_classification(url) == 0
        fired = [
            json.loads(line)["idempotency_key"]
            for line in alerts_file.read_text().splitlines()
            if line.strip()
        ]
        repeats = len(fired) - len(set(fired))
        assert repeats <= 1  # at most the one in flight when the process was killed
        from sqlalchemy import text

        from storage.db import create_db_engine

        engine = create_db_engine(compose_env["EARSHOT_DATABASE__URL"])
        with engine.connect() as connection:
            dupes = connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT source, external_id FROM mentions"
                    " GROUP BY 1, 2 HAVING count(*) > 1) d"
                )
            ).scalar()
        engine.dispose()
        assert dupes == 0
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=30) == 0


def _copy_source(destination: Path) -> Path:
    """The project as an sdist would hold it: no venv, tests, caches or local databases."""
    everywhere = {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    top_level = {"tests", "bench", "build", "dist", "data"}  # collectors/data is package data: keep it

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in everywhere or n.endswith((".egg-info", ".db"))}
        if Path(directory) == ROOT:
            skipped |= top_level & set(names)
        return skipped

    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


@pytest.mark.slow
@pytest.mark.postgres
def test_wheel_installs_into_a_fresh_venv_and_runs(compose_env: dict[str, str], tmp_path: Path) -> None:
    """Build the wheel, install it in a new venv, then `earshot db upgrade` and `earshot run` on PostgreSQL.

    The venv gets the wheel only; its dependencies come from this environment's site-packages via a
    .pth file (no network here), appended after the venv's own site-packages, so every project
    module (and its data: migrations, demo stream, model) is imported from the installed wheel.
    """
    source = _copy_source(tmp_path / "src")
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    (wheel,) = dist.glob("earshot-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=60)  # type: ignore[attr-defined]
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "zz_earshot_runtime_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    shutil.rmtree(source)  # nothing may be read from the source tree any more
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import earshot, storage.db; print(earshot.__file__); print(storage.db.MIGRATIONS)",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all(path.startswith(purelib) for path in where), where
    earshot = str(venv / "bin" / "earshot")
    _drop_tables(compose_env["EARSHOT_DATABASE__URL"])
    migrate = subprocess.run(
        [earshot, "db", "upgrade"], env=compose_env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    port = _free_port()
    compose_env["EARSHOT_WEB__PORT"] = str(port)
    proc = _run_earshot(earshot, compose_env, tmp_path)
    try:
        assert _wait_for(lambda: _get(port, "/healthz"), timeout=60) == {"status": "ok"}
        listed = _wait_for(
            lambda: (_get(port, "/api/mentions?limit=1") or {}).get("total", 0) > 0 and True, timeout=60
        )
        assert listed
        sources = _wait_for(lambda: _get(port, "/api/sources"), timeout=30)
        assert [s["source"] for s in sources] == ["demo"] and sources[0]["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0, output[-3000:]

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
# Set as EARSHOT_ADMIN_PASSWORD for the app the compose tests start (never a default in the product).
ADMIN_PASSWORD = "deploy-test-admin-password"


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
    assert {"db", "migrate", "app", "demo"} <= set(services)
    assert services["migrate"]["command"] == ["earshot", "db", "upgrade"]
    assert services["app"]["command"] == ["earshot", "run"]
    assert services["app"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    env = services["app"]["environment"]
    assert env["EARSHOT_DATABASE__URL"].startswith(
        "postgresql://earshot:${POSTGRES_PASSWORD:-earshot}@db:5432/"
    )
    assert services["db"]["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-earshot}"
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


def _compose_spec_errors(document: dict[str, Any]) -> list[str]:
    """Errors against the Compose Specification's own JSON schema (as vendored by check-jsonschema)."""
    import importlib.resources

    import jsonschema

    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(vendored.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_matches_the_compose_specification() -> None:
    """`docker compose config` stands in here: there is no Docker engine on CI."""
    assert _compose_spec_errors(_compose()) == []
    broken = _compose()
    broken["services"]["app"]["env_file"] = [{"path": ".env", "optional": True}]  # a misspelt key
    assert _compose_spec_errors(broken)


def test_compose_publishes_on_loopback_only_and_reads_secrets_from_env_file() -> None:
    services = _compose()["services"]
    assert services["app"]["ports"] == ["127.0.0.1:8000:8000"]
    for name, service in services.items():
        for port in service.get("ports", []):
            # "HOST_IP:HOST_PORT:CONTAINER_PORT": anything else listens on every interface.
            assert str(port).startswith("127.0.0.1:"), (name, port)
        if "build" in service:  # every Earshot container gets the secrets
            assert {"path": ".env", "required": False} in service["env_file"], name


def test_demo_source_runs_only_under_the_demo_profile() -> None:
    services = _compose()["services"]
    # Without --profile, compose starts exactly the services that have no profile.
    assert {n for n, s in services.items() if not s.get("profiles")} == {"db", "migrate", "app"}
    for name in ("migrate", "app"):
        assert "EARSHOT_CONFIG" not in services[name]["environment"], name  # the image's default config
    demo = services["demo"]
    assert demo["profiles"] == ["demo"]
    assert demo["environment"]["EARSHOT_CONFIG"] == "/etc/earshot/earshot.example.yaml"
    # The demo keeps its own database: demo mentions never reach the PostgreSQL one.
    assert demo["environment"]["EARSHOT_DATABASE__URL"].startswith("sqlite:////data/")
    assert "depends_on" not in demo


def _dockerfile_line(prefix: str) -> str:
    lines = [
        ln for ln in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines() if ln.startswith(prefix)
    ]
    assert len(lines) == 1, (prefix, lines)
    return lines[0]


def test_image_default_config_is_the_example_without_the_demo_source(tmp_path: Path) -> None:
    """Runs the Dockerfile's own RUN line that writes /etc/earshot/earshot.yaml, here under tmp_path."""
    from earshot.settings import load_settings

    command = _dockerfile_line("RUN python -c ").removeprefix("RUN ")
    assert "COPY earshot.example.yaml /etc/earshot/earshot.example.yaml" in (ROOT / "Dockerfile").read_text()
    (tmp_path / "earshot.example.yaml").write_bytes((ROOT / "earshot.example.yaml").read_bytes())
    command = command.replace("/etc/earshot/", f"{tmp_path}/").replace("python ", f"{sys.executable} ", 1)
    subprocess.run(["sh", "-c", command], check=True, timeout=60)
    example = load_settings(tmp_path / "earshot.example.yaml", env={})
    default = load_settings(tmp_path / "earshot.yaml", env={})
    assert "demo" in {s.kind for s in example.sources}
    assert "demo" not in {s.kind for s in default.sources}
    # Everything else is the example as documented.
    assert [s.name for s in default.sources] == [s.name for s in example.sources if s.kind != "demo"]
    assert default.routes == example.routes and default.brands == example.brands


def test_healthcheck_probes_the_configured_port(httpserver: Any) -> None:
    command = _dockerfile_line("HEALTHCHECK ").split(" CMD ", 1)[1]
    command = command.replace("python ", f"{sys.executable} ", 1)
    httpserver.expect_request("/healthz").respond_with_json({"status": "ok"})
    base = {k: v for k, v in os.environ.items() if not k.startswith("EARSHOT_")}
    served = subprocess.run(
        ["sh", "-c", command], env={**base, "EARSHOT_WEB__PORT": str(httpserver.port)}, timeout=30
    )
    assert served.returncode == 0
    closed = subprocess.run(
        ["sh", "-c", command], env={**base, "EARSHOT_WEB__PORT": str(_free_port())}, timeout=30
    )
    assert closed.returncode == 1
    assert (
        "ENV EARSHOT_CONFIG=/etc/earshot/earshot.yaml EARSHOT_WEB__HOST=0.0.0.0 EARSHOT_WEB__PORT=8000"
        in (ROOT / "Dockerfile").read_text()
    )


def test_env_example_lists_every_secret_the_deployment_reads() -> None:
    import re

    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    reference = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
    example = set(reference.findall((ROOT / "earshot.example.yaml").read_text(encoding="utf-8")))
    compose = set(reference.findall((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
    example.discard("ENV_VAR")  # the file's own explanation of the syntax
    assert example and compose
    assert example | compose | {"EARSHOT_ADMIN_PASSWORD", "EARSHOT_WEB__BASE_URL"} <= listed
    assert all(v == "" for v in _env_values().values())  # no secret, not even a sample one, is shipped


def _env_values() -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return {k: v for k, v in pairs}


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
    # The first start creates user 'admin' with this password; _get signs in with it.
    env["EARSHOT_ADMIN_PASSWORD"] = ADMIN_PASSWORD
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
    # Every route but /healthz needs a signed-in user: sign in as the first admin, as a person would.
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            if path != "/healthz":
                client.post("/login", data={"name": "admin", "password": ADMIN_PASSWORD})
            response = client.get(path)
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
        # Every alert stored so far, read from the database (the API's inbox pages by story).
        alert_ids = {int(r[0]) for r in _query(url, "SELECT id FROM alerts")}
        assert alert_ids

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

"""End to end, collect to alert delivered to a local webhook: in-process, 1 worker, 2 workers.

Each mode runs as real `earshot run` processes on a throwaway PostgreSQL database and (for the
worker modes) a private nats-server, collecting ``--mentions`` mentions spread over ``--sources``
counting sources; every mention is its own story, and each outage story (every mention, or one in
``--alert-every``) raises one alert, posted to a webhook served here. It prints, per mode:
mentions/s from the first mention stored to the last alert received, p50/p95 from alert stored to
webhook received, p95 from mention collected to webhook received, and each process's peak RSS.

    python -m bench.distributed [--mentions 2000] [--sources 4] [--classifier transformer] [--threads 1]
    python -m bench.distributed --alert-every 10    # mostly classifying and storing, as real streams
    python -m bench.distributed --alert-every 10 --pin   # one core per worker: how workers scale
    python -m bench.distributed --modes 1 --soak 600 --window-hours 0.05   # RSS over time, index evicted

Needs the local PostgreSQL (127.0.0.1:5432, trust auth) and the nats-server binary
(`bash scripts/services.sh`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

from bench.counting import CountingCollector

REPO = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Receiver:
    """A local webhook: records when each notification arrived, by idempotency key."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                with receiver.lock:
                    receiver.arrivals.setdefault(key, []).append(time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Where the webhook channel posts."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def count(self) -> int:
        """Notifications received so far."""
        with self.lock:
            return len(self.arrivals)


@dataclass
class Result:
    """One mode's figures."""

    mode: str
    mentions: int
    alerts: int
    seconds: float
    p50: float
    p95: float
    # From the mention collected (before classify and store) to the webhook: what a user waits.
    collected_p95: float
    rss_mb: dict[str, float]
    duplicates: int
    cpu_seconds: dict[str, float]
    database_mb: float = 0.0

    @property
    def rate(self) -> float:
        """Mentions per second, end to end."""
        return self.mentions / self.seconds if self.seconds else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(args: argparse.Namespace, db_url: str, nats_url: str, hook: str, mode: str) -> str:
    # A soak never runs out of mentions.
    per_source = 10**9 if args.soak else args.mentions // args.sources
    sources = "\n".join(
        f"  - {{name: s{i}, kind: counting, interval_seconds: 1, jitter_seconds: 0, "
        f"options: {{total: {per_source}, per_fetch: {args.per_fetch}, alert_every: {args.alert_every}}}}}"
        for i in range(args.sources)
    )
    return f"""
database: {{url: "{db_url}"}}
brands: [{{name: Lumora, queries: [lumora]}}]
sources:
{sources}
classifier: {{kind: {args.classifier}, threads: {args.threads}}}
teams: [{{name: ops, channels: [hook]}}]
channels:
  - {{name: hook, kind: webhook, options: {{url: "{hook}", secret: "bench-secret-0123456789"}}}}
routes: [{{name: default, team: ops, default: true}}]
alerting: {{min_urgency: medium}}
web: {{enabled: false}}
pipeline: {{cluster_window_hours: {args.window_hours}}}
scale: {{mode: {mode}, nats_url: "{nats_url}", prefix: bench}}
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (load on the machine does not inflate it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _postgres_cpu_seconds() -> float:
    """CPU seconds of the local PostgreSQL so far: its live processes, plus ended backends.

    Backends that have ended are counted in the postmaster's children's time once it reaps them.
    """
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[-1].startswith("postgres"):
            fields = tail.split()
            total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int, field: str = "VmHWM:") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _start(
    workdir: Path, name: str, config: Path, *args: str, cpu: int | None = None
) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bench.distributed", "--child", "--", "--config", str(config), *args],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        # --pin: this process (and its model's threads) on one core, as one worker per core would run.
        preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}),
    )


def run_mode(args: argparse.Namespace, mode: str, workers: int, receiver: Receiver, workdir: Path) -> Result:
    """Run one mode to completion on a fresh database; its figures."""
    name = f"earshot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    nats: subprocess.Popen[bytes] | None = None
    nats_url = "nats://127.0.0.1:4222"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    receiver.arrivals.clear()
    try:
        from storage.db import upgrade

        engine = create_engine(db_url)
        upgrade(engine)
        if workers:
            port = _free_port()
            nats_url = f"nats://127.0.0.1:{port}"
            store = workdir / f"js-{name}"
            binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
            nats = subprocess.Popen(
                [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        config = workdir / f"{name}.yaml"
        config.write_text(_config(args, db_url, nats_url, receiver.url, "nats" if workers else "in_process"))
        label = "in-process" if not workers else f"{workers} worker{'s' if workers > 1 else ''}"
        if workers:
            for n in range(workers):
                core = n % (os.cpu_count() or 1) if args.pin else None
                procs[f"worker-{n + 1}"] = _start(
                    workdir, f"{name}-w{n}", config, "run", "--role", "worker", cpu=core
                )
            # Workers first: the scheduler's first orders then find them ready.
            _wait_for_logs(workdir, [f"{name}-w{n}" for n in range(workers)], "worker consuming")
            procs["scheduler"] = _start(workdir, f"{name}-s", config, "run", "--role", "scheduler")
        else:
            procs["all"] = _start(
                workdir, f"{name}-all", config, "run", "--no-web", cpu=0 if args.pin else None
            )
        postgres_before = _postgres_cpu_seconds()
        per_source = args.mentions // args.sources
        expected = per_source * args.sources
        deadline = time.monotonic() + args.timeout
        rss: dict[str, float] = {}
        cpu: dict[str, float] = {}
        if args.soak:
            _soak(args, engine, procs)
            rss = {k: _rss_mb(p.pid) for k, p in procs.items()}
            cpu = {k: _cpu_seconds(p.pid) for k, p in procs.items()}
            with engine.connect() as c:
                expected = int(c.scalar(text("SELECT count(*) FROM mentions")) or 0)
            return _figures(label, engine, receiver, expected, rss, cpu)
        while time.monotonic() < deadline:
            for key, proc in procs.items():
                rss[key] = max(rss.get(key, 0.0), _rss_mb(proc.pid))
                cpu[key] = max(cpu.get(key, 0.0), _cpu_seconds(proc.pid))
            with engine.connect() as c:
                alerts = int(c.scalar(text("SELECT count(*) FROM alerts")) or 0)
                stored = int(c.scalar(text("SELECT count(*) FROM mentions")) or 0)
            if stored >= expected and alerts and receiver.count() >= alerts:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{label}: did not finish within {args.timeout}s (see {workdir})")
        # The services' share, for sizing them: PostgreSQL (all its databases: keep the machine
        # otherwise idle) and this mode's own nats-server.
        cpu["postgres"] = _postgres_cpu_seconds() - postgres_before
        if nats is not None:
            cpu["nats"] = _cpu_seconds(nats.pid)
        return _figures(label, engine, receiver, expected, rss, cpu)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if nats is not None:
            nats.terminate()
            nats.wait(30)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _soak(args: argparse.Namespace, engine: Any, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Run for ``args.soak`` seconds, printing each process's current RSS, mentions stored and index rows."""
    started = time.monotonic()
    print(f"{'seconds':>7} {'stored':>7} {'index rows':>10}  current RSS MB per process", flush=True)
    while (elapsed := time.monotonic() - started) < args.soak:
        with engine.connect() as c:
            stored = int(c.scalar(text("SELECT count(*) FROM mentions")) or 0)
            index = int(c.scalar(text("SELECT count(*) FROM neardup_signatures")) or 0)
        rss = ", ".join(f"{k} {_rss_mb(p.pid, 'VmRSS:'):.0f}" for k, p in procs.items())
        print(f"{elapsed:>7.0f} {stored:>7} {index:>10}  {rss}", flush=True)
        time.sleep(args.every)


def _wait_for_logs(workdir: Path, names: list[str], needle: str, timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(needle in (workdir / f"{n}.log").read_text(errors="replace") for n in names):
            return
        time.sleep(0.2)
    raise RuntimeError(f"processes {names} never logged {needle!r} (see {workdir})")


def _figures(
    label: str, engine: Any, receiver: Receiver, expected: int, rss: dict[str, float], cpu: dict[str, float]
) -> Result:
    from storage.models import AlertRow, MentionRow

    with engine.connect() as c:
        first = c.scalar(select(func.min(MentionRow.collected_at)))
        database_mb = float(c.scalar(text("SELECT pg_database_size(current_database())")) or 0) / 2**20
        created = {
            alert_id: (at.timestamp(), collected.timestamp())
            for alert_id, at, collected in c.execute(
                select(AlertRow.id, AlertRow.created_at, MentionRow.collected_at).join(
                    MentionRow, MentionRow.id == AlertRow.mention_id
                )
            )
        }
    stored: list[float] = []
    collected: list[float] = []
    last = 0.0
    duplicates = 0
    for key, times in receiver.arrivals.items():
        alert_id = int(key.rsplit("-", 3)[1])
        duplicates += len(times) - 1
        last = max(last, times[0])
        if alert_id in created:
            stored.append(times[0] - created[alert_id][0])
            collected.append(times[0] - created[alert_id][1])
    return Result(
        mode=label,
        mentions=expected,
        alerts=len(created),
        seconds=last - first.timestamp() if first else 0.0,
        p50=statistics.median(stored) if stored else 0.0,
        p95=_p95(stored),
        collected_p95=_p95(collected),
        rss_mb=rss,
        duplicates=duplicates,
        cpu_seconds=cpu,
        database_mb=database_mb,
    )


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


def main(argv: list[str]) -> None:
    """Run the three modes and print the table."""
    if argv[:1] == ["--child"]:
        from collectors.registry import collectors
        from earshot.cli import app

        collectors.register("counting", CountingCollector)
        app(argv[2:], prog_name="earshot")
        return
    parser = argparse.ArgumentParser(prog="python -m bench.distributed")
    parser.add_argument("--mentions", type=int, default=2000)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--per-fetch", type=int, default=50)
    parser.add_argument(
        "--alert-every", type=int, default=1, help="1: every mention an outage alert; 10: one in ten"
    )
    parser.add_argument("--classifier", default="transformer")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per process")
    parser.add_argument("--modes", default="0,1,2", help="worker counts to run; 0 is in-process")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--pin", action="store_true", help="each pipeline process on one core of its own (worker n on core n)"
    )
    parser.add_argument(
        "--soak", type=float, default=0.0, help="seconds: run this long, printing RSS over time"
    )
    parser.add_argument("--every", type=float, default=15.0, help="soak: seconds between samples")
    parser.add_argument("--window-hours", type=float, default=72.0, help="pipeline.cluster_window_hours")
    args = parser.parse_args(argv)
    receiver = Receiver()
    results = []
    with tempfile.TemporaryDirectory(prefix="earshot-bench-") as tmp:
        for workers in (int(w) for w in args.modes.split(",")):
            result = run_mode(args, "nats" if workers else "in_process", workers, receiver, Path(tmp))
            results.append(result)
            print(_line(result), flush=True)
    print()
    print(
        f"{args.mentions} mentions, {args.sources} sources, classifier {args.classifier}, "
        f"{args.threads} thread(s), one mention in {args.alert_every} an outage alert"
        + (", each pipeline process pinned to one core" if args.pin else "")
    )
    print(
        f"{'mode':<12} {'mentions/s':>10} {'alerts':>7} {'p50 s':>7} {'p95 s':>7} {'coll p95':>8} "
        f"{'dup':>4}  per process"
    )
    for r in results:
        print(_line(r))
    base = next((r for r in results if r.mode == "1 worker"), None)
    two = next((r for r in results if r.mode == "2 workers"), None)
    if base and two and base.rate:
        print(f"2 workers / 1 worker: {two.rate / base.rate:.2f}x")
    for r in results:
        # CPU seconds per mention is what sizing needs: unlike wall time, other load does not inflate it.
        work = sum(v for k, v in r.cpu_seconds.items() if k not in {"scheduler", "postgres", "nats"})
        if work:
            services = ", ".join(
                f"{k} {1000 * r.cpu_seconds[k] / r.mentions:.1f} ms"
                for k in ("postgres", "nats")
                if k in r.cpu_seconds
            )
            print(
                f"{r.mode}: {r.mentions / work:.1f} mentions per CPU-second of pipeline processes; "
                f"CPU per mention: {services}; database {r.database_mb:.0f} MB "
                f"({1024 * r.database_mb / r.mentions:.1f} KB per mention, empty schema included)"
            )


def _line(r: Result) -> str:
    rss = ", ".join(f"{k} {v:.0f}" for k, v in r.rss_mb.items())
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_seconds.items())
    return (
        f"{r.mode:<12} {r.rate:>10.1f} {r.alerts:>7} {r.p50:>7.2f} {r.p95:>7.2f} "
        f"{r.collected_p95:>8.2f} {r.duplicates:>4}  "
        f"RSS MB: {rss}; CPU s: {cpu}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

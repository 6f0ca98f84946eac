"""The `earshot` command line."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from earshot import __version__
from earshot.checks import check
from earshot.commands import alerts as alert_commands
from earshot.commands import classify as classify_commands
from earshot.commands import data as data_commands
from earshot.commands import deadletters as deadletter_commands
from earshot.commands import imports as import_commands
from earshot.commands import report as report_commands
from earshot.commands import silences as silence_commands
from earshot.commands import users as user_commands
from earshot.compose import build
from earshot.context import CliState, clean_errors, fail, settings_for, setup_logging, state
from storage.db import create_db_engine, upgrade

# Seconds uvicorn waits for open requests after SIGTERM; with the scheduler's drain, under 10 s.
WEB_GRACE_SECONDS = 3

app = typer.Typer(
    name="earshot",
    help="Social listening and reputation monitoring: collect mentions, classify them, alert the right team.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file (default: $EARSHOT_CONFIG or ./earshot.yaml)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Earshot: know within minutes when customers publish something that needs a response."""
    ctx.obj = CliState(config=config, verbose=verbose)


@app.command()
def version() -> None:
    """Print the Earshot version."""
    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Create or migrate the database schema to the newest version."""
    settings = settings_for(ctx)
    setup_logging(settings.log_level, state(ctx).verbose)
    with clean_errors():
        engine = create_db_engine(settings.database.url)
        try:
            upgrade(engine, revision)
        finally:
            engine.dispose()
    typer.echo(f"database at {engine.url.render_as_string()} is at revision {revision}")


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the config file and every source, channel, route and query in it."""
    settings = settings_for(ctx)
    errors = check(settings)
    if errors:
        path = state(ctx).config or "earshot.yaml"
        raise fail("\n".join(f"{path}: {line}" for line in errors))
    typer.echo(
        f"ok: {len(settings.brands)} brand(s), {len(settings.sources)} source(s), "
        f"{len(settings.channels)} channel(s), {len(settings.routes)} route(s)"
    )


@app.command()
def run(
    ctx: typer.Context,
    web: Annotated[bool, typer.Option(help="Serve the dashboard and API in the same process.")] = True,
    host: Annotated[str | None, typer.Option(help="Web host (overrides web.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Web port (overrides web.port).")] = None,
    role: Annotated[
        str,
        typer.Option(
            help="all: everything in this process (the default). With scale.mode: nats, also scheduler "
            "(publishes collect orders), worker (runs the pipeline stages) or web (the web app only)."
        ),
    ] = "all",
) -> None:
    """Run Earshot: scheduled collection, classification, alerting and the web UI (or one role of them)."""
    from scheduler.roles import (
        NoClassifier,
        RoleError,
        check_role,
        needs_classifier,
        serves_web,
        start_role,
        stop_role,
        wait_forever,
    )

    settings = settings_for(ctx)
    setup_logging(settings.log_level, state(ctx).verbose)
    try:
        chosen = check_role(role, settings.scale)
    except RoleError as exc:
        raise fail(str(exc)) from None
    with clean_errors():
        built = build(
            settings, classifier=None if needs_classifier(chosen, settings.scale) else NoClassifier()
        )
    components = built.components
    components.source_lease_seconds = settings.scale.source_lease_seconds
    components.max_backoff_seconds = settings.scale.max_backoff_seconds
    if built.engine.dialect.name != "sqlite":
        components.deliver_concurrency = settings.scale.deliver_concurrency
    if settings.scale.neardup == "database" or (
        settings.scale.neardup == "auto" and settings.scale.mode == "nats"
    ):
        from scheduler.pipeline import database_clusterer

        components.cluster = database_clusterer(components)
    if settings.scale.mode == "nats" and serves_web(chosen):
        from scheduler import metrics

        metrics.watch_bus(settings.scale)
    # Installed before anything starts, so a SIGTERM during start-up also stops cleanly.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    running = start_role(
        chosen,
        components,
        settings.scale,
        deliver_interval_seconds=settings.pipeline.deliver_interval_seconds,
    )
    stuck: dict[str, int] = {}
    failed = False
    try:
        if serves_web(chosen) and (web or chosen == "web") and settings.web.enabled:
            _serve_web(built, host or settings.web.host, port or settings.web.port, stopping)
        else:
            typer.echo(f"earshot running ({chosen}) without the web UI; Ctrl-C to stop", err=True)
            with contextlib.suppress(KeyboardInterrupt):
                failed = not wait_forever(stopping, running)
    finally:
        # Drains for at most DRAIN_SECONDS: SIGTERM must stop the service even with a source stuck.
        stuck = stop_role(running)
        built.close()
    if failed:
        # The role's loop died (NATS unreachable at start, a bug): exit non-zero so a supervisor restarts it.
        raise typer.Exit(1)
    if stuck:
        _exit_now()


def _exit_now() -> None:
    # A collector stuck in a read may hold threads the interpreter joins at exit (a feed pool's
    # workers), which would keep a stopped service alive. Their runs never committed, so nothing
    # is lost by leaving without them.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve_web(built: object, host: str, port: int, stopping: threading.Event) -> None:
    import uvicorn

    from earshot.webapp import web_app

    app_ = web_app(built)  # type: ignore[arg-type]
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; catch them here so the
    # scheduler is shut down cleanly afterwards and the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    if stopping.is_set():
        return  # told to stop while starting: do not start serving
    typer.echo(f"earshot dashboard on http://{host}:{port}/", err=True)
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level="warning",
        # Open requests get this long after SIGTERM; then the scheduler drains (DRAIN_SECONDS).
        timeout_graceful_shutdown=WEB_GRACE_SECONDS,
    )


data_commands.register(app)
alert_commands.register(app)
classify_commands.register(app)
silence_commands.register(app)
user_commands.register(app)
import_commands.register(app, db_app)
deadletter_commands.register(app)
report_commands.register(app)

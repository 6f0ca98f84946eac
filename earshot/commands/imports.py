"""`earshot import` and `earshot db rollup`: history and analytics rollups."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from domain import Classification, Mention
from earshot.compose import App, build
from earshot.context import clean_errors, fail, settings_for, setup_logging, state
from scheduler.pipeline import classify
from storage import rollups
from storage.db import DatabaseError, create_db_engine, pending_revisions, session_factory
from storage.import_csv import CSV_FIELDS, CsvMapping, parse_csv
from storage.importer import BATCH_SIZE, ImportReport, Parsed, import_items, parse_json_lines

# Bad lines printed one by one; beyond this only the count (a broken export can have millions).
MAX_SHOWN = 200
PROGRESS_EVERY = 1000
Format = Literal["json", "csv"]


def _progress() -> Progress:
    # On stderr, so stdout stays the summary a script can read.
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def _format_of(file: Path, given: Format | None) -> Format:
    if given is not None:
        return given
    return "csv" if file.suffix.lower() in {".csv", ".tsv"} else "json"


def _count_lines(file: Path) -> int:
    with file.open("rb") as stream:
        return sum(1 for _ in stream)


def _classifier(built: App) -> Callable[[list[Mention]], list[Classification]]:
    components = built.components

    def run(mentions: list[Mention]) -> list[Classification]:
        # The pipeline's own batching and brand checks, so history is labelled as live mentions are.
        found = classify(components, mentions)
        return [components.brands.check(m, c) for m, c in zip(mentions, found, strict=True)]

    return run


def _summary(file: Path, report: ImportReport) -> None:
    for error in report.errors[:MAX_SHOWN]:
        typer.echo(f"{file}:{error.line}: {error.reason}", err=True)
    if report.failed > MAX_SHOWN:
        typer.echo(f"{file}: ... and {report.failed - MAX_SHOWN} more bad line(s)", err=True)
    typer.echo(
        f"{file}: stored {report.stored}, already stored {report.duplicates}, "
        f"classified {report.classified}, bad lines {report.failed}"
    )


def register(app: typer.Typer, db_app: typer.Typer) -> None:
    """Add `earshot import` and `earshot db rollup` to the CLI."""

    @app.command("import")
    def import_(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines or CSV file.")],
        fmt: Annotated[
            Format | None, typer.Option("--format", help="json (JSON lines) or csv; default: by extension.")
        ] = None,
        maps: Annotated[
            list[str] | None,
            typer.Option(
                "--map", help=f"CSV COLUMN=FIELD (repeatable); FIELD one of {', '.join(CSV_FIELDS)}."
            ),
        ] = None,
        sets: Annotated[
            list[str] | None,
            typer.Option("--set", help="CSV FIELD=VALUE for a field the file lacks (repeatable)."),
        ] = None,
        list_separator: Annotated[str, typer.Option(help="Separator of CSV brands and categories.")] = ";",
        batch_size: Annotated[
            int, typer.Option(min=1, max=50_000, help="Mentions per transaction.")
        ] = BATCH_SIZE,
    ) -> None:
        """Load history (one mention per line); no alerts, and a re-run stores nothing twice."""
        settings = settings_for(ctx)
        setup_logging(settings.log_level, state(ctx).verbose)
        kind = _format_of(file, fmt)
        try:
            mapping = CsvMapping.parse(maps or [], sets or [], list_separator)
        except ValueError as exc:
            raise fail(str(exc)) from None
        if kind == "json" and (maps or sets):
            raise fail("--map and --set apply to CSV files only (use --format csv)")
        with clean_errors():
            built = build(settings)
        try:
            total = _count_lines(file)
            with file.open("rb") as stream, _progress() as progress:
                task = progress.add_task(f"importing {file.name}", total=total)
                parsed = parse_csv(stream, mapping) if kind == "csv" else parse_json_lines(stream)

                def tracked() -> Iterator[Parsed]:
                    shown = 0
                    for line, item in parsed:
                        # Every PROGRESS_EVERY lines: one update per line cost a tenth of the import.
                        if line - shown >= PROGRESS_EVERY:
                            progress.update(task, completed=line)
                            shown = line
                        yield item

                report = import_items(
                    sessions=built.components.sessions,
                    items=tracked(),
                    classify=_classifier(built),
                    mark=built.components.brands.mark,
                    now=built.components.clock,
                    batch_size=batch_size,
                )
                progress.update(task, completed=total)
        finally:
            built.close()
        _summary(file, report)
        if report.failed:
            raise typer.Exit(1)

    @db_app.command("rollup")
    def db_rollup(
        ctx: typer.Context,
        rebuild: Annotated[
            bool, typer.Option("--rebuild", help="Recompute every rollup from the stored mentions.")
        ] = False,
    ) -> None:
        """Show the analytics rollups, or (--rebuild) recompute them from the raw rows; idempotent."""
        settings = settings_for(ctx)
        setup_logging(settings.log_level, state(ctx).verbose)
        with clean_errors():
            engine = create_db_engine(settings.database.url)
            try:
                if pending_revisions(engine):
                    raise DatabaseError("the database is not at the newest schema; run `earshot db upgrade`")
                sessions = session_factory(engine)
                if rebuild:
                    with _progress() as progress:
                        task = progress.add_task("rebuilding rollups (days)", total=None)
                        steps = rollups.rebuild(
                            sessions,
                            progress=lambda done, total: progress.update(task, completed=done, total=total),
                        )
                    typer.echo(f"rebuilt the rollups in {steps} step(s)")
                with sessions() as session:
                    summary = rollups.summary(session)
            finally:
                engine.dispose()
        typer.echo(
            f"rollups: {summary.rows} row(s), {summary.mentions} brand mention(s), "
            f"hours {summary.first or '-'} to {summary.last or '-'}"
        )

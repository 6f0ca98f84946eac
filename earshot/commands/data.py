"""`earshot mentions`, `earshot sources` and `earshot collect`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from collectors.redact import redact
from earshot.compose import build
from earshot.context import clean_errors, fail, settings_for, setup_logging, state
from scheduler.delivery import drain
from scheduler.pipeline import run_source, warm_up
from storage import mentions as mention_repo
from storage import sources as source_repo
from storage.db import create_db_engine, session_factory
from storage.models import MentionRow

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """'24h', '7d', '30m' or an ISO date/time -> an aware datetime; None passes through."""
    if not value:
        return None
    match = _DURATION.match(value.strip().lower())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use a duration like 24h, 7d, 30m or an ISO date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=now.tzinfo)


def mention_dict(row: MentionRow) -> dict[str, Any]:
    """A stored mention as plain JSON-ready data."""
    c = row.classification
    return {
        "id": row.id,
        "source": row.source,
        "external_id": row.external_id,
        "published_at": row.published_at.isoformat(),
        "brands": [b.brand for b in row.brands],
        "author": row.author.handle if row.author else None,
        "followers": row.author.followers if row.author else None,
        "text": row.text,
        "url": row.url,
        "sentiment": c.sentiment if c else None,
        "urgency": c.urgency if c else None,
        "categories": list(c.categories) if c else [],
        "cluster_id": row.cluster_id,
    }


def register(app: typer.Typer) -> None:
    """Add the data commands to the root app."""

    @app.command()
    def mentions(
        ctx: typer.Context,
        brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
        source: Annotated[str | None, typer.Option(help="Only this source name.")] = None,
        sentiment: Annotated[str | None, typer.Option(help="negative, neutral or positive.")] = None,
        urgency: Annotated[str | None, typer.Option(help="low, medium, high or critical.")] = None,
        category: Annotated[str | None, typer.Option(help="Only mentions in this category.")] = None,
        since: Annotated[str | None, typer.Option(help="e.g. 24h, 7d, or an ISO date.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    ) -> None:
        """List stored mentions, newest first."""
        settings = settings_for(ctx)
        with clean_errors():
            engine = create_db_engine(settings.database.url)
        try:
            with session_factory(engine)() as session:
                rows = mention_repo.list_mentions(
                    session,
                    limit=limit,
                    brand=brand,
                    source=source,
                    sentiment=sentiment,
                    urgency=urgency,
                    category=category,
                    since=parse_since(since, datetime.now(UTC)),
                )
                items = [mention_dict(r) for r in rows]
        finally:
            engine.dispose()
        for item in items:
            if as_json:
                typer.echo(json.dumps(item, ensure_ascii=False))
            else:
                text = " ".join(item["text"].split())
                text = text if len(text) <= 100 else text[:99] + "…"
                typer.echo(
                    f"#{item['id']:<6} {item['published_at'][:16]} {item['source']:<10} "
                    f"{','.join(item['brands']):<14} {item['sentiment'] or '-':<8} "
                    f"{item['urgency'] or '-':<8} "
                    f"@{item['author']}: {text}"
                )
        if not items and not as_json:
            typer.echo("no mentions match", err=True)

    @app.command()
    def sources(ctx: typer.Context) -> None:
        """Show each source's health: last success, last error, items, consecutive failures."""
        settings = settings_for(ctx)
        with clean_errors():
            engine = create_db_engine(settings.database.url)
        try:
            with session_factory(engine)() as session:
                health = {h.source: h for h in source_repo.list_health(session)}
        finally:
            engine.dispose()
        typer.echo(f"{'source':<16} {'kind':<11} {'last success':<17} {'items':>6} {'fails':>5}  last error")
        for config in settings.sources:
            h = health.get(config.name)
            last_ok = h.last_success_at.isoformat()[:16] if h and h.last_success_at else "never"
            error = redact(h.last_error or "") if h and h.consecutive_failures else ""
            parts = source_repo.failing_parts(h) if h else []
            if parts:
                error = f"{len(parts)} failing: {redact(parts[0])}"
            typer.echo(
                f"{config.name:<16} {config.kind:<11} {last_ok:<17} {h.items_last_run if h else 0:>6} "
                f"{h.consecutive_failures if h else 0:>5}  {error.splitlines()[0][:100] if error else ''}"
                + ("" if config.enabled else "  (disabled)")
            )
            # Every failed part on its own line, so a source with 6 of 10 feeds down shows all 6.
            for part in parts:
                typer.echo(f"{'':<16} failing part: {redact(part)[:200]}")

    @app.command()
    def collect(
        ctx: typer.Context,
        source: Annotated[str, typer.Argument(help="The source name from earshot.yaml.")],
        once: Annotated[bool, typer.Option("--once", help="Run one collection and exit.")] = True,
    ) -> None:
        """Collect from one source once: fetch, classify, store, route and deliver."""
        del once  # one run is the only mode; the flag makes scripts read clearly
        settings = settings_for(ctx)
        setup_logging(settings.log_level, state(ctx).verbose)
        with clean_errors():
            built = build(settings)
        try:
            if source not in built.components.sources:
                known = ", ".join(built.components.sources) or "none"
                raise fail(f"no enabled source named {source!r}; enabled sources: {known}")
            warm_up(built.components)
            report = run_source(built.components, source)
            delivered = drain(built.components)
        finally:
            built.close()
        for failure in report.failures:
            typer.echo(f"warning: part failed: {failure}", err=True)
        typer.echo(
            f"{source}: fetched {report.fetched}, new {report.new}, duplicates {report.duplicates}, "
            f"alerts {report.alerts} (+{report.folded} folded), delivered {delivered.delivered}"
        )
        for problem in report.problems:
            typer.echo(f"warning: {problem}", err=True)
        if report.error:
            raise fail(f"{source}: {report.error}", 1)

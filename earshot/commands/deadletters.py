"""`earshot dead-letters`: messages a pipeline stage gave up on after max_deliver attempts."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from earshot.context import fail, settings_for, setup_logging, state


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("dead-letters")(dead_letters)


def dead_letters(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many, newest first.")] = 20,
) -> None:
    """List the dead-lettered stage messages (scale.mode: nats): stage, attempts and the last error."""
    from scheduler import bus

    settings = settings_for(ctx)
    setup_logging(settings.log_level, state(ctx).verbose)
    config = settings.scale
    if config.mode != "nats":
        raise fail(
            "dead letters exist only with scale.mode: nats; "
            "in-process delivery failures are in `earshot alerts --failed`"
        )

    async def read() -> tuple[int, list[bus.DeadLetter]]:
        nc = await bus.connect(config, name="earshot-dead-letters")
        try:
            return await bus.dead_letters(nc.jetstream(), config, limit=limit)
        finally:
            await nc.close()

    try:
        total, letters = asyncio.run(asyncio.wait_for(read(), 15))
    except Exception as exc:
        raise fail(
            f"cannot read dead letters from {config.nats_url}: {type(exc).__name__}: {exc}", 3
        ) from None
    typer.echo(f"{total} dead letter(s) on {bus.dead_stream(config)}")
    for letter in letters:
        typer.echo(
            f"#{letter.seq} {letter.stage} after {letter.attempts} attempt(s) "
            f"at {letter.failed_at}: {letter.error}"
        )
        typer.echo(f"    {letter.size} bytes: {letter.preview}")

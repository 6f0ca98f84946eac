"""What CLI commands share: the config path, loading settings, and clean failure."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer

from domain.plugins import UnknownKind
from earshot.settings import ConfigError, Settings, load_settings
from storage.db import DatabaseError


@dataclass
class CliState:
    """Options given before the command name."""

    config: Path | None = None
    verbose: bool = False


def state(ctx: typer.Context) -> CliState:
    """The root options of this invocation."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear error line (or several) to stderr and return the exit to raise."""
    for line in message.splitlines():
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn configuration and database errors into error lines and an exit code, no traceback."""
    try:
        yield
    except ConfigError as exc:
        raise fail("\n".join(exc.lines), 2) from None
    except (DatabaseError, UnknownKind) as exc:
        raise fail(str(exc), 3 if isinstance(exc, DatabaseError) else 2) from None


def settings_for(ctx: typer.Context) -> Settings:
    """Load and validate settings for this invocation."""
    with clean_errors():
        return load_settings(state(ctx).config)


def setup_logging(level: str, verbose: bool = False) -> None:
    """Log to stderr in a format that reads well in a terminal and in docker logs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    from collectors.redact import RedactingFilter

    # Query strings and credentials in URLs never reach the log, whichever logger carries them.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    # Third-party libraries are chatty at INFO.
    for noisy in ("apscheduler", "httpx", "httpcore", "urllib3", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

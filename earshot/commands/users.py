"""`earshot users` and `earshot tokens`: accounts and API tokens."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI (placeholder)."""

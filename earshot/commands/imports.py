"""`earshot import` and `earshot db rollup`: history and analytics rollups."""

from __future__ import annotations

import typer


def register(app: typer.Typer, db_app: typer.Typer) -> None:
    """Add these commands to the CLI (placeholder)."""

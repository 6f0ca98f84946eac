"""CLI command groups, each registered on the root Typer app."""

"""Builds the FastAPI app for a running Earshot."""

from __future__ import annotations

from fastapi import FastAPI

from earshot.compose import App
from web.app import create_app


def web_app(built: App) -> FastAPI:
    """The dashboard and REST API over this Earshot's database."""
    settings = built.settings
    return create_app(
        session_factory=built.components.sessions,
        brands=[b.name for b in settings.brands],
        competitors={b.name: list(b.competitors) for b in settings.brands},
        clock=built.components.clock,
    )

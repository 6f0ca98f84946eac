"""Builds the FastAPI app for a running Earshot, and its first administrator when asked to."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import FastAPI

from alerting.replies import desk_from
from earshot.compose import App
from earshot.settings import environment
from web.app import create_app, earshot_version
from web.auth.accounts import first_admin

log = logging.getLogger(__name__)
ADMIN_PASSWORD_VARIABLE = "EARSHOT_ADMIN_PASSWORD"


def ensure_first_admin(built: App, password: str | None) -> bool:
    """Create user ``admin`` with ``password`` when the database has no user yet; True when it did."""
    try:
        created = first_admin(built.components.sessions, password=password, now=datetime.now(UTC))
    except ValueError as exc:
        log.error("%s is not usable: %s; no admin was created", ADMIN_PASSWORD_VARIABLE, exc)
        return False
    if created:
        log.warning("created user 'admin' from %s; unset it now", ADMIN_PASSWORD_VARIABLE)
    return created


def web_app(built: App) -> FastAPI:
    """The dashboard and REST API over this Earshot's database."""
    settings = built.settings
    ensure_first_admin(built, environment().get(ADMIN_PASSWORD_VARIABLE))
    return create_app(
        session_factory=built.components.sessions,
        brands=[b.name for b in settings.brands],
        competitors={b.name: list(b.competitors) for b in settings.brands},
        clock=built.components.clock,
        web=settings.web,
        auth=settings.auth,
        teams=settings.teams,
        replies=built.replies or desk_from(settings.replies, user_agent=f"earshot/{earshot_version()}"),
    )

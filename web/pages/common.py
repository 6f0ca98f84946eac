"""Rendering helpers shared by the dashboard pages."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from web.context import WebContext


def is_htmx(request: Request) -> bool:
    """True for a request htmx made to refresh or replace part of a page."""
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, ctx: WebContext, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """Render a template; every page gets the current time and the active nav entry."""
    templates: Jinja2Templates = request.app.state.templates
    values = {"now": ctx.now(), "active": "", **context}
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    # Full pages and htmx fragments share URLs; caches must keep them apart.
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response


def not_found(request: Request, ctx: WebContext, message: str) -> Response:
    """The 404 page."""
    return render(request, ctx, "error.html", {"message": message, "status": 404}, status_code=404)

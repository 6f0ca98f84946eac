"""The FastAPI application factory: REST API under /api, dashboard pages, static files, /healthz."""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import metadata

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.trustedhost import TrustedHostMiddleware

from alerting.config import TeamConfig
from alerting.replies import ReplyDesk
from scheduler.heartbeat import HEARTBEAT, Heartbeat
from storage import metrics_queries
from web.api import alerts as alerts_api
from web.api import analytics as analytics_api
from web.api import auth as auth_api
from web.api import cases as cases_api
from web.api import mentions as mentions_api
from web.api import metrics as metrics_api
from web.api import replies as replies_api
from web.api import silences as silences_api
from web.api import sources as sources_api
from web.api import trends as trends_api
from web.auth.middleware import Authenticator, AuthMiddleware
from web.auth.teams import check_team
from web.config import AuthConfig, WebConfig
from web.context import Context, WebContext, system_clock
from web.guard import MAX_BODY_BYTES, RequestGuardMiddleware
from web.inputs import database_refused, validation_error
from web.pages import alerts as alerts_pages
from web.pages import analytics as analytics_pages
from web.pages import auth as auth_pages
from web.pages import mentions as mentions_pages
from web.pages import overview as overview_pages
from web.pages import sources as sources_pages
from web.security import SecurityMiddleware
from web.templating import STATIC_DIR, build_templates

log = logging.getLogger(__name__)

# Served from web/static/vendor so /docs works offline; FastAPI's default page loads Swagger from a CDN.
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<link rel="icon" href="data:,"></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>"""


def earshot_version() -> str:
    """The installed Earshot version ("0" when run from a source tree that is not installed)."""
    try:
        return metadata.version("earshot")
    except metadata.PackageNotFoundError:
        return "0"


def create_app(
    *,
    session_factory: sessionmaker[Session],
    brands: list[str] | None = None,
    competitors: dict[str, list[str]] | None = None,
    clock: Callable[[], datetime] | None = None,
    title: str = "Earshot",
    heartbeat: Heartbeat = HEARTBEAT,
    max_body_bytes: int = MAX_BODY_BYTES,
    web: WebConfig | None = None,
    auth: AuthConfig | None = None,
    teams: Sequence[TeamConfig] = (),
    replies: ReplyDesk | None = None,
) -> FastAPI:
    """Build the dashboard and REST API over the database behind ``session_factory``.

    ``brands`` are the brands monitored for this deployment; ``competitors`` maps
    each of them to the brands it is compared with in share of voice. With no
    brands configured, charts show the busiest brands found in the data.
    ``heartbeat`` is the scheduler's (the process-wide one unless a test passes its own);
    request bodies above ``max_body_bytes`` are refused with 413. ``web`` gives the Host names
    accepted (others get 400) and ``auth`` the sign-in settings; every route but /healthz,
    /login and /static needs a signed-in user or an API token. ``teams`` give the inbox its SLA
    targets and business hours; ``replies`` is the reply desk the composer posts through (its
    connections are closed when the app shuts down; without one, sending answers 409).
    """
    web = web or WebConfig()
    auth = auth or AuthConfig()
    ctx = WebContext(
        session_factory=session_factory,
        brands=tuple(dict.fromkeys(brands or ())),
        competitors={brand: tuple(names) for brand, names in (competitors or {}).items()},
        clock=clock or system_clock,
        title=title,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # The repliers keep HTTP connection pools open to the sources.
            if replies is not None:
                replies.pool.close()

    app = FastAPI(
        lifespan=lifespan,
        title=f"{title} API",
        version=earshot_version(),
        description="Mentions, alerts, trends and source health of an Earshot deployment.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        # Every route, including ones added later, gets the team check of acting routes.
        dependencies=[Depends(check_team)],
    )
    app.state.earshot = ctx
    app.state.teams = {team.name: team for team in teams}
    if replies is not None:
        app.state.replies = replies
    app.state.templates = build_templates(title)
    app.state.metrics_registry = metrics_api.build_registry(ctx, heartbeat)
    secure = auth.secure_cookies
    if secure is None:
        secure = (web.base_url or "").lower().startswith("https://")
    app.state.auth = Authenticator(
        session_factory=session_factory, config=auth, clock=ctx.now, secure_cookies=secure
    )
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(DataError, database_refused)
    # Outermost last. From the outside in: security headers and the cross-site refusal wrap every
    # answer; a foreign Host (DNS rebinding) gets 400 before credentials are even looked at; then
    # authentication, so an anonymous caller cannot make the guard read a megabyte; then the guard.
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(AuthMiddleware, authenticator=app.state.auth)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=web.hosts(), www_redirect=False)
    app.add_middleware(SecurityMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    api_modules = (mentions_api, alerts_api, trends_api, sources_api, silences_api, metrics_api)
    for module in (*api_modules, auth_api, cases_api, replies_api, analytics_api):
        app.include_router(module.router)
    for page in (overview_pages, mentions_pages, alerts_pages, sources_pages, analytics_pages, auth_pages):
        app.include_router(page.router)

    @app.get(
        "/healthz",
        tags=["health"],
        responses={503: {"description": "database unreachable, or the scheduler stopped ticking"}},
    )
    def healthz(ctx: Context) -> JSONResponse:
        """200 when the database answers and the scheduler (if this process runs one) ticks, else 503."""
        ticking, detail = heartbeat.status()
        if not ticking:
            log.warning("health check: scheduler stalled: %s", detail)
            return JSONResponse({"status": "unavailable", "scheduler": detail}, status_code=503)
        try:
            with ctx.session_factory() as session:
                metrics_queries.ping(session)
        except Exception:
            # Any failure means "not healthy"; the reason goes to the log, not to the prober.
            log.warning("health check: database unreachable", exc_info=True)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI for /openapi.json, from vendored assets."""
        return HTMLResponse(DOCS_PAGE.format(title=html.escape(title)))

    return app

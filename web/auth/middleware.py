"""Authentication for every route, as one pure ASGI middleware.

Everything is closed unless listed in ``PUBLIC``: a route added later is covered without anyone
remembering to protect it. Each request is resolved to a ``User`` from an ``Authorization:
Bearer`` token or the signed session cookie, stored as ``request.state.user``; anonymous API calls
get 401 and anonymous page views a redirect to /login. Viewers are refused any unsafe method here
but signing in/out and keeping their own saved searches, so no new form or endpoint can let them
change anything shared; team checks are ``web.auth.teams``'.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.cookies import SimpleCookie
from urllib.parse import quote

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from storage import accounts
from web.auth import User, is_api
from web.auth.accounts import token_user, user_of
from web.auth.cookies import COOKIE_NAME, SessionCookies
from web.config import AuthConfig

log = logging.getLogger(__name__)

PUBLIC = frozenset({"/healthz", "/login"})
PUBLIC_PREFIXES = ("/static/",)
NO_LOOKUP = frozenset({"/healthz"})
# Changes a viewer may make: signing in and out, and their own saved searches (personal: each
# user sees and deletes only theirs, so a viewer changes nothing anyone else relies on).
VIEWER_MAY_POST = frozenset({"/login", "/logout"})
VIEWER_MAY_CHANGE = (
    ("POST", re.compile(r"/api/searches")),
    ("DELETE", re.compile(r"/api/searches/[^/]+")),
    ("POST", re.compile(r"/searches")),
    ("POST", re.compile(r"/searches/[^/]+/delete")),
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SECRET_NAME = "session"


def viewer_may(method: str, path: str) -> bool:
    """True for the few unsafe requests a viewer may make (sign in/out, their own saved searches)."""
    if method == "POST" and path in VIEWER_MAY_POST:
        return True
    return any(method == allowed and pattern.fullmatch(path) for allowed, pattern in VIEWER_MAY_CHANGE)


def is_public(path: str) -> bool:
    """True for the few routes anyone may reach."""
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def is_loopback(host: str | None) -> bool:
    """True for a client address on this machine."""
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Authenticator:
    """Resolves credentials to users; built once per app and kept on ``app.state.auth``."""

    session_factory: sessionmaker[Session]
    config: AuthConfig
    clock: Callable[[], datetime]
    secure_cookies: bool = False
    _cookies: SessionCookies | None = field(default=None, init=False)

    def cookies(self) -> SessionCookies:
        """The cookie signer, with the configured secret or the one generated and kept in the database."""
        if self._cookies is None:
            if self.config.session_secret is not None:
                secret = self.config.session_secret.get_secret_value()
            else:
                with self.session_factory.begin() as session:
                    secret = accounts.secret(
                        session, name=_SECRET_NAME, generate=secrets.token_urlsafe(48), now=self.clock()
                    )
            self._cookies = SessionCookies(
                secret=secret,
                max_age_seconds=int(self.config.session_hours * 3600),
                secure=self.secure_cookies,
            )
        return self._cookies

    def from_token(self, token: str) -> User | None:
        """The owner of a live API token."""
        with self.session_factory.begin() as session:
            return token_user(session, token=token, now=self.clock())

    def from_cookie(self, value: str) -> User | None:
        """The user of a genuine, current session cookie."""
        found = self.cookies().read(value)
        if found is None:
            return None
        user_id, epoch = found
        with self.session_factory() as session:
            account = accounts.user_by_id(session, user_id)
        if account is None or account.session_epoch != epoch:
            return None
        return user_of(account)

    def resolve(self, headers: Headers) -> tuple[User | None, bool]:
        """(the user, whether credentials were sent): a bad token is refused, a stale cookie ignored."""
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, True
            return self.from_token(token.strip()), True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no session, not a 500
            return None, False
        morsel = cookie.get(COOKIE_NAME)
        if morsel is None or not morsel.value:
            return None, False
        return self.from_cookie(morsel.value), False


def _refusal(scope: Scope, status: int, message: str) -> Response:
    path: str = scope["path"]
    if status == 401 and not is_api(path):
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        where = f"/login?next={quote(target, safe='')}" if scope["method"] == "GET" else "/login"
        return RedirectResponse(where, status_code=303)
    if is_api(path):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return PlainTextResponse(message, status_code=status)


class AuthMiddleware:
    """Resolves the user of every request and refuses what they may not do."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in NO_LOOKUP or path.startswith(PUBLIC_PREFIXES):
            # Probes and assets never need to know who asks: no database lookup for them.
            scope.setdefault("state", {})["user"] = None
            await self.app(scope, receive, send)
            return
        try:
            user, sent_credentials = await run_in_threadpool(self.authenticator.resolve, Headers(scope=scope))
        except SQLAlchemyError:
            log.warning("cannot check credentials: database unreachable", exc_info=True)
            if not is_public(path):
                await _refusal(scope, 503, "database unreachable")(scope, receive, send)
                return
            user, sent_credentials = None, True
        scope.setdefault("state", {})["user"] = user
        if is_public(path):
            await self.app(scope, receive, send)
            return
        if user is None:
            client = scope.get("client")
            open_metrics = self.authenticator.config.metrics_loopback_open and path == "/metrics"
            if open_metrics and not sent_credentials and is_loopback(client[0] if client else None):
                await self.app(scope, receive, send)
                return
            message = "invalid or revoked API token" if sent_credentials else "sign in or send an API token"
            await _refusal(scope, 401, message)(scope, receive, send)
            return
        method = scope["method"]
        if method not in SAFE_METHODS and user.role == "viewer" and not viewer_may(method, path):
            await _refusal(scope, 403, "viewers cannot change anything")(scope, receive, send)
            return
        await self.app(scope, receive, send)

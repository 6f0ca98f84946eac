"""Response hardening and cross-site request refusal, as one pure ASGI middleware.

The dashboard shows text written by strangers (tweets, feed items). Jinja
autoescaping is the main defence; a strict Content-Security-Policy (scripts only
from this origin, no inline script, no eval) is the second line, so a missed
escape still cannot run script. State-changing requests from another site's
page are refused, so a hostile link cannot acknowledge or resolve alerts.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets inline styles on the elements it renders; it still runs no inline script.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_cross_site(headers: Headers) -> bool:
    """True when a browser says the request comes from another site's page."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        # "none" is the user typing the URL or using a bookmark.
        return site not in {"same-origin", "none"}
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser (curl, scripts, the CLI): nothing to check
    return origin == "null" or urlsplit(origin).netloc != headers.get("host", "")


class SecurityMiddleware:
    """Adds security headers to every response and refuses cross-site unsafe requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] not in SAFE_METHODS and is_cross_site(headers):
            response = PlainTextResponse("cross-site requests may not change anything", status_code=403)
            await response(scope, receive, self._with_headers(send, scope))
            return
        await self.app(scope, receive, self._with_headers(send, scope))

    @staticmethod
    def _with_headers(send: Send, scope: Scope) -> Send:
        policy = DOCS_CSP if scope["path"] == "/docs" else CSP

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped

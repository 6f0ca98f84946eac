"""Request guard: a cap on bodies (413) and a refusal of NUL and unpaired surrogates (422).

PostgreSQL cannot store a NUL in text and neither database driver can encode a lone UTF-16
surrogate, so either one reaching a query is a 500. They are refused here, for the path, the
query string and JSON or form bodies alike, before any handler sees them. Bodies are read in full
(they are small once capped) so the check and the handler see the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A silence, an action or a form is a few kilobytes; a megabyte leaves room and refuses abuse.
MAX_BODY_BYTES = 1 << 20
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def unstorable(text: str) -> bool:
    """True when ``text`` holds a NUL or a lone surrogate, which no database column can take."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bad_body(content_type: str, body: bytes) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            document = json.loads(body)
        except ValueError:
            return False  # not JSON at all: FastAPI answers with its own 422
        return any(unstorable(s) for s in _strings(document))
    if media == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
        return any("\x00" in k or "\x00" in v for k, v in pairs)
    # Multipart and anything else: no field we accept is binary, so a raw NUL is never meant.
    return b"\x00" in body


def _refusal(status: int, kind: str, where: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": [{"type": kind, "loc": [where], "msg": message}]}, status_code=status)


class RequestGuardMiddleware:
    """Refuses oversized bodies with 413 and NUL characters with 422, as one pure ASGI middleware."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        too_large = _refusal(
            413, "body_too_large", "body", f"the request body is over {self.max_body_bytes} bytes"
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_large(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            where = "path" if "\x00" in scope["path"] else "query"
            refusal = _refusal(422, "nul_character", where, "NUL characters are not allowed")
            await refusal(scope, receive, send)
            return
        if scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        body, disconnected = await self._read(receive)
        if body is None:
            await too_large(scope, receive, send)
            return
        if _bad_body(headers.get("content-type", ""), body):
            refusal = _refusal(
                422, "unstorable_character", "body", "NUL characters and unpaired surrogates are not allowed"
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._replay(body, receive, disconnected), send)

    async def _read(self, receive: Receive) -> tuple[bytes | None, bool]:
        """The whole body, or None once it passes the cap; and whether the client went away."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None, False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    @staticmethod
    def _replay(body: bytes, receive: Receive, disconnected: bool) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            if disconnected:
                return {"type": "http.disconnect"}
            return await receive()

        return replay

"""Signing in and out of the dashboard."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from web.auth import User
from web.auth.accounts import BadCredentials, TooManyAttempts, sign_in
from web.auth.middleware import Authenticator
from web.context import Context
from web.inputs import NAME_CHARS
from web.pages.common import render

router = APIRouter(include_in_schema=False)

Name = Annotated[str, Form(max_length=NAME_CHARS)]
Password = Annotated[str, Form(max_length=1024)]
Next = Annotated[str, Form(max_length=2048)]


def local_target(target: str | None) -> str:
    """``target`` when it is a path on this site, else the overview (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(ch) < 0x20 or ch == "\\" for ch in target):
        return "/"
    return target


def _page(
    request: Request, ctx: Context, *, target: str, message: str = "", status_code: int = 200
) -> Response:
    context = {"next": target, "message": message, "name": ""}
    return render(request, ctx, "login.html", context, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Context, next: str | None = None) -> Response:
    """The sign-in form (a signed-in user goes straight on)."""
    target = local_target(next)
    if isinstance(request.scope.get("state", {}).get("user"), User):
        return RedirectResponse(target, status_code=303)
    return _page(request, ctx, target=target)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: Context, name: Name, password: Password, next: Next = "/") -> Response:
    """Check the name and password; set the session cookie, or say why not (429 after many failures)."""
    target = local_target(next)
    authenticator: Authenticator = request.app.state.auth
    config = authenticator.config
    ip = request.client.host if request.client else "unknown"
    try:
        account = await run_in_threadpool(
            lambda: sign_in(
                ctx.session_factory,
                name=name,
                password=password,
                ip=ip,
                now=ctx.now(),
                max_failures=config.login_max_failures,
                window=timedelta(minutes=config.login_window_minutes),
            )
        )
    except TooManyAttempts as exc:
        response = _page(
            request, ctx, target=target, message="Too many failed attempts; try again later.", status_code=429
        )
        response.headers["Retry-After"] = str(math.ceil(exc.retry_after.total_seconds()))
        return response
    except BadCredentials:
        return _page(request, ctx, target=target, message="Wrong name or password.", status_code=401)
    cookies = await run_in_threadpool(authenticator.cookies)
    response = RedirectResponse(target, status_code=303)
    response.headers.append(
        "set-cookie", cookies.header(cookies.sign(user_id=account.id, epoch=account.session_epoch))
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End this browser's session and go back to the sign-in form."""
    authenticator: Authenticator = request.app.state.auth
    cookies = await run_in_threadpool(authenticator.cookies)
    response = RedirectResponse("/login", status_code=303)
    response.headers.append("set-cookie", cookies.clearing_header())
    return response

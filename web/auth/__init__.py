"""Who is asking: the signed-in user or API token, and what they may do.

The authentication middleware (``web.auth.middleware``) resolves every request to a ``User`` or
refuses it; these dependencies hand that user to handlers, which record it in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

Role = Literal["viewer", "responder", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "responder", "admin")


@dataclass(frozen=True)
class User:
    """A signed-in person (or the owner of an API token) and the teams they work in."""

    id: int
    name: str
    role: Role
    teams: tuple[str, ...] = ()

    def can_act(self, team: str | None) -> bool:
        """True when this user may change an alert of ``team`` (ack, resolve, assign, reply...)."""
        if self.role == "admin":
            return True
        if self.role == "responder":
            return team is not None and team in self.teams
        return False

    @property
    def is_admin(self) -> bool:
        """True for an administrator."""
        return self.role == "admin"


def is_api(path: str) -> bool:
    """True for machine-facing routes (401 when anonymous); pages redirect to /login instead."""
    return path == "/api" or path.startswith("/api/") or path in {"/metrics", "/openapi.json"}


def wants_page(request: Request) -> bool:
    """True for a dashboard page (redirected to /login), False for the API (answered 401)."""
    return not is_api(request.url.path)


def login_redirect(request: Request) -> HTTPException:
    """A 303 to the login page that comes back to this page after signing in."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(
        status_code=status.HTTP_303_SEE_OTHER,
        detail="sign in first",
        headers={"Location": f"/login?next={quote(target, safe='')}"},
    )


def current_user(request: Request) -> User:
    """The signed-in user; 401 for the API or a redirect to /login for pages when anonymous."""
    user = getattr(request.state, "user", None)
    if isinstance(user, User):
        return user
    if wants_page(request):
        raise login_redirect(request)
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="sign in or send an API token",
        headers={"WWW-Authenticate": "Bearer"},
    )


def acting_user(user: Annotated[User, Depends(current_user)]) -> User:
    """The signed-in user when they may act on alerts at all; 403 for viewers."""
    if user.role == "viewer":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="viewers cannot change anything")
    return user


def require_team(user: User, team: str | None) -> None:
    """Refuse with 403 unless ``user`` may act on an alert of ``team``."""
    if not user.can_act(team):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="this alert belongs to a team you do not act for"
        )


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    """The signed-in user when an administrator; 403 otherwise."""
    if not user.is_admin:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="administrators only")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
ActingUser = Annotated[User, Depends(acting_user)]
AdminUser = Annotated[User, Depends(admin_user)]

__all__ = [
    "ROLES",
    "ActingUser",
    "AdminUser",
    "CurrentUser",
    "Role",
    "User",
    "acting_user",
    "admin_user",
    "current_user",
    "is_api",
    "login_redirect",
    "require_team",
    "wants_page",
]

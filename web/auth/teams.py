"""Team permissions for every acting route, as one app-wide dependency.

A route that changes something and names a resource in its path (``{alert_id}``,
``{delivery_id}``, or whatever another module registers) is checked against the team that owns
the resource, before its handler runs: a new acting route is covered without anyone
remembering to check. Routes that take their targets from the body (bulk actions, silences)
call ``web.auth.require_team`` themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from sqlalchemy.orm import Session

from storage import accounts
from web.auth import User, require_team
from web.context import get_context

# (exists, team) of a resource by id; a missing one is left to its handler's 404.
TeamLookup = Callable[[Session, int], tuple[bool, str | None]]
TEAM_OF: dict[str, TeamLookup] = {
    "alert_id": accounts.alert_team,
    "delivery_id": accounts.delivery_team,
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def register_team_lookup(path_param: str, lookup: TeamLookup) -> None:
    """Have acting routes with ``{path_param}`` checked against the team ``lookup`` finds."""
    TEAM_OF[path_param] = lookup


def check_team(request: Request) -> None:
    """Refuse (403) a change to a resource of a team the signed-in user does not act for."""
    if request.method in _SAFE_METHODS:
        return
    user = request.scope.get("state", {}).get("user")
    if not isinstance(user, User) or user.is_admin:
        return
    for name, value in request.path_params.items():
        lookup = TEAM_OF.get(name)
        if lookup is None:
            continue
        try:
            resource_id = int(value)
        except (TypeError, ValueError):
            continue  # the route's own validation answers 422
        if not 1 <= resource_id < 2**63:
            continue
        with get_context(request).session_factory() as session:
            exists, team = lookup(session, resource_id)
        if exists:
            require_team(user, team)

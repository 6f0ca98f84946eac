"""Who am I: the signed-in user or token owner, with their role and teams."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from web.auth import CurrentUser

router = APIRouter(prefix="/api", tags=["auth"])


class MeOut(BaseModel):
    """The caller's account."""

    id: int
    name: str
    role: str
    teams: list[str]


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    """The account behind this session or API token."""
    return MeOut(id=user.id, name=user.name, role=user.role, teams=list(user.teams))

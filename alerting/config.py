"""Routing, team and channel settings, as they appear in earshot.yaml."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain import Sentiment, Urgency


class RouteMatch(BaseModel):
    """Conditions a classified mention must meet; every given field must hold (AND)."""

    model_config = ConfigDict(extra="forbid")

    brand: list[str] | None = None
    source: list[str] | None = None
    sentiment: list[Sentiment] | None = None
    urgency: Urgency | None = Field(None, description="this level or above")
    categories: list[str] | None = Field(None, description="any of these categories")
    language: list[str] | None = None
    min_followers: int | None = None
    min_engagement: int | None = None


class RouteConfig(BaseModel):
    """One route: where matching alerts go. Ordered; first match wins unless ``continue``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    team: str
    match: RouteMatch = Field(default_factory=RouteMatch)
    channels: list[str] | None = Field(None, description="overrides the team's channels")
    continue_: bool = Field(False, alias="continue")
    default: bool = False


class TeamConfig(BaseModel):
    """A team that answers alerts, and where it hears about them."""

    model_config = ConfigDict(extra="forbid")

    name: str
    channels: list[str] = Field(default_factory=list)


class ChannelConfig(BaseModel):
    """A configured channel instance; ``options`` are validated by the channel kind's own model."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)


class AlertingConfig(BaseModel):
    """Global alerting behaviour."""

    model_config = ConfigDict(extra="forbid")

    # Mentions below this urgency need no response and raise no alert.
    min_urgency: Urgency = Urgency.MEDIUM
    # Outbox retries: attempts before a delivery is dead-lettered, and the backoff base.
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_seconds: float = Field(10.0, gt=0)
    backoff_max_seconds: float = Field(3600.0, gt=0)
    # A delivery claimed but not confirmed within this lease is retried (crash safety).
    lease_seconds: float = Field(120.0, gt=0)


def check_routes(
    routes: list[RouteConfig], teams: list[TeamConfig], channels: list[ChannelConfig]
) -> list[str]:
    """Cross-reference errors as 'path: message' lines (empty when consistent)."""
    errors: list[str] = []
    team_names = {t.name for t in teams}
    channel_names = {c.name for c in channels}
    defaults = [i for i, r in enumerate(routes) if r.default]
    if not routes:
        errors.append("routes: at least one route is required, the last one with 'default: true'")
    elif not defaults:
        errors.append("routes: a default route is required (add 'default: true' to the last route)")
    elif len(defaults) > 1:
        errors.append(f"routes[{defaults[1]}].default: only one route may be the default")
    elif defaults[0] != len(routes) - 1:
        errors.append(f"routes[{defaults[0]}].default: the default route must be the last one")
    for i, route in enumerate(routes):
        if route.team not in team_names:
            errors.append(f"routes[{i}].team: unknown team {route.team!r}; teams: {sorted(team_names)}")
        for j, name in enumerate(route.channels or []):
            if name not in channel_names:
                errors.append(f"routes[{i}].channels[{j}]: unknown channel {name!r}")
    for i, team in enumerate(teams):
        for j, name in enumerate(team.channels):
            if name not in channel_names:
                errors.append(f"teams[{i}].channels[{j}]: unknown channel {name!r}")
    return errors

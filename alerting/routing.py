"""Ordered routes, first match wins: which team hears about a classified mention, and why."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alerting.config import RouteConfig, RouteMatch, TeamConfig
from domain import Classification, Mention

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """A route that matched: the team, its channels, and the reason, snapshotted onto the alert."""

    route: str
    team: str
    channels: tuple[str, ...]
    reason: str
    snapshot: dict[str, Any]


@dataclass
class Router:
    """Evaluates the configured routes in order."""

    routes: Sequence[RouteConfig]
    teams: Sequence[TeamConfig]
    # Routes that failed to evaluate, by name, so `earshot` can report broken rules.
    errors: dict[str, int] = field(default_factory=dict)

    def decide(self, mention: Mention, classification: Classification) -> list[RouteDecision]:
        """The routes this mention goes to: the first match, plus any after a `continue` route."""
        team_channels = {t.name: tuple(t.channels) for t in self.teams}
        decisions: list[RouteDecision] = []
        for route in self.routes:
            try:
                reasons = None if route.default else match_reasons(route.match, mention, classification)
            except Exception as exc:  # a broken rule is no match, never a crashed pipeline
                self.errors[route.name] = self.errors.get(route.name, 0) + 1
                log.warning("route %s could not be evaluated: %s", route.name, exc)
                continue
            if route.default and decisions:
                break
            if route.default:
                reasons = ["default route"]
            if reasons is None:
                continue
            channels = (
                tuple(route.channels) if route.channels is not None else team_channels.get(route.team, ())
            )
            decisions.append(
                RouteDecision(
                    route=route.name,
                    team=route.team,
                    channels=channels,
                    reason="; ".join(reasons) or "matches everything",
                    snapshot=route.model_dump(mode="json", by_alias=True),
                )
            )
            if not route.continue_:
                break
        return decisions


def match_reasons(match: RouteMatch, mention: Mention, c: Classification) -> list[str] | None:
    """Why ``match`` holds for this mention, or None when it does not."""
    reasons: list[str] = []
    if match.brand is not None:
        hit = [b for b in mention.brands if b in match.brand]
        if not hit:
            return None
        reasons.append(f"brand {hit[0]}")
    if match.source is not None:
        if mention.source not in match.source and mention.source_kind not in match.source:
            return None
        reasons.append(f"source {mention.source}")
    if match.sentiment is not None:
        if c.sentiment not in match.sentiment:
            return None
        reasons.append(f"sentiment {c.sentiment}")
    if match.urgency is not None:
        if not c.urgency.at_least(match.urgency):
            return None
        reasons.append(f"urgency {c.urgency} >= {match.urgency}")
    if match.categories is not None:
        hit = [cat for cat in c.categories if cat in match.categories]
        if not hit:
            return None
        reasons.append(f"categories {', '.join(hit)}")
    if match.language is not None:
        language = c.language or mention.language
        if language not in match.language:
            return None
        reasons.append(f"language {language}")
    if match.min_followers is not None:
        followers = mention.author.followers or 0
        if followers < match.min_followers:
            return None
        reasons.append(f"followers {followers} >= {match.min_followers}")
    if match.min_engagement is not None:
        if mention.engagement.total < match.min_engagement:
            return None
        reasons.append(f"engagement {mention.engagement.total} >= {match.min_engagement}")
    return reasons

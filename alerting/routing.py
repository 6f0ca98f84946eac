"""Ordered routes, first match wins: which team hears about a classified mention, and why."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerting.config import RouteConfig, RouteMatch, TeamConfig
from alerting.matchers import Matcher, evaluate_all, mention_labels, parse_matcher
from domain import Classification, Mention

log = logging.getLogger(__name__)

# Legacy threshold fields and the label they compare.
_LEGACY_MINIMUMS = {"min_followers": "followers", "min_engagement": "engagement"}


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """A route that matched: the team, its channels, and the reason, snapshotted onto the alert."""

    route: str
    team: str
    channels: tuple[str, ...]
    reason: str
    snapshot: dict[str, Any]


def compile_match(match: RouteMatch) -> list[Matcher]:
    """The matchers of a route's ``match``, in field order."""
    out = []
    for name, value in match:
        if value is None:
            continue
        if name in _LEGACY_MINIMUMS:
            out.append(Matcher(_LEGACY_MINIMUMS[name], ">=", number=value, legacy=True))
        else:
            out.append(parse_matcher(name, value))
    return out


@dataclass(frozen=True, slots=True)
class _Compiled:
    config: RouteConfig
    matchers: list[Matcher] | None
    problem: str | None
    channels: tuple[str, ...]
    snapshot: dict[str, Any]


@dataclass
class Router:
    """Evaluates the configured routes in order; matchers are compiled once, here."""

    routes: Sequence[RouteConfig]
    teams: Sequence[TeamConfig]
    # Routes that failed to evaluate, by name, so `earshot` can report broken rules.
    errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        team_channels = {t.name: tuple(t.channels) for t in self.teams}
        self.team_by_name: dict[str, TeamConfig] = {t.name: t for t in self.teams}
        self.route_by_name: dict[str, RouteConfig] = {r.name: r for r in self.routes}
        self._compiled: list[_Compiled] = []
        for route in self.routes:
            matchers: list[Matcher] | None = None
            problem = None
            try:
                matchers = compile_match(route.match)
            except Exception as exc:  # validated config cannot get here; a hand-built one can
                problem = f"{type(exc).__name__}: {exc}"
            channels = (
                tuple(route.channels) if route.channels is not None else team_channels.get(route.team, ())
            )
            snapshot = route.model_dump(mode="json", by_alias=True)
            self._compiled.append(_Compiled(route, matchers, problem, channels, snapshot))

    def decide(self, mention: Mention, classification: Classification) -> list[RouteDecision]:
        """The routes this mention goes to: the first match, plus any after a `continue` route."""
        return self.decide_labels(mention_labels(mention, classification))

    def decide_labels(self, labels: Mapping[str, Any]) -> list[RouteDecision]:
        """Like ``decide``, for labels already built."""
        decisions: list[RouteDecision] = []
        for compiled in self._compiled:
            route = compiled.config
            if route.default:
                if decisions:
                    break
                reasons: list[str] | None = ["default route"]
            else:
                try:
                    if compiled.matchers is None:
                        raise ValueError(compiled.problem)
                    reasons = evaluate_all(compiled.matchers, labels)
                except Exception as exc:  # a broken rule is no match, never a crashed pipeline
                    self._broken(route.name, exc)
                    continue
            if reasons is None:
                continue
            decisions.append(
                RouteDecision(
                    route=route.name,
                    team=route.team,
                    channels=compiled.channels,
                    reason="; ".join(reasons) or "matches everything",
                    snapshot=compiled.snapshot,
                )
            )
            if not route.continue_:
                break
        return decisions

    def asks_for_competitors(self, route_name: str) -> bool:
        """True when a route names brands or brand_role: only such routes take competitor mentions."""
        route = self.route_by_name.get(route_name)
        return route is not None and (route.match.brand is not None or route.match.brand_role is not None)

    def _broken(self, name: str, exc: Exception) -> None:
        count = self.errors.get(name, 0) + 1
        self.errors[name] = count
        # Once per route at WARNING: a broken rule hit by every mention must not flood the log.
        log.log(
            logging.WARNING if count == 1 else logging.DEBUG,
            "route %s could not be evaluated (%d times): %s",
            name,
            count,
            exc,
        )

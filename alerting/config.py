"""Routing, team and channel settings, as they appear in earshot.yaml."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from alerting.matchers import MENTION_FIELDS, MatcherError, parse_matcher
from alerting.windows import OffHoursPolicy, TimeWindow, Weekday, check_timezone
from domain import Urgency

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> object:
    """Seconds from a number or a string like ``30s``, ``5m``, ``4h``, ``1h30m`` or ``1d``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            raise ValueError(f"{value!r} is not a duration (e.g. 30s, 5m, 4h, 1d)")
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return value


def duration_seconds(text: str) -> float:
    """Seconds in a duration string such as ``2h`` or ``90``; ValueError when it is not one."""
    value = parse_duration(text)
    assert isinstance(value, float)
    return value


# Seconds; the YAML may say 300 or "5m".
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
MatchValue = str | int | float | list[str | int]
GROUP_LABELS = ("brand", "source", "sentiment", "urgency", "category", "language", "team", "kind", "story")


class RouteMatch(BaseModel):
    """Conditions a classified mention must meet; every given field must hold (AND).

    Each field takes a list (any of), a bare value, or a compact ``"op value"`` string: see
    ``alerting.matchers`` for the operators.
    """

    model_config = ConfigDict(extra="forbid")

    brand: MatchValue | None = None
    brand_role: MatchValue | None = Field(None, description="own or competitor")
    source: MatchValue | None = None
    sentiment: MatchValue | None = None
    urgency: MatchValue | None = Field(None, description="a bare level means this level or above")
    categories: MatchValue | None = Field(None, description="a list means any of these categories")
    language: MatchValue | None = None
    min_followers: int | None = None
    min_engagement: int | None = None
    followers: MatchValue | None = Field(None, description="a bare number means at least")
    engagement: MatchValue | None = Field(None, description="likes + shares + replies")
    author: MatchValue | None = None
    query: MatchValue | None = Field(None, description="the brand query text the mention matched")
    text: MatchValue | None = Field(None, description="the mention's title and text")

    @field_validator(*MENTION_FIELDS)
    @classmethod
    def _parses(cls, value: MatchValue | None, info: ValidationInfo) -> MatchValue | None:
        if value is not None:
            try:
                parse_matcher(str(info.field_name), value)
            except MatcherError as exc:
                # A custom error keeps the message plain: "routes[2].match.text: invalid regular ...".
                raise PydanticCustomError("matcher", "{problem}", {"problem": str(exc)}) from None
        return value


class GroupingConfig(BaseModel):
    """Alertmanager-style notification grouping; all zero/None means one notification per alert."""

    model_config = ConfigDict(extra="forbid")

    group_by: list[str] = Field(default_factory=list, description="labels that split a route's groups")
    group_wait: Duration = 0.0
    group_interval: Duration = 0.0
    repeat_interval: Duration | None = None

    _labels = field_validator("group_by")(lambda v: _check_group_by(v))


def _check_group_by(labels: list[str]) -> list[str]:
    unknown = [label for label in labels if label not in GROUP_LABELS]
    if unknown:
        raise ValueError(f"unknown group_by label {unknown[0]!r}; labels: {', '.join(GROUP_LABELS)}")
    return labels


class RouteConfig(BaseModel):
    """One route: where matching alerts go. Ordered; first match wins unless ``continue``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    team: str
    match: RouteMatch = Field(default_factory=RouteMatch)
    channels: list[str] | None = Field(None, description="overrides the team's channels")
    continue_: bool = Field(False, alias="continue")
    default: bool = False
    # Grouping; None inherits alerting.grouping.
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None

    _labels = field_validator("group_by")(lambda v: v if v is None else _check_group_by(v))

    def grouping(self, defaults: GroupingConfig) -> GroupingConfig:
        """This route's grouping with unset fields taken from ``defaults``."""
        return GroupingConfig(
            group_by=defaults.group_by if self.group_by is None else self.group_by,
            group_wait=defaults.group_wait if self.group_wait is None else self.group_wait,
            group_interval=defaults.group_interval if self.group_interval is None else self.group_interval,
            repeat_interval=defaults.repeat_interval
            if self.repeat_interval is None
            else self.repeat_interval,
        )


class EscalationStep(BaseModel):
    """Wait, then (if nobody acknowledged) notify these channels."""

    model_config = ConfigDict(extra="forbid")

    wait: Duration = Field(description="after the alert fired, or after the previous step")
    channels: list[str] = Field(min_length=1)


class EscalationConfig(BaseModel):
    """A team's escalation chain; snapshotted onto each alert when it fires."""

    model_config = ConfigDict(extra="forbid")

    steps: list[EscalationStep] = Field(min_length=1)
    # How many more times the whole chain runs after its last step.
    repeat: int = Field(0, ge=0, le=20)
    min_urgency: Urgency = Urgency.HIGH


class DigestConfig(BaseModel):
    """A scheduled summary for a team, in the team's time zone."""

    model_config = ConfigDict(extra="forbid")

    schedule: Literal["daily", "weekly"] = "daily"
    at: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    weekday: Weekday = Weekday.MON
    channels: list[str] | None = Field(None, description="default: the team's channels")
    brands: list[str] | None = Field(None, description="default: every brand")
    top: int = Field(5, ge=1, le=50)

    @field_validator("at", mode="before")
    @classmethod
    def _sexagesimal(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 09:00 as 540 minutes.
        return f"{value // 60:02d}:{value % 60:02d}" if isinstance(value, int) else value


class SlaConfig(BaseModel):
    """A team's response targets, counted in business hours when the team has them."""

    model_config = ConfigDict(extra="forbid")

    first_response: Duration | None = Field(None, description="from the alert to the first reply")
    resolution: Duration | None = Field(None, description="from the alert to its resolution")
    business_hours_only: bool = Field(True, description="count only the team's business hours")
    channels: list[str] | None = Field(None, description="who hears of a breach; default: the team's")


class AutoAssignConfig(BaseModel):
    """Round-robin assignment of new cases to the team's responders who are on."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_open_per_person: int = Field(10, ge=1, description="unresolved cases one person may hold")


class TeamConfig(BaseModel):
    """A team that answers alerts, where it hears about them, and when."""

    model_config = ConfigDict(extra="forbid")

    name: str
    channels: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    quiet_hours: list[TimeWindow] = Field(default_factory=list)
    business_hours: list[TimeWindow] = Field(default_factory=list)
    off_hours: OffHoursPolicy = Field(default_factory=OffHoursPolicy)
    escalation: EscalationConfig | None = None
    digest: DigestConfig | None = None
    sla: SlaConfig | None = None
    auto_assign: AutoAssignConfig | None = None

    _zone = field_validator("timezone")(check_timezone)


class ChannelConfig(BaseModel):
    """A configured channel instance; ``options`` are validated by the channel kind's own model."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)
    # Overrides the channel kind's own rate limit (messages per minute from this process).
    max_per_minute: int | None = Field(None, ge=1)


class SpikeConfig(BaseModel):
    """Per-brand spike detection on mention volume and negative share."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    team: str = "pr"
    interval: Duration = Field(300.0, gt=0)
    # How many standard deviations above the baseline counts as a spike; lower is more sensitive.
    sensitivity: float = Field(3.0, gt=0)
    min_mentions: int = Field(10, ge=1)
    min_ratio: float = Field(2.0, ge=1)
    baseline_hours: int = Field(12, ge=2, le=168)
    seasonal_days: int = Field(7, ge=0, le=28)
    negative_share_delta: float = Field(0.25, gt=0, le=1)
    min_negative: int = Field(5, ge=1)


class HealthConfig(BaseModel):
    """Collector health alerts."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    team: str = "ops"
    interval: Duration = Field(60.0, gt=0)
    failures: int = Field(3, ge=1, description="consecutive failed runs")
    empty_runs: int = Field(0, ge=0, description="consecutive runs with nothing new; 0 is off")


class AlertingConfig(BaseModel):
    """Global alerting behaviour."""

    model_config = ConfigDict(extra="forbid")

    # Mentions below this urgency need no response and raise no alert.
    min_urgency: Urgency = Urgency.MEDIUM
    # History: a mention published longer than this before it was collected (first runs,
    # backfills, imports) is stored and classified but raises no alert. null: no limit.
    max_age: Duration | None = 6 * 3600.0
    # Outbox retries: attempts before a delivery is dead-lettered, and the backoff base.
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_seconds: float = Field(10.0, gt=0)
    backoff_max_seconds: float = Field(3600.0, gt=0)
    # A delivery claimed but not confirmed within this lease is retried (crash safety).
    lease_seconds: float = Field(120.0, gt=0)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    # How often escalations and group repeats are checked.
    timers_interval: Duration = Field(30.0, gt=0)
    spikes: SpikeConfig = Field(default_factory=SpikeConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)


def check_routes(
    routes: list[RouteConfig],
    teams: list[TeamConfig],
    channels: list[ChannelConfig],
    alerting: AlertingConfig | None = None,
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

    def channel_refs(path: str, names: list[str] | None) -> None:
        for j, name in enumerate(names or []):
            if name not in channel_names:
                errors.append(f"{path}[{j}]: unknown channel {name!r}")

    def team_ref(path: str, name: str | None) -> None:
        if name is not None and name not in team_names:
            errors.append(f"{path}: unknown team {name!r}; teams: {sorted(team_names)}")

    for i, route in enumerate(routes):
        team_ref(f"routes[{i}].team", route.team)
        channel_refs(f"routes[{i}].channels", route.channels)
    for i, team in enumerate(teams):
        channel_refs(f"teams[{i}].channels", team.channels)
        team_ref(f"teams[{i}].off_hours.redirect_team", team.off_hours.redirect_team)
        channel_refs(f"teams[{i}].off_hours.redirect_channels", team.off_hours.redirect_channels)
        for k, step in enumerate(team.escalation.steps if team.escalation else []):
            channel_refs(f"teams[{i}].escalation.steps[{k}].channels", step.channels)
        if team.digest is not None:
            channel_refs(f"teams[{i}].digest.channels", team.digest.channels)
        if team.sla is not None:
            channel_refs(f"teams[{i}].sla.channels", team.sla.channels)
    if alerting is not None:
        # The defaults (pr, ops) fall back to the default route's team when absent; a team
        # someone typed must exist.
        if "team" in alerting.spikes.model_fields_set:
            team_ref("alerting.spikes.team", alerting.spikes.team)
        if "team" in alerting.health.model_fields_set:
            team_ref("alerting.health.team", alerting.health.team)
    return errors


def apply_channel_overrides(channel: object, config: ChannelConfig) -> None:
    """Apply per-instance settings from ``channels[]`` (today: ``max_per_minute``) to a built channel."""
    if config.max_per_minute is not None:
        # An instance attribute shadows the kind's class-level limit for this channel only.
        setattr(channel, "max_per_minute", config.max_per_minute)  # noqa: B010

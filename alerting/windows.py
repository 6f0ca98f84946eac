"""Team time windows: quiet hours and business hours in the team's time zone.

An alert raised while a team is *off* (inside quiet hours, or outside business hours when those
are set) is held until the team is on again, or redirected elsewhere; urgent enough alerts
bypass. Windows are computed as UTC intervals from local wall-clock times with zoneinfo, so a
daylight-saving change moves them correctly.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain import Urgency

# Windows longer than a day are not supported, so a week and a day ahead always finds an opening.
_LOOKAHEAD_DAYS = 8


class Weekday(enum.StrEnum):
    """Days of the week as written in the config."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_WEEKDAYS = list(Weekday)  # Monday first, as date.weekday() counts


def _clock(value: object) -> object:
    if isinstance(value, str) and value.strip() == "24:00":
        return time.max
    if isinstance(value, int):  # YAML reads 09:00 unquoted as minutes (sexagesimal)
        return time(value // 60 % 24, value % 60)
    return value


class TimeWindow(BaseModel):
    """A daily window, local time; ``end`` at or before ``start`` means it ends the next day."""

    model_config = ConfigDict(extra="forbid")

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), description="the day it starts")
    start: time
    end: time

    _clock_start = field_validator("start", mode="before")(_clock)
    _clock_end = field_validator("end", mode="before")(_clock)


class OffHoursPolicy(BaseModel):
    """What happens to an alert raised while the team is off."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["hold", "redirect"] = "hold"
    redirect_team: str | None = None
    redirect_channels: list[str] | None = None
    # Alerts at or above this level are delivered at once anyway; null means nothing bypasses.
    bypass_urgency: Urgency | None = Urgency.CRITICAL

    @model_validator(mode="after")
    def _redirect_target(self) -> OffHoursPolicy:
        if self.action == "redirect" and not (self.redirect_team or self.redirect_channels):
            raise ValueError("action 'redirect' needs redirect_team or redirect_channels")
        return self


def check_timezone(name: str) -> str:
    """Validate an IANA time zone name."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None
    return name


@dataclass(frozen=True, slots=True)
class Schedule:
    """A team's windows, ready to evaluate."""

    timezone: str = "UTC"
    quiet_hours: Sequence[TimeWindow] = ()
    business_hours: Sequence[TimeWindow] = ()

    @property
    def empty(self) -> bool:
        """True when the team is never off."""
        return not self.quiet_hours and not self.business_hours

    def _intervals(self, windows: Sequence[TimeWindow], around: datetime) -> list[tuple[datetime, datetime]]:
        zone = ZoneInfo(self.timezone)
        local_today = around.astimezone(zone).date()
        out = []
        for offset in range(-1, _LOOKAHEAD_DAYS):
            day: date = local_today + timedelta(days=offset)
            for window in windows:
                if _WEEKDAYS[day.weekday()] not in window.days:
                    continue
                start = datetime.combine(day, window.start, zone)
                end_day = day if window.end > window.start else day + timedelta(days=1)
                end = datetime.combine(end_day, window.end, zone)
                out.append((start.astimezone(around.tzinfo), end.astimezone(around.tzinfo)))
        return out

    def is_off(self, at: datetime) -> bool:
        """True inside quiet hours, or outside business hours when any are set."""
        if any(s <= at < e for s, e in self._intervals(self.quiet_hours, at)):
            return True
        if self.business_hours:
            return not any(s <= at < e for s, e in self._intervals(self.business_hours, at))
        return False

    def next_on(self, at: datetime) -> datetime:
        """The first moment at or after ``at`` when the team is on (``at`` itself if it is on)."""
        if not self.is_off(at):
            return at
        # The team comes back on at a quiet window's end or a business window's start.
        candidates = sorted(
            {e for _, e in self._intervals(self.quiet_hours, at) if e > at}
            | {s for s, _ in self._intervals(self.business_hours, at) if s > at}
        )
        for candidate in candidates:
            if not self.is_off(candidate):
                return candidate
        return at  # windows cover every hour of every day: holding forever would lose the alert


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """When and where an alert should go given its team's windows."""

    not_before: datetime
    redirected: bool = False
    note: str = ""


def decide(schedule: Schedule, policy: OffHoursPolicy, urgency: Urgency, now: datetime) -> WindowDecision:
    """Deliver now, hold until the team is on, or redirect; ``note`` explains it for the audit trail."""
    if schedule.empty or not schedule.is_off(now):
        return WindowDecision(now)
    if policy.bypass_urgency is not None and urgency.at_least(policy.bypass_urgency):
        return WindowDecision(now, note=f"off hours bypassed: urgency {urgency} >= {policy.bypass_urgency}")
    if policy.action == "redirect":
        target = policy.redirect_team or ", ".join(policy.redirect_channels or ())
        return WindowDecision(now, redirected=True, note=f"off hours: redirected to {target}")
    opens = schedule.next_on(now)
    return WindowDecision(opens, note=f"off hours: held until {opens.isoformat()}")

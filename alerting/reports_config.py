"""Weekly report settings, as in earshot.yaml.

```yaml
reports:
  enabled: true
  weekday: mon          # when the week ends and the report goes out
  hour: 8               # local hour in ``timezone``
  timezone: Europe/Paris
  teams:
    - team: marketing
      channel: email-marketing   # an email channel under channels:
      brands: [Acme, Rival]      # first is the brand in focus; empty: the first own brand and its competitors
```
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.windows import Weekday, check_timezone


class ReportTeam(BaseModel):
    """One team's weekly report: the email channel it goes to and the brands it covers."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=1, max_length=128)
    channel: str = Field(min_length=1, description="Name of an email channel under channels:.")
    brands: list[str] = Field(default_factory=list, max_length=10)


class ReportsConfig(BaseModel):
    """When weekly reports go out and to whom."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    weekday: Weekday = Weekday.MON
    hour: int = Field(8, ge=0, le=23)
    timezone: str = "UTC"
    teams: list[ReportTeam] = Field(default_factory=list)

    _zone = field_validator("timezone")(check_timezone)

    @model_validator(mode="after")
    def _one_entry_per_team(self) -> ReportsConfig:
        names = [t.team for t in self.teams]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"a team may have one weekly report; listed twice: {', '.join(twice)}")
        return self

    def team(self, name: str) -> ReportTeam | None:
        """The report entry of team ``name``, or None."""
        return next((t for t in self.teams if t.team == name), None)

    def problems(self, *, teams: Collection[str], channel_kinds: Mapping[str, str]) -> list[str]:
        """Cross-reference errors as 'path: message' lines: unknown teams, channels that are not email."""
        errors = []
        for i, entry in enumerate(self.teams):
            if entry.team not in teams:
                errors.append(f"reports.teams[{i}].team: unknown team {entry.team!r}; teams: {sorted(teams)}")
            kind = channel_kinds.get(entry.channel)
            if kind != "email":
                what = "unknown channel" if kind is None else f"a {kind} channel, not email"
                errors.append(f"reports.teams[{i}].channel: {entry.channel!r} is {what}")
        return errors

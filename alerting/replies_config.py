"""Reply settings: per-team templates and approval, and the accounts that post, as in earshot.yaml.

```yaml
replies:
  require_approval: false          # default for teams that do not say
  accounts:                        # keyed by source name (as under sources:)
    x:
      credentials: {access_token: ${X_REPLY_TOKEN}}
    mastodon:
      base_url: https://mastodon.social
      credentials: {access_token: ${MASTODON_REPLY_TOKEN}}
  teams:
    support:
      require_approval: true
      templates:
        - name: sorry
          text: "Hi @$author, sorry about that! We're on it ($case_id). DM us if it keeps happening."
```
"""

from __future__ import annotations

import string

from pydantic import BaseModel, ConfigDict, Field, field_validator

from collectors.repliers.base import ReplyAccount

#: What a template may say: ``$author``, ``$brand``...; anything else is a configuration error.
#: (Not ``${brand}``: earshot.yaml reads ``${NAME}`` as an environment variable.)
TEMPLATE_VARIABLES = ("author", "author_name", "brand", "case_id", "team", "agent", "source")


def template_problems(text: str) -> list[str]:
    """Why a reply template is unusable (unknown variable, stray ``$``), or [] when it is fine."""
    template = string.Template(text)
    if not template.is_valid():
        return ["a '$' that starts no variable: write '$$' for a dollar sign"]
    return [
        f"unknown variable ${name}; known: {', '.join(TEMPLATE_VARIABLES)}"
        for name in template.get_identifiers()
        if name not in TEMPLATE_VARIABLES
    ]


class ReplyTemplate(BaseModel):
    """A named reply text with ``$variables``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=10000)
    sources: list[str] = Field(
        default_factory=list, description="Source kinds it suits (e.g. [twitter]); empty: all."
    )

    @field_validator("text")
    @classmethod
    def _known_variables(cls, text: str) -> str:
        problems = template_problems(text)
        if problems:
            raise ValueError("; ".join(problems))
        return text


class TeamReplies(BaseModel):
    """One team's replies: whether an admin approves them, and its templates."""

    model_config = ConfigDict(extra="forbid")

    require_approval: bool | None = Field(default=None, description="Unset: replies.require_approval.")
    templates: list[ReplyTemplate] = Field(default_factory=list)


class RepliesConfig(BaseModel):
    """How replies are drafted, approved and posted where the customer spoke."""

    model_config = ConfigDict(extra="forbid")

    require_approval: bool = False
    accounts: dict[str, ReplyAccount] = Field(
        default_factory=dict, description="Source name -> the account that replies there."
    )
    teams: dict[str, TeamReplies] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # A reply left 'posting' longer than this was interrupted (crash, killed worker): check it.
    posting_grace_seconds: float = Field(default=120.0, ge=0)

    def approval_required(self, team: str) -> bool:
        """True when ``team``'s replies need an admin's approval before posting."""
        own = self.teams.get(team)
        return own.require_approval if own and own.require_approval is not None else self.require_approval

    def templates_for(self, team: str, source_kind: str) -> list[ReplyTemplate]:
        """The team's templates that suit posts from ``source_kind``."""
        own = self.teams.get(team)
        return [t for t in (own.templates if own else []) if not t.sources or source_kind in t.sources]


# Bidi overrides and isolates can make a reply read differently from what was approved.
_INVISIBLE = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_CONTROLS = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t") | {0x7F: None}


def clean_text(text: str) -> str:
    """A reply's text without control characters or bidi overrides, trimmed."""
    return text.translate(_CONTROLS).translate(_INVISIBLE).strip()


def clean_value(value: str, *, limit: int = 100) -> str:
    """A template variable's value on one line, without controls, at most ``limit`` characters."""
    return " ".join(clean_text(value).split())[:limit]


def render(text: str, variables: dict[str, str]) -> str:
    """Fill a template's ``$variables`` in one pass: values are never read as template text.

    ``string.Template`` only looks names up in ``variables``: no attribute access, no
    expressions, and a ``$name`` inside a value stays literal.
    """
    values = {name: clean_value(variables.get(name, "")) for name in TEMPLATE_VARIABLES}
    return clean_text(string.Template(text).safe_substitute(values))

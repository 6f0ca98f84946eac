"""Mention filters shared by the API (typed query parameters) and the inbox page (a GET form)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain import Sentiment, Urgency
from storage.mentions import list_mentions, mention_query
from storage.models import MentionRow
from storage.trends import utc

MAX_QUERY = 200


class FilterError(ValueError):
    """A filter value that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class MentionFilters:
    """Every filter the mention list accepts; None means 'any'."""

    brand: str | None = None
    source: str | None = None
    sentiment: str | None = None
    urgency: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None

    def query_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for storage.mentions.mention_query."""
        values = asdict(self)
        values["search"] = values.pop("q")
        # Timestamps are bound through a column type that refuses naive values.
        values["since"] = utc(self.since) if self.since else None
        values["until"] = utc(self.until) if self.until else None
        return values

    def as_params(self) -> dict[str, str]:
        """The non-empty filters as query-string values, to keep them across pages."""
        params: dict[str, str] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                params[name] = utc(value).strftime("%Y-%m-%dT%H:%M")
            elif value:
                params[name] = str(value)
        return params


def _text(form: Mapping[str, str], name: str, limit: int = 128) -> str | None:
    value = (form.get(name) or "").strip()
    if len(value) > limit:
        raise FilterError(f"{name} is longer than {limit} characters")
    return value or None


def _choice(form: Mapping[str, str], name: str, choices: list[str]) -> str | None:
    value = _text(form, name)
    if value is not None and value not in choices:
        raise FilterError(f"{name} must be one of {', '.join(choices)}")
    return value


def parse_time(value: str | None, name: str = "time") -> datetime | None:
    """An ISO date or date-time (as browsers send from datetime-local inputs); naive means UTC."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError) as exc:
        # OverflowError: a time before year 1 once in UTC. Named, not quoted: no error repeats input.
        raise FilterError(f"{name} is not a date or time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from exc


def from_form(form: Mapping[str, str]) -> MentionFilters:
    """Filters from a submitted form, where blank fields mean 'any'; raises FilterError."""
    return MentionFilters(
        brand=_text(form, "brand"),
        source=_text(form, "source"),
        sentiment=_choice(form, "sentiment", [str(s) for s in Sentiment]),
        urgency=_choice(form, "urgency", [str(u) for u in Urgency]),
        category=_text(form, "category"),
        since=parse_time(form.get("since"), "since"),
        until=parse_time(form.get("until"), "until"),
        q=_text(form, "q", MAX_QUERY),
    )


def search(
    session: Session, filters: MentionFilters, *, limit: int, offset: int
) -> tuple[list[MentionRow], int]:
    """One page of matching mentions, newest first, and how many match in all."""
    kwargs = filters.query_kwargs()
    rows = list_mentions(session, limit=limit, offset=offset, **kwargs)
    matching = mention_query(**kwargs).order_by(None).subquery()
    total = int(session.scalar(select(func.count()).select_from(matching)) or 0)
    return rows, total

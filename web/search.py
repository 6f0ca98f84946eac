"""Mention filters shared by the API (typed query parameters) and the inbox page (a GET form).

The text filter ``q`` is the brand query language (``refund OR chargeback``, ``"late delivery"``,
``-spam``, ``lang:es``, ``from:dana``); storage.analytics turns it into SQL.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session
from starlette.responses import StreamingResponse

from collectors.query import Node, QuerySyntaxError
from domain import Sentiment, Urgency
from storage import analytics
from storage.models import MentionRow
from storage.trends import UNCLASSIFIED, utc

MAX_QUERY = 200
# The sentiments a mention can be filtered by; "unclassified" is how charts show the rest.
SENTIMENTS = [*(str(s) for s in Sentiment), UNCLASSIFIED]


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

    def text_query(self) -> Node | None:
        """The parsed ``q``; raises FilterError naming the problem and where it is."""
        if not self.q:
            return None
        try:
            return analytics.parse_search(self.q)
        except QuerySyntaxError as exc:
            raise FilterError(f"search: {exc.message} at position {exc.position + 1}") from None

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions for these filters; raises FilterError for a search that does not parse."""
        return analytics.search_conditions(
            brand=self.brand,
            source=self.source,
            sentiment=self.sentiment,
            urgency=self.urgency,
            category=self.category,
            # Timestamps are bound through a column type that refuses naive values.
            since=utc(self.since) if self.since else None,
            until=utc(self.until) if self.until else None,
            text=self.text_query(),
        )

    def as_params(self) -> dict[str, str]:
        """The non-empty filters as query-string values, to keep them across pages."""
        params: dict[str, str] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                # Seconds are kept when set: a chart's drill-down window must survive paging exactly.
                fmt = "%Y-%m-%dT%H:%M:%S" if value.second or value.microsecond else "%Y-%m-%dT%H:%M"
                params[name] = utc(value).strftime(fmt)
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
    filters = MentionFilters(
        brand=_text(form, "brand"),
        source=_text(form, "source"),
        sentiment=_choice(form, "sentiment", SENTIMENTS),
        urgency=_choice(form, "urgency", [str(u) for u in Urgency]),
        category=_text(form, "category"),
        since=parse_time(form.get("since"), "since"),
        until=parse_time(form.get("until"), "until"),
        q=_text(form, "q", MAX_QUERY),
    )
    filters.text_query()  # a search that does not parse is the form's error, not an empty page
    return filters


def search(
    session: Session, filters: MentionFilters, *, limit: int, offset: int
) -> tuple[list[MentionRow], int]:
    """One page of matching mentions, newest first, and how many match in all; raises FilterError."""
    return analytics.search_page(session, filters.conditions(), limit=limit, offset=offset)


def export(session: Session, filters: MentionFilters) -> Iterator[tuple[Any, ...]]:
    """Every matching mention as a row of ``storage.analytics.EXPORT_COLUMNS``, streamed."""
    return analytics.iter_export(session, filters.conditions())


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (tab and carriage return too: some importers strip them and read what follows).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text that could run as a formula gets a leading quote.

    Numbers stay numbers (a negative net sentiment is data, not a formula); times are ISO 8601.
    """
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, list | tuple):
        value = "|".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]], *, batch: int = 500) -> Iterator[str]:
    """CSV text in pieces of ``batch`` rows, header first, so a response can stream it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    # A BOM makes Excel read the file as UTF-8 rather than the local code page.
    buffer.write("\ufeff")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        pending += 1
        if pending >= batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def csv_response(stem: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingResponse:
    """A streamed CSV download named ``stem``.csv."""
    safe_stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    return StreamingResponse(
        csv_lines(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{safe_stem}.csv"',
            "Cache-Control": "no-store",
        },
    )

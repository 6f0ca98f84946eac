"""Bounds on what a request may carry: id and offset ranges, text lengths, times, and short 422s.

Every value that reaches a query is checked here first, so an out-of-range id, a NUL byte or a
time that cannot be converted to UTC is the client's 422, never the database's 500. Error bodies
describe the problem in a few words and never repeat what was sent: a 10 MB field must not come
back in the response, nor a secret pasted by mistake.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from storage.trends import utc

log = logging.getLogger(__name__)

# Database ids and offsets are signed 64-bit integers on every supported database (BIGINT on
# PostgreSQL since migration 0005, INTEGER rowids on SQLite), so this is the one bound for ids.
INT64_MAX = 2**63 - 1
# Names of brands, sources, teams, categories and people: longer values match nothing.
NAME_CHARS = 128
# Free text a person types (a note, a silence comment).
NOTE_CHARS = 2000
# What an error message may quote of a location or a reason, so no error grows with the input.
_IDENTIFIER = re.compile(r"\[?[A-Za-z_][A-Za-z0-9_\-]{0,39}\]?")
_ERROR_MSG_CHARS = 200


def _to_utc(value: datetime) -> datetime:
    try:
        return utc(value)
    except OverflowError:
        # e.g. 0001-01-01T00:00+05:00, which is before the first representable UTC instant.
        raise ValueError("time is out of range") from None


# Aware UTC datetimes; naive values are taken to be UTC, as everywhere else in Earshot.
UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]

AlertId = Annotated[int, Path(ge=1, le=INT64_MAX, description="an alert id")]
MentionId = Annotated[int, Path(ge=1, le=INT64_MAX, description="a mention id")]
DeliveryId = Annotated[int, Path(ge=1, le=INT64_MAX, description="a delivery id")]
SilenceId = Annotated[int, Path(ge=1, le=INT64_MAX, description="a silence id")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="how many matches to skip")]
Name = Annotated[str | None, Query(max_length=NAME_CHARS)]


def clip(text: str, limit: int = _ERROR_MSG_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loc_part(part: Any) -> str | int:
    # Dict keys the client chose appear in locations: keep short identifiers (field names, "brand"),
    # replace anything else, which may be the very blob or secret being refused.
    if isinstance(part, int) or (isinstance(part, str) and _IDENTIFIER.fullmatch(part)):
        return part
    return "<key>"


def short_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors as type, location and message only: no ``input``, no ``ctx``."""
    return [
        {
            "type": str(error.get("type", "value_error")),
            "loc": [_loc_part(p) for p in error.get("loc", ())],
            "msg": clip(str(error.get("msg", "invalid value"))),
        }
        for error in errors
    ]


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 for a request that fails validation, without echoing what was sent."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": short_errors(errors)}, status_code=422)


async def database_refused(request: Request, exc: Exception) -> JSONResponse:
    """422 for a value the database cannot hold that the checks above did not know of.

    Ids are 64-bit on every database (migration 0005), so any id these bounds accept is looked up
    and an unknown one is a 404; this is the backstop for the rest, as the client's error, since
    the transaction was rolled back and nothing was stored. The log gets the error's kind only: the
    database's own message would print the statement and its parameters.
    """
    original = getattr(exc, "orig", None)
    kind = type(original).__name__ if original is not None else type(exc).__name__
    log.warning("database refused a value in %s %s: %s", request.method, request.url.path, kind)
    detail = [{"type": "out_of_range", "loc": ["request"], "msg": "a value is outside what can be stored"}]
    return JSONResponse({"detail": detail}, status_code=422)

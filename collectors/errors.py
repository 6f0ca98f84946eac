"""Typed errors a collector raises so the scheduler can back off, skip or report."""

from __future__ import annotations

from datetime import datetime


class CollectorError(Exception):
    """Base class for every error a collector raises on purpose."""


class RateLimited(CollectorError):
    """The source asked us to wait; ``until`` is when to try again, if it said."""

    def __init__(self, message: str, *, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


class TemporarilyUnavailable(CollectorError):
    """A timeout, connection error or 5xx: try again on the next run."""


class BadConfiguration(CollectorError):
    """Missing credentials or invalid options: retrying will not help."""


class BadPayload(CollectorError):
    """The source answered with something we cannot read."""

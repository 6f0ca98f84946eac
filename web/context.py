"""What every request handler needs: sessions, tracked brands, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from storage import trends


def system_clock() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class WebContext:
    """Configuration shared by the API and the dashboard; built once by ``create_app``."""

    session_factory: sessionmaker[Session]
    brands: tuple[str, ...] = ()
    competitors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clock: Callable[[], datetime] = system_clock
    title: str = "Earshot"

    def now(self) -> datetime:
        """The clock's time in UTC (a naive clock is taken to be UTC)."""
        return trends.utc(self.clock())

    def competitor_names(self) -> list[str]:
        """Every competitor of any own brand that is not itself an own brand, in config order."""
        names = [c for brand in self.brands for c in self.competitors.get(brand, ())]
        return [c for c in dict.fromkeys(names) if c not in self.brands]

    def tracked(self) -> list[str]:
        """Own brands first, then their competitors, each once."""
        return [*self.brands, *self.competitor_names()]

    def is_own(self, brand: str) -> bool:
        """True for a brand this deployment monitors for itself (not a competitor)."""
        return brand in self.brands

    def group(self, brand: str) -> list[str]:
        """A brand and the competitors it is compared with, for share of voice."""
        return list(dict.fromkeys([brand, *self.competitors.get(brand, ())]))

    def brands_in(self, session: Session, *, since: datetime, until: datetime) -> list[str]:
        """The configured brands, or the busiest brands in the window when none are configured."""
        return self.tracked() or trends.busiest_brands(session, since=since, until=until)

    def default_since(self, bucket: trends.Bucket) -> datetime:
        """The start of the default window: 48 hours of hourly buckets or 30 days of daily ones."""
        span = timedelta(hours=48) if bucket == "hour" else timedelta(days=30)
        return self.now() - span


def get_context(request: Request) -> WebContext:
    """The app's WebContext (a FastAPI dependency)."""
    context: WebContext = request.app.state.earshot
    return context


Context = Annotated[WebContext, Depends(get_context)]

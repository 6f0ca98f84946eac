"""The scheduler's heartbeat: the runner beats on every tick; /healthz reads it.

One per process. A process that runs no scheduler (a web-only role) never starts it, and its health
does not depend on it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Heartbeat:
    """When the scheduler last ticked, and how often it should."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: datetime | None = None
        self._interval = 0.0
        self._started = False

    def start(self, interval_seconds: float) -> None:
        """The scheduler is running and will beat at least every ``interval_seconds``."""
        with self._lock:
            self._started, self._interval = True, interval_seconds
            self._last = datetime.now(UTC)

    def stop(self) -> None:
        """The scheduler stopped on purpose (shutdown)."""
        with self._lock:
            self._started = False

    def beat(self, now: datetime | None = None) -> None:
        """Record a tick."""
        with self._lock:
            self._last = now or datetime.now(UTC)

    def status(self, now: datetime | None = None) -> tuple[bool, str]:
        """(healthy, detail): unhealthy once no tick came within three intervals."""
        with self._lock:
            if not self._started or self._last is None:
                return True, "no scheduler in this process"
            age = (now or datetime.now(UTC)) - self._last
            ok = age <= timedelta(seconds=3 * self._interval)
            return ok, f"last tick {age.total_seconds():.0f}s ago (interval {self._interval:.0f}s)"


HEARTBEAT = Heartbeat()

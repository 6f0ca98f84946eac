"""Shared HTTP fetching for collectors: bounded, streaming, and mapped onto collector errors."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from collectors.base import CollectorContext
from collectors.errors import (
    BadConfiguration,
    BadPayload,
    CollectorError,
    RateLimited,
    TemporarilyUnavailable,
)
from collectors.netguard import GuardedTransport, NetGuard
from collectors.redact import install_log_redaction, redact, redact_url

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
# Below this a reset header is a delay in seconds; above it, a Unix timestamp (no API resets 30 years out).
_EPOCH_THRESHOLD = 10**9
_RESET_HEADERS = ("retry-after", "x-rate-limit-reset", "ratelimit-reset", "x-ratelimit-reset")
# httpx logs every request URL at INFO; feed URLs can carry keys in their query strings.
install_log_redaction("httpx", "collectors", "scheduler.pipeline")

# The wall-clock deadline (time.monotonic()) of the source run this thread works for, if any.
# httpx's timeouts apply per read, so a server dripping one byte a second never trips them.
_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("earshot_run_deadline", default=None)


class DeadlineExceeded(TemporarilyUnavailable):
    """The source run used up its wall-clock budget (``sources[].timeout_seconds``)."""


@contextlib.contextmanager
def run_deadline(seconds: float) -> Iterator[None]:
    """Bound every fetch made in this context (and contexts copied from it) to ``seconds`` in all."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining(url: str = "") -> float | None:
    """Seconds left before the current run's deadline (None without one); raise once it has passed."""
    current = _DEADLINE.get()
    if current is None:
        return None
    left = current[0] - time.monotonic()
    if left <= 0:
        where = f"{redact_url(url)}: " if url else ""
        raise DeadlineExceeded(f"{where}run deadline of {current[1]:g} s exceeded")
    return left


def _deadline_hook(response: httpx.Response) -> None:
    # Runs before each redirect is followed, so a chain of slow hops cannot outlast the deadline.
    remaining(str(response.request.url))


class ResponseTooLarge(BadPayload):
    """The body exceeded the configured size limit; reading stopped there."""


@dataclass(frozen=True)
class Fetched:
    """A fully read, size-checked response."""

    status: int
    url: str
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        """The body as JSON; BadPayload if it is not JSON."""
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadPayload(f"{redact_url(self.url)}: response is not valid JSON ({error})") from error


def make_client(
    context: CollectorContext,
    *,
    base_url: str = "",
    timeout: float | None = None,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    headers: Mapping[str, str] | None = None,
    guard: NetGuard | None = None,
) -> httpx.Client:
    """An httpx client with the context's user agent and timeout, following a bounded number of redirects.

    With a ``guard``, connections go only to public addresses (see collectors.netguard), redirects
    never downgrade https to http, and proxies from the environment are not used (a proxy would
    resolve names where the guard cannot check them).
    """
    hooks: list[Any] = [_deadline_hook]
    if guard is not None:
        hooks.append(guard.check_redirect)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout if timeout is not None else context.timeout_seconds),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={"User-Agent": context.user_agent, **(headers or {})},
        event_hooks={"response": hooks},
        transport=GuardedTransport(guard) if guard is not None else None,
        trust_env=guard is None,
    )


def fetch(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Fetched:
    """GET ``url``, reading at most ``max_bytes`` of (decompressed) body; map transport failures.

    Status codes are not checked here; call ``check_status`` (feeds need to see 304 first).
    Inside ``run_deadline`` the whole exchange, redirects and a slowly dripping body included,
    ends with DeadlineExceeded when the run's time is up. Error messages carry the URL redacted.
    """
    shown = redact_url(url)
    left = remaining(url)
    timeout: Any = httpx.USE_CLIENT_DEFAULT
    if left is not None:
        configured = client.timeout.read or left
        timeout = httpx.Timeout(min(configured, left))
    try:
        with client.stream("GET", url, params=params, headers=headers, timeout=timeout) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes and response.status_code < 300:
                raise ResponseTooLarge(
                    f"{shown}: body of {declared} bytes exceeds the {max_bytes}-byte limit"
                )
            chunks: list[bytes] = []
            size = 0
            # Counting decoded bytes also bounds gzip bombs, which a Content-Length check cannot.
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLarge(f"{shown}: body exceeds the {max_bytes}-byte limit")
                chunks.append(chunk)
                remaining(url)
            return Fetched(response.status_code, str(response.url), response.headers, b"".join(chunks))
    except httpx.TimeoutException as error:
        remaining(url)  # a read cut short by the run's deadline is reported as the deadline
        raise TemporarilyUnavailable(f"{shown}: timed out ({type(error).__name__})") from error
    except httpx.TooManyRedirects as error:
        raise TemporarilyUnavailable(f"{shown}: too many redirects") from error
    except httpx.DecodingError as error:
        raise BadPayload(f"{shown}: could not decode the response body ({redact(str(error))})") from error
    except httpx.UnsupportedProtocol as error:
        raise BadConfiguration(f"{shown}: unsupported URL ({redact(str(error))})") from error
    except httpx.TransportError as error:
        raise TemporarilyUnavailable(f"{shown}: {type(error).__name__}: {redact(str(error))}") from error
    except httpx.InvalidURL as error:
        raise BadConfiguration(f"{shown}: invalid URL ({redact(str(error))})") from error


def check_status(status: int, headers: Mapping[str, str], url: str, now: datetime) -> None:
    """Raise the collector error matching an unsuccessful HTTP status; return for 2xx and 304."""
    if 200 <= status < 300 or status == 304:
        return
    url = redact_url(url)
    if status == 429:
        until = reset_time(headers, now)
        raise RateLimited(f"{url}: rate limited (HTTP 429)", until=until)
    if status >= 500 or status in {408, 425}:
        raise TemporarilyUnavailable(f"{url}: HTTP {status}")
    if status in {401, 403}:
        raise BadConfiguration(f"{url}: HTTP {status}; check the credentials and their permissions")
    if status in {404, 410}:
        raise BadConfiguration(f"{url}: HTTP {status}; check the URL")
    if status == 400:
        raise BadConfiguration(f"{url}: HTTP 400; the request (often the search query) was refused")
    raise BadPayload(f"{url}: unexpected HTTP {status}")


def reset_time(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When a rate limit resets, from Retry-After or the usual ``*rate*limit-reset`` headers."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in _RESET_HEADERS:
        value = lowered.get(name, "").strip()
        if value:
            parsed = _parse_reset(value, now)
            if parsed is not None:
                return parsed
    return None


def _parse_reset(value: str, now: datetime) -> datetime | None:
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number != number or number in {float("inf"), float("-inf")}:
            return None
        if number >= _EPOCH_THRESHOLD:
            return datetime.fromtimestamp(number, UTC)
        return now + timedelta(seconds=max(number, 0.0))
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def get_json(
    client: httpx.Client,
    url: str,
    *,
    now: datetime,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Any:
    """GET a JSON document, raising collector errors for failures and unreadable bodies."""
    fetched = fetch(client, url, params=params, headers=headers, max_bytes=max_bytes)
    check_status(fetched.status, fetched.headers, url, now)
    return fetched.json()


def combine_errors(errors: Sequence[CollectorError], *, what: str) -> CollectorError:
    """One error standing for several (every feed or instance failed): the shared kind, else temporary."""
    message = f"every {what} failed: " + "; ".join(str(e) for e in errors[:5])
    kinds = {type(e) for e in errors}
    if kinds == {RateLimited}:
        untils = [e.until for e in errors if isinstance(e, RateLimited) and e.until]
        return RateLimited(message, until=min(untils) if untils else None)
    if len(kinds) == 1:
        return kinds.pop()(message)
    return TemporarilyUnavailable(message)

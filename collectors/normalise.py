"""Normalisation shared by collectors: canonical URLs, plain text, UTC times, cursor helpers."""

from __future__ import annotations

import hashlib
import html
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that identify a campaign or a click, never the page.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "igshid", "mc_cid", "mc_eid"}
    | {"ref_src", "ref_url", "_hsenc", "_hsmi"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "table", "blockquote", "pre"}
    | {"h1", "h2", "h3", "h4", "h5", "h6"}
)
_INVISIBLE_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL with host lower-cased, default port, fragment and tracking removed.

    Relative URLs are resolved against ``base``; anything that is not http(s)
    (``javascript:``, ``data:``, garbage) becomes None, since feed links are untrusted.
    """
    if not url:
        return None
    url = url.strip()
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    netloc = host if port in {None, _DEFAULT_PORTS[scheme]} else f"{host}:{port}"
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]" if port in {None, _DEFAULT_PORTS[scheme]} else f"[{host}]:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in _TRACKING_PARAMS
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query, doseq=True), ""))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self.hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text from untrusted HTML: tags and scripts dropped, entities decoded, whitespace tidied."""
    if "<" not in markup and "&" not in markup:
        return tidy_whitespace(markup)
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except (AssertionError, ValueError):  # HTMLParser can still choke on pathological input
        return tidy_whitespace(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return tidy_whitespace("".join(extractor.parts))


def tidy_whitespace(text: str) -> str:
    """Collapse runs of spaces inside lines and of blank lines, and trim; drop NULs and controls."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def from_epoch(seconds: float) -> datetime:
    """A UTC datetime from a Unix timestamp."""
    return datetime.fromtimestamp(seconds, UTC)


def from_struct_time(value: time.struct_time) -> datetime | None:
    """A UTC datetime from a struct_time in UTC (what feedparser returns), None if out of range."""
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_datetime(value: str | None) -> datetime | None:
    """A UTC datetime from ISO 8601 text (a trailing Z, or none meaning UTC), None if unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return ensure_utc(parsed)


def ensure_utc(value: datetime) -> datetime:
    """``value`` in UTC; naive datetimes are taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def language_code(value: str | None) -> str | None:
    """A lower-case BCP 47 primary language ('en' from 'en-US'); None for unknown or undetermined."""
    if not value:
        return None
    primary = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
    if not re.fullmatch(r"[a-z]{2,3}", primary) or primary in {"und", "zxx", "mul"}:
        return None
    return primary


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON types: datetimes to ISO text, struct_times to ISO, bytes dropped."""
    if depth > 32:
        return None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, time.struct_time):
        converted = from_struct_time(value)
        return converted.isoformat() if converted else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        return None
    return str(value)


def stable_id(*parts: str) -> str:
    """A short, stable identifier for content that has none of its own."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:24]


def remember(seen: Iterable[str], new: Iterable[str], limit: int) -> list[str]:
    """The ``limit`` most recent ids: ``new`` first, then what was ``seen``, without repeats."""
    result: list[str] = []
    index: set[str] = set()
    for item in [*new, *seen]:
        if item not in index:
            index.add(item)
            result.append(item)
            if len(result) >= limit:
                break
    return result


@dataclass
class Watermark:
    """How far a time-ordered stream has been read: the newest time seen and the ids near it.

    Ids within ``overlap`` seconds of the newest are kept, so items indexed late
    or sharing a timestamp are still told apart from items already seen.
    """

    time: float | None = None
    ids: set[str] = field(default_factory=set)
    overlap: float = 0.0
    _times: dict[str, float] = field(default_factory=dict, repr=False)
    # Where the previous run stopped; items added during this run must not move it.
    _start: float | None = field(default=None, repr=False)

    @classmethod
    def load(cls, data: Mapping[str, Any] | None, overlap: float = 0.0) -> Watermark:
        """Read a watermark from its cursor form, tolerating a missing or damaged one."""
        if not isinstance(data, Mapping):
            return cls(overlap=overlap)
        raw_time = data.get("time")
        ids = data.get("ids")
        mark = cls(
            time=float(raw_time) if isinstance(raw_time, int | float) else None,
            ids={str(i) for i in ids} if isinstance(ids, list) else set(),
            overlap=overlap,
        )
        if mark.time is not None:
            mark._times = dict.fromkeys(mark.ids, mark.time)
        mark._start = mark.time
        return mark

    @property
    def since(self) -> float | None:
        """The earliest time a new item can have."""
        return None if self._start is None else self._start - self.overlap

    def is_new(self, when: float, item_id: str) -> bool:
        """Whether an item at ``when`` with ``item_id`` has not been read yet."""
        if item_id in self.ids:
            return False
        return self._start is None or when >= self._start - self.overlap

    def add(self, when: float, item_id: str) -> None:
        """Record an item as read."""
        self.ids.add(item_id)
        self._times[item_id] = when
        if self.time is None or when > self.time:
            self.time = when

    def dump(self, limit: int = 2000) -> dict[str, Any]:
        """The cursor form: the newest time and the ids still inside the overlap window."""
        if self.time is None:
            return {}
        floor = self.time - self.overlap
        keep = sorted(
            (i for i in self.ids if self._times.get(i, self.time) >= floor),
            key=lambda i: -self._times.get(i, self.time or 0.0),
        )[:limit]
        return {"time": self.time, "ids": sorted(keep)}

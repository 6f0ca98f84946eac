"""The Jinja2 environment of the dashboard: autoescaping on, and filters for untrusted values."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.templating import Jinja2Templates

from domain import CATEGORIES, Sentiment, Urgency
from storage.trends import utc

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SAFE_SCHEMES = frozenset({"http", "https"})
# Put on every link to a page someone else controls: no window.opener, no referrer, no SEO credit.
EXTERNAL_REL = "noopener noreferrer nofollow"
# Bidirectional controls (marks, embeddings, overrides, isolates) let a stranger's text display in an
# order that hides what it says, and can reorder the page around it; the channels drop them too.
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Invisible characters that split or disguise words: zero-width space, word joiner and invisible
# operators, the BOM, the Mongolian vowel separator.
_INVISIBLE = re.compile(r"[\u180e\u200b\u2060-\u2064\ufeff]")
# Zero-width (non-)joiners are needed inside emoji sequences and Arabic or Indic words, so one is kept
# only between two non-ASCII, non-space characters; elsewhere (inside Latin words) it only disguises.
_JOINER = re.compile(r"(?<![^\x00-\x7f\s])[\u200c\u200d]|[\u200c\u200d](?![^\x00-\x7f\s])")


def safe_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host, else None (never link it).

    Rejects ``javascript:``, ``data:``, ``vbscript:``, protocol-relative and
    relative URLs, and anything with control characters or whitespace, which
    browsers strip before reading the scheme (``java\\tscript:``).
    """
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    if any(unicodedata.category(ch)[0] in {"C", "Z"} for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.hostname:
        return None
    return value


def neutralise(text: str) -> str:
    """``text`` without bidi controls and invisible characters, keeping joiners where scripts need them."""
    return _JOINER.sub("", _INVISIBLE.sub("", _BIDI.sub("", text)))


def finalize(value: Any) -> Any:
    """Neutralise every string a template prints, escaped or already markup (our own, or |tojson)."""
    if isinstance(value, Markup):
        # Dropping invisible characters cannot create a tag, so the markup stays safe.
        return Markup(neutralise(str(value)))
    if isinstance(value, str):
        return neutralise(value)
    return value


def when(value: datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC'."""
    return utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def iso(value: datetime | None) -> str:
    """A timestamp in ISO 8601, for datetime attributes."""
    return utc(value).isoformat() if value else ""


def compact(value: int | None) -> str:
    """A count for humans: 950, 1.2k, 3.4M."""
    if value is None:
        return "—"
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


def percent(value: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{value * 100:.1f}%"


def pretty_json(value: Any) -> str:
    """Indented JSON for <pre> blocks (escaped by autoescape like any other text)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from ``params`` with ``changes`` applied; None and empty values are dropped."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def badge(kind: Any, value: Any) -> Markup:
    """A label styled by kind and value: ``<span class="badge KIND-VALUE">VALUE</span>``, escaped.

    A function rather than a macro: importing a macro in the row template rebuilt the macro
    module for every row, a tenth of the inbox page's time.
    """
    return Markup('<span class="badge {0}-{1}">{1}</span>').format(kind, value)


def build_templates(title: str) -> Jinja2Templates:
    """Templates with autoescaping forced on for every file, whatever its extension."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update(safe_url=safe_url, when=when, iso=iso, compact=compact, percent=percent)
    env.filters["pretty_json"] = pretty_json
    env.globals.update(
        app_title=title,
        external_rel=EXTERNAL_REL,
        query=query,
        badge=badge,
        sentiments=[str(s) for s in Sentiment],
        urgencies=[str(u) for u in Urgency],
        categories=list(CATEGORIES),
    )
    return Jinja2Templates(env=env)

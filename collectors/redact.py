"""Redact secrets that URLs carry (query strings, user:password) before text is logged or shown.

Feed URLs and API endpoints often carry a key in the query string (``?api_key=...``) or
credentials in the authority (``https://user:token@host/``). Anything that leaves the process:
log lines, stored errors, the API and alerts, goes through ``redact`` first.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"

# A fixed pattern (no user input), linear in practice: a scheme, then non-space characters that
# are not quotes or angle brackets (which end a URL inside log text, HTML or JSON).
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s\"'<>]+")
_TRAILING = ".,;:!?)]}"


def redact_url(url: str) -> str:
    """``url`` with its password, user name and every query value replaced by REDACTED."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            host = netloc.rsplit("@", 1)[1]
            netloc = f"{REDACTED}@{host}"
        query = parts.query
        if query:
            # Keep the parameter names (useful when debugging), never their values.
            names = [item.split("=", 1)[0] for item in query.split("&") if item]
            query = "&".join(f"{name}={REDACTED}" for name in names)
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        # urlsplit refuses some malformed authorities; keep only the scheme and a marker.
        scheme = url.split("://", 1)[0]
        return f"{scheme}://{REDACTED}"


def _replace(match: re.Match[str]) -> str:
    url = match.group(0)
    stripped = url.rstrip(_TRAILING)
    return redact_url(stripped) + url[len(stripped) :]


def redact(text: str) -> str:
    """``text`` with every URL in it redacted (see ``redact_url``)."""
    if "://" not in text:
        return text
    return _URL.sub(_replace, text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URLs in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if record.args:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return True  # a broken format string is logging's problem to report, not ours
            record.msg, record.args = redact(message), None
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_redaction(*names: str) -> None:
    """Attach one RedactingFilter to each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())

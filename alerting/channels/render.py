"""Shared rendering for channels: per-format escaping of untrusted text and one view of an alert.

Every string that reaches a channel may come from a stranger on the internet: mention text,
author handles, even titles built from them. Each channel renders an :class:`AlertView` through
exactly one escaper for its format, and cuts each field *after* escaping with :func:`fit`, so
neither an injected ``<!channel>`` nor a cut in the middle of ``&amp;`` can reach the service.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from domain import Alert, Notification, NotificationAction

Escaper = Callable[[str], str]

ELLIPSIS = "…"
# Caps for the parts of a text rendering that are ours but may quote strangers (author, brand).
TITLE_CHARS = 300
SUMMARY_CHARS = 4000
FIELD_CHARS = 1000

# C0 controls except tab and newline, DEL and C1 controls: they forge log lines and break renderers.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional overrides let a mention display text in an order that hides what it says.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Words that page a whole room in Slack, Discord, Mattermost and friends when typed with an @.
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
# A word joiner after the @ keeps the word readable but no longer a keyword.
_WORD_JOINER = "\u2060"
# Slack has no backslash escape; a zero-width space on both sides of a marker stops it opening or
# closing bold, italic, strike or code whichever way Slack classifies the invisible character.
_SLACK_MARKERS = re.compile(r"([*_~`])")
_ZWSP = "\u200b"
# Spans Slack links or matches before formatting: URLs, handles (@dana, @dana@host, u/dana) and
# :emoji_shortcodes:. Formatting markers inside them are left alone.
_SLACK_INTACT = re.compile(
    r"https?://[^\s<>]+"
    r"|(?<![\w@])@[A-Za-z0-9_.\-]+(?:@[A-Za-z0-9.\-]+)?"
    r"|(?<![\w/])[ur]/[A-Za-z0-9_\-]+"
    r"|:[a-z0-9_+\-]+:"
)
# Teams: inline markup that forms whatever its neighbours are. "*" makes emphasis even inside a
# word; "_" only at a word's edge; "](" or "][" completes a link (there are no link definitions,
# so "[HIGH]" alone stays text); "`" a code span; "~~" strikethrough; an
# entity such as "&amp;" would display as "&"; a backslash before punctuation is itself an escape.
_TEAMS_INLINE = re.compile(
    r"\*|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\](?=[(\[])|`|~(?=~)|(?<=~)~|&(?=#?\w+;)"
    r"|\\(?=[!-/:-@\[-`{-~])"
    # "<" only where it opens an autolink (<https://…>, <a@b.example>); other "<" is plain text.
    r"|<(?=[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*>|[^\s<>@]+@[^\s<>]+>)"
)
# Block markers at the start of a line that only count when a space follows (lists, headings):
# a no-break space in place of that space keeps the text and loses the meaning.
_TEAMS_BLOCK_SPACE = re.compile(r"^([-+]|#{1,6}|\d{1,9}[.)])[ \t]+")
# Block markers that need no space: a quote, an empty list item or a rule ("---"). Setext
# underlines ("===") cannot form: every line is its own paragraph.
_TEAMS_BLOCK_BARE = re.compile(r"^(>|-(?=[- \t]*$))")
# Characters CommonMark (and Adaptive Cards' markdown subset) may treat as markup anywhere.
_MARKDOWN_INLINE = re.compile(r"([\\`*_{}\[\]()<>|~!])")
# Characters that only start a block (list, heading, rule) at the beginning of a line; an ordered
# list is "1." or "1)", where the punctuation, not the digit, is what can be escaped.
_MARKDOWN_LINE_START = re.compile(r"^([ \t]*)([#+\-=])", re.MULTILINE)
_MARKDOWN_ORDERED = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)
# A URL host we are willing to print: a name or IPv4 with an optional port, or a bracketed IPv6.
_SAFE_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def clean(text: str) -> str:
    """Normalise newlines and drop control and bidi-override characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _BIDI.sub("", _CONTROL.sub("", text))


def neutralise_broadcasts(text: str) -> str:
    """Break ``@channel``, ``@here`` and ``@everyone`` so they cannot page a whole room."""
    return _BROADCAST.sub("@" + _WORD_JOINER, text)


def escape_plain(text: str) -> str:
    """Plain text: clean it and neutralise broadcast mentions."""
    return neutralise_broadcasts(clean(text))


def _slack_entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_slack(text: str) -> str:
    """Slack mrkdwn: escape ``& < >`` (so no ``<!channel>``, ``<@U…>`` or ``<url|label>``) and markers.

    URLs, handles and emoji shortcodes keep their characters: Slack links and matches them
    before it formats, and a zero-width space inside one would cut the link at the first ``_``,
    make a handle unsearchable or stop ``:rotating_light:`` rendering.
    """
    text = escape_plain(text)
    out, start = [], 0
    for match in _SLACK_INTACT.finditer(text):
        out.append(_SLACK_MARKERS.sub(_ZWSP + r"\1" + _ZWSP, _slack_entities(text[start : match.start()])))
        out.append(_slack_entities(match.group()))
        start = match.end()
    out.append(_SLACK_MARKERS.sub(_ZWSP + r"\1" + _ZWSP, _slack_entities(text[start:])))
    return "".join(out)


def escape_teams(text: str) -> str:
    """Teams TextBlock markdown: escape only what would become markup, and break lines visibly.

    Teams renders a small markdown subset (bold, italic, lists, links) and shows any other
    backslash literally on mobile, so ``@startup_sara (7,200 followers)`` or ``<script>`` are left
    as they are. A list or heading marker is defused with a no-break space after it instead of a
    backslash; each line ends a paragraph, since a single newline would be folded into a space.
    """
    lines = []
    for line in escape_plain(text).split("\n"):
        line = _TEAMS_INLINE.sub(r"\\\g<0>", line.strip())
        line = _TEAMS_BLOCK_SPACE.sub("\\1\u00a0", line)
        lines.append(_TEAMS_BLOCK_BARE.sub(r"\\\1", line))
    return "\n\n".join(lines)


def escape_markdown(text: str) -> str:
    """Markdown (Teams Adaptive Cards, Apprise markdown): backslash-escape markup characters."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", escape_plain(text))
    text = _MARKDOWN_LINE_START.sub(r"\1\\\2", text)
    return _MARKDOWN_ORDERED.sub(r"\1\\\2", text)


def escape_html(text: str) -> str:
    """HTML: entity-escape markup and quotes so text stays text, even inside attributes."""
    return html.escape(escape_plain(text), quote=True)


def fit(
    text: str, limit: int, escape: Escaper, marker: str = ELLIPSIS, measure: Callable[[str], int] = len
) -> str:
    """Escape ``text`` and cut it so the *escaped* result measures at most ``limit``.

    ``measure`` defaults to characters; a channel limited in encoded bytes passes its own, which
    must never be smaller than ``len``.
    """
    # Escapers only lengthen what survives cleaning, so the cleaned length is a lower bound on the
    # escaped one: a 100k-character mention is known too long without escaping all of it.
    dropped = len(text) - len(clean(text))
    if len(text) - dropped <= limit:
        out = escape(text)
        if measure(out) <= limit:
            return out
    room = max(0, limit - measure(marker))
    # Binary search for the longest raw prefix whose escaping fits. Cutting the raw text, never
    # the escaped one, keeps ``&amp;`` or a zero-width guard from being split in half. A prefix
    # longer than room plus every character cleaning drops cannot fit, which bounds the search.
    lo, hi = 0, min(len(text), room + dropped)
    best = ""
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = escape(text[:mid])
        if measure(candidate) <= room:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best + marker if limit >= measure(marker) else best


def safe_url(url: str | None) -> str | None:
    """An http(s) URL safe to place in any format, or None for anything else (``javascript:`` …)."""
    if not url:
        return None
    try:
        parts = urlsplit(clean(url).strip())
    except ValueError:
        return None
    # Userinfo is dropped: ``https://bank.example@evil.example`` reads as the wrong host.
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme.lower() not in {"http", "https"} or not _SAFE_HOST.match(host):
        return None
    # Re-quote everything after the host so no quote, bracket, pipe or space survives to end a
    # Slack ``<url|label>``, a markdown ``(url)`` or an HTML attribute early.
    path = quote(parts.path, safe="/%:@!$&+,;=-._~*")
    query = quote(parts.query, safe="=&%:@/?!$+,;-._~*")
    fragment = quote(parts.fragment, safe="%:@/?!$&+,;=-._~*")
    return urlunsplit((parts.scheme.lower(), host, path, query, fragment))


_ACTION_PREFIX = {
    NotificationAction.FIRE: "",
    NotificationAction.ESCALATE: "Escalated: ",
    NotificationAction.ACKNOWLEDGE: "Acknowledged: ",
    NotificationAction.RESOLVE: "Resolved: ",
}


@dataclass(frozen=True, slots=True)
class AlertView:
    """What every channel shows about an alert, as raw (unescaped) text."""

    title: str
    summary: str
    fields: tuple[tuple[str, str], ...]
    quote: str
    link: str | None
    footer: str
    action: NotificationAction
    # The alert in Earshot's dashboard, and for a spike the mentions behind it (web.base_url set).
    alert_link: str | None = None
    drilldown: str | None = None

    def links(self) -> list[tuple[str, str]]:
        """(label, url) of every link the message carries: the Earshot alert first."""
        found = [
            ("Open in Earshot", self.alert_link),
            ("View mention", self.link),
            ("Mentions behind it", self.drilldown),
        ]
        return [(label, url) for label, url in found if url]

    def as_text(
        self, escape: Escaper = escape_plain, quote_limit: int | None = None, title: bool = True
    ) -> str:
        """A plain multi-line rendering, every line escaped with ``escape``."""
        lines = [fit(self.title, TITLE_CHARS, escape), ""] if title else []
        lines += [fit(self.summary, SUMMARY_CHARS, escape), ""]
        lines += [f"{label}: {fit(value, FIELD_CHARS, escape)}" for label, value in self.fields]
        if self.quote:
            quoted = fit(self.quote, quote_limit, escape) if quote_limit else escape(self.quote)
            lines += ["", *(f"> {line}" for line in quoted.split("\n"))]
        links = self.links()
        if links:
            lines += ["", *(f"{label}: {url}" for label, url in links)]
        lines += ["", fit(self.footer, TITLE_CHARS, escape)]
        return "\n".join(lines)


def title_of(notification: Notification) -> str:
    """The headline: action, urgency and the alert's own title."""
    alert = notification.alert
    prefix = _ACTION_PREFIX[notification.action]
    if notification.action in {NotificationAction.FIRE, NotificationAction.ESCALATE}:
        prefix = f"[{alert.urgency.value.upper()}] {prefix}"
    return prefix + alert.title


def fields_of(alert: Alert) -> tuple[tuple[str, str], ...]:
    """Label/value pairs worth showing, skipping what the alert does not know."""
    candidates: list[tuple[str, str | None]] = [
        ("Urgency", alert.urgency.value),
        ("Status", alert.status.value),
        ("Brand", alert.brand),
        ("Source", alert.source),
        ("Author", alert.author),
        ("Sentiment", alert.sentiment),
        ("Categories", ", ".join(alert.categories) or None),
        ("Mentions", str(alert.count) if alert.count > 1 else None),
        ("Team", alert.team),
        ("Route", alert.route),
        ("Why", alert.reason),
    ]
    return tuple((label, value) for label, value in candidates if value)


def earshot_url(base_url: str | None, path: str) -> str | None:
    """``path`` (starting with "/") under the dashboard's public address, or None without a usable one."""
    if not base_url or not path.startswith("/"):
        return None
    return safe_url(base_url.strip().rstrip("/") + path)


def alert_link(base_url: str | None, alert: Alert) -> str | None:
    """The alert's page in Earshot (``{base_url}/alerts/{id}``)."""
    return earshot_url(base_url, f"/alerts/{alert.id}")


def drilldown_link(base_url: str | None, alert: Alert) -> str | None:
    """For an alert that counted mentions (a spike), the mention list behind it, if it says which."""
    path = alert.details.get("drilldown")
    # Only our own relative path to the mention list; details never carry a foreign host here.
    if not isinstance(path, str) or not path.startswith("/mentions?"):
        return None
    return earshot_url(base_url, path)


def alert_view(notification: Notification, base_url: str | None = None) -> AlertView:
    """Build the common view of a notification; channels escape and cut it for their format.

    ``base_url`` is the dashboard's public address (``web.base_url``): with it, the view links
    back to the alert in Earshot and, for a spike, to the mentions behind it.
    """
    alert = notification.alert
    footer = f"Earshot alert #{alert.id} · {alert.kind.value} · {alert.created_at.isoformat()}"
    return AlertView(
        title=title_of(notification),
        summary=alert.summary,
        fields=fields_of(alert),
        quote=alert.mention_text or "",
        link=safe_url(alert.mention_url),
        footer=footer,
        action=notification.action,
        alert_link=alert_link(base_url, alert),
        drilldown=drilldown_link(base_url, alert),
    )

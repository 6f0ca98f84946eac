"""How a mention alert reads: a title a person can triage from, and a short summary."""

from __future__ import annotations

from domain import Classification, Mention

_CATEGORY_WORDS = {
    "outage": "outage report",
    "security": "security concern",
    "safety": "safety concern",
    "legal": "legal threat",
    "billing": "billing complaint",
    "delivery": "delivery complaint",
    "customer_service": "customer service complaint",
}


def alert_text(mention: Mention, classification: Classification) -> tuple[str, str]:
    """(title, summary) for a mention alert."""
    brand = mention.brands[0] if mention.brands else "unknown brand"
    what = next(
        (_CATEGORY_WORDS[c] for c in classification.categories if c in _CATEGORY_WORDS),
        f"{classification.sentiment} mention",
    )
    title = (
        f"{classification.urgency.upper()}: {what} about {brand} on {mention.source_kind or mention.source}"
    )
    followers = mention.author.followers
    reach = f" ({followers:,} followers)" if followers else ""
    body = mention.full_text.strip().replace("\n", " ")
    if len(body) > 280:
        body = body[:279] + "…"
    return title, f"@{mention.author.handle}{reach}: {body}"

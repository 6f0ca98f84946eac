"""Keyword evidence for categories: phrases that name an outage, a breach, a hazard, a lawyer...

The baseline classifier uses these alone. The transformer uses them as a second
opinion next to its prototype similarities: a keyword hit counts only when the
mention's embedding is also at least loosely close to that category's examples,
so "fire" in "this update is fire" needs more than the word to become a safety alert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

CATEGORY_PATTERNS: dict[str, str] = {
    "outage": (
        r"\b(down|outage|offline|not loading|won'?t load|not working|stopped working|degraded|unavailable"
        r"|5\d\d( error)?s?|status page|can'?t (log ?in|sign in|connect|sync|access|load|open|upload)"
        r"|sync(ing)? (is )?(stuck|broken|fail\w*)|is it (just )?me)\b"
    ),
    "security": (
        r"\b(leak(s|ed|ing)?|breach(ed|es)?|hack(ed|er|ers)?|vulnerab\w*|exploit\w*|idor|exposed|phishing"
        r"|stolen|unauthori[sz]ed|compromised|account takeover|security (hole|issue|flaw|bug))\b"
    ),
    "safety": (
        r"\b(fire|caught fire|smok(e|ed|ing)|overheat\w*|burn(t|ed|ing)?|explod\w*|swell\w*|swollen"
        r"|injur\w*|electric shock|melt(ed|ing)?|hazard\w*|dangerous|recall)\b"
    ),
    "legal": (
        r"\b(lawyers?|lawsuit|sue|suing|class action|gdpr|legal action|attorney|court|regulator"
        r"|ombudsman|data protection authority|small claims|cease and desist)\b"
    ),
    "billing": (
        r"\b(charged|charge|refund\w*|invoice|billing|subscription|overcharg\w*|auto-?renew\w*"
        r"|double[- ]charged|price (hike|increase))\b"
    ),
    "delivery": (
        r"\b(deliver\w*|shipping|shipped|package|parcel|courier|tracking number|customs|dispatch\w*"
        r"|order (hasn'?t|has not|never|still))\b"
    ),
    "customer_service": (
        r"\b(support|no reply|no response|customer service|ticket|on hold|chatbot|agent"
        r"|nobody (answers|replies|responds|helps)|ignor(ed|ing) (me|us))\b"
    ),
    "product_feedback": r"\b(feature( request)?|wish|would be nice|please add|suggestion|roadmap|ui|ux)\b",
    "question": r"(\?\s*$|\b(how do i|how to|anyone know|does anyone|is there a way|can i)\b)",
    "praise": r"\b(love|amazing|awesome|best|great job|thank you|kudos|impressed)\b",
    "spam": (
        r"\b(giveaway|dm (me|us|for)|free followers|crypto|airdrop|click here|earn \$|promo code"
        r"|recovery code|whatsapp me)\b"
    ),
}


def compile_patterns(extra: Mapping[str, Sequence[str]] | None = None) -> dict[str, re.Pattern[str]]:
    """Compiled patterns, with config example phrases added as literal alternatives."""
    patterns = dict(CATEGORY_PATTERNS)
    for category, examples in (extra or {}).items():
        literal = "|".join(re.escape(e.lower()) for e in examples if e.strip())
        if literal:
            patterns[category] = f"{patterns[category]}|{literal}" if category in patterns else literal
    return {name: re.compile(p, re.IGNORECASE) for name, p in patterns.items()}


def keyword_hits(text: str, patterns: Mapping[str, re.Pattern[str]]) -> set[str]:
    """The categories whose keywords appear in ``text``."""
    return {name for name, rx in patterns.items() if rx.search(text)}

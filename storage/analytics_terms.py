"""Emerging terms: the words that distinguish a window's mentions from its baseline.

Scored with the weighted log-odds ratio and an informative Dirichlet prior (Monroe, Colaresi
and Quinn, 2008, "Fightin' Words"): for each word, the difference of its log-odds in the window
and in the baseline, smoothed by a prior drawn from both, divided by its standard deviation.
A z-score, so a frequent word that merely moved with volume scores low and a word that appears
from nowhere scores high. Pure functions, no I/O: the texts come from ``storage.analytics``.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from stop_words import get_stop_words

from collectors.query.parser import fold

LANGUAGES = ("en", "es", "fr", "de", "pt", "it")
# Social and web noise that no stop-word list has.
EXTRA_STOP_WORDS = frozenset({"amp", "rt", "via", "http", "https", "www", "com", "html", "lol", "just"})
# The prior is both corpora's word counts scaled to this share of their size: enough to damp a
# rare word's jump from 0 to 2, little enough that a real change in a small window still shows.
PRIOR_SHARE = 0.1
# 1.96: the usual two-sided 5% threshold; below it a word's rise is within chance.
MIN_Z = 1.96
MIN_COUNT = 3
# Texts whose words are kept: both sides of a few views' samples (web.analytics.TERM_SAMPLE),
# about 1.5 kB each, so some 25 MB at most per process.
WORDS_CACHE = 16384

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@[\w.\-]+")
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")


@dataclass(frozen=True, slots=True)
class EmergingTerm:
    """A word more frequent in the window than its baseline predicts, with its z-score.

    ``mentions`` and ``baseline_mentions`` count the mentions containing the word.
    """

    term: str
    score: float
    mentions: int
    baseline_mentions: int


@cache
def stop_words() -> frozenset[str]:
    """Stop words of English, Spanish, French, German, Portuguese and Italian, case-folded."""
    words: set[str] = set(EXTRA_STOP_WORDS)
    for language in LANGUAGES:
        words.update(fold(word) for word in get_stop_words(language))
    return frozenset(words)


def excluded_words(names: Iterable[str]) -> frozenset[str]:
    """The words of brand names (and the names whole), which every mention of a brand contains."""
    words: set[str] = set()
    for name in names:
        folded = fold(name)
        words.add(folded)
        words.update(_WORD.findall(folded))
    return frozenset(words)


@lru_cache(maxsize=WORDS_CACHE)
def content_words(text: str) -> frozenset[str]:
    """The distinct content words of ``text``: folded, 3+ letters, no links, handles, digits or stop words.

    Cached: the dashboard reads the same few thousand newest texts on every request, and
    splitting them into words costs more than the rest of the dashboard together.
    """
    # The substitutions only when their pattern can match (same result, a third of the time).
    if "://" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _HANDLE.sub(" ", text)
    stops = stop_words()
    return frozenset(
        sys.intern(word) for word in _WORD.findall(fold(text)) if len(word) >= 3 and word not in stops
    )


def terms_of(text: str, exclude: frozenset[str] = frozenset()) -> set[str]:
    """The content words of ``text`` (see ``content_words``) less those in ``exclude``."""
    return set(content_words(text) - exclude)


def document_counts(texts: Iterable[str], exclude: frozenset[str] = frozenset()) -> Counter[str]:
    """In how many of ``texts`` each term appears (a word repeated in one post counts once)."""
    counts: Counter[str] = Counter()
    for text in texts:
        words = content_words(text)
        counts.update(words - exclude if exclude else words)
    return counts


def log_odds(
    window: Counter[str],
    baseline: Counter[str],
    *,
    prior_share: float = PRIOR_SHARE,
) -> dict[str, float]:
    """The z-scored log-odds ratio of every word, window against baseline, with a Dirichlet prior.

    The prior for a word is ``prior_share`` times its count in both corpora (the informative
    prior of Monroe et al. with the pooled corpus as background).
    """
    n_window, n_baseline = sum(window.values()), sum(baseline.values())
    total = n_window + n_baseline
    if not total:
        return {}
    scores: dict[str, float] = {}
    for word in window.keys() | baseline.keys():
        y_i, y_j = window[word], baseline[word]
        alpha, a0 = prior_share * (y_i + y_j), prior_share * total
        rest_i, rest_j = n_window + a0 - y_i - alpha, n_baseline + a0 - y_j - alpha
        if rest_i <= 0 or rest_j <= 0:
            # The only word on a side: no other word to be more frequent than, so no contrast.
            scores[word] = 0.0
            continue
        delta = math.log((y_i + alpha) / rest_i) - math.log((y_j + alpha) / rest_j)
        variance = 1.0 / (y_i + alpha) + 1.0 / (y_j + alpha)
        scores[word] = delta / math.sqrt(variance)
    return scores


def emerging_terms(
    window_texts: Sequence[str],
    baseline_texts: Sequence[str],
    *,
    exclude: Iterable[str] = (),
    limit: int = 15,
    min_count: int = MIN_COUNT,
    min_z: float = MIN_Z,
) -> list[EmergingTerm]:
    """The words that most distinguish ``window_texts`` from ``baseline_texts``, strongest first.

    ``exclude`` are brand names: every mention has them, so they say nothing about what changed.
    """
    skip = excluded_words(exclude)
    window = document_counts(window_texts, skip)
    baseline = document_counts(baseline_texts, skip)
    scores = log_odds(window, baseline)
    found = [
        EmergingTerm(word, round(score, 3), window[word], baseline[word])
        for word, score in scores.items()
        if window[word] >= min_count and score >= min_z
    ]
    found.sort(key=lambda t: (-t.score, -t.mentions, t.term))
    return found[:limit]

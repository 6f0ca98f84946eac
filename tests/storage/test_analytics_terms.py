"""Emerging terms: planted words surface, everyday words, stop words and brand names do not."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from collectors.query.parser import fold
from storage.analytics_terms import (
    _HANDLE,
    _URL,
    _WORD,
    document_counts,
    emerging_terms,
    log_odds,
    stop_words,
    terms_of,
)

EVERYDAY = ["support", "cloud", "hub", "account", "service", "login", "dashboard", "update", "team", "price"]


def corpus(rng: random.Random, n: int, planted: dict[str, float], brand: str = "Acme") -> list[str]:
    """``n`` posts of everyday words, each also carrying each planted word with its probability."""
    posts = []
    for _ in range(n):
        words = [*rng.sample(EVERYDAY, 4), brand, "the", "and", "que", "le", "der", "para", "di"]
        words += [word for word, p in planted.items() if rng.random() < p]
        rng.shuffle(words)
        posts.append(" ".join(words) + " https://acme.example/x @someone 2024")
    return posts


def test_planted_terms_surface_and_everyday_words_do_not() -> None:
    rng = random.Random(7)
    baseline = corpus(rng, 600, {"refund": 0.02})
    window = corpus(rng, 200, {"outage": 0.3, "chargeback": 0.15, "refund": 0.02})
    found = emerging_terms(window, baseline, exclude=["Acme", "Acme Cloud"])
    terms = [t.term for t in found]
    assert terms[:2] == ["outage", "chargeback"]
    # refund is as common as before; support, cloud, hub are every day's words.
    assert "refund" not in terms and not set(terms) & set(EVERYDAY)
    outage = found[0]
    assert outage.mentions == sum("outage" in post for post in window)
    assert outage.baseline_mentions == 0 and outage.score > 1.96


def test_stop_words_of_six_languages_brand_names_links_handles_and_numbers_are_dropped() -> None:
    assert {"the", "que", "les", "der", "para", "della"} <= stop_words()
    words = terms_of(
        "The Acme outage! Die Störung, la panne: https://x.example/a @acme 2024 #fail", frozenset({"acme"})
    )
    assert words == {"outage", "störung", "panne", "fail"}


def test_a_word_repeated_in_one_post_counts_once() -> None:
    assert document_counts(["outage outage outage", "outage", "broken"]) == Counter(
        {"outage": 2, "broken": 1}
    )


def test_log_odds_is_symmetric_and_zero_for_unchanged_rates() -> None:
    window, baseline = Counter({"a": 10, "b": 30}), Counter({"a": 30, "b": 10})
    scores = log_odds(window, baseline)
    assert scores["a"] < 0 < scores["b"] and abs(scores["a"] + scores["b"]) < 1e-9
    same = log_odds(Counter({"a": 10, "b": 10}), Counter({"a": 50, "b": 50}))
    assert all(abs(score) < 1e-9 for score in same.values())


def test_nothing_emerges_from_nothing() -> None:
    assert emerging_terms([], []) == []
    assert emerging_terms(["one post about outage"], []) == []  # below the minimum count


def test_a_one_word_vocabulary_has_no_contrast() -> None:
    assert log_odds(Counter({"mention": 2}), Counter({"mention": 1})) == {"mention": 0.0}


def _uncached_terms(text: str, exclude: frozenset[str]) -> set[str]:
    # The definition: links out, then handles out, then the folded words.
    text = _HANDLE.sub(" ", _URL.sub(" ", text))
    return {
        w for w in _WORD.findall(fold(text)) if len(w) >= 3 and w not in stop_words() and w not in exclude
    }


PIECES = [
    "Refund",
    "WWW.acme.io/x",
    "www",
    "HTTPS://a.b/c",
    "http:/x",
    "://",
    "@ann",
    "a@b.c",
    "x@",
    "héllo",
    "ſtraße",
    "ＦＵＬＬ",
    "don't",
    "re-do",
    "42nd",
    "the",
    "Acme",
    " ",
    ".",
    "\n",
]


@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=12))
def test_cached_words_equal_the_definition(parts: list[str]) -> None:
    text = "".join(parts)
    exclude = frozenset({"acme"})
    assert terms_of(text, exclude) == _uncached_terms(text, exclude)
    assert terms_of(text, exclude) == _uncached_terms(text, exclude)  # from the cache
    assert document_counts([text, text], exclude) == Counter({w: 2 for w in _uncached_terms(text, exclude)})

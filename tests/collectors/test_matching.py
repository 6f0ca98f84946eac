"""BrandMatcher: brands and queries a mention matches, built on the query language."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.matching import BrandMatcher, BrandSpec, MatchResult
from collectors.query import QuerySyntaxError

BRANDS = [
    BrandSpec("Acme", ('(acme OR "acme corp") -jobs', "@acmesupport", "acme site:status.acme.com")),
    BrandSpec("Globex", ("globex lang:en", "#globexfail"), competitors=("Acme",)),
]


@pytest.mark.parametrize(
    ("text", "meta", "brands", "queries"),
    [
        ("Acme is down again", {}, ("Acme",), ('(acme OR "acme corp") -jobs',)),
        ("acme jobs fair", {}, (), ()),
        ("cc @AcmeSupport", {}, ("Acme",), ("@acmesupport",)),
        (
            "acme incident",
            {"url": "https://status.acme.com/incidents/1"},
            ("Acme",),
            ('(acme OR "acme corp") -jobs', "acme site:status.acme.com"),
        ),
        (
            "globex vs acme",
            {"language": "en"},
            ("Acme", "Globex"),
            ('(acme OR "acme corp") -jobs', "globex lang:en"),
        ),
        ("globex vs acme", {"language": "fr"}, ("Acme",), ('(acme OR "acme corp") -jobs',)),
        ("so #GlobexFail", {}, ("Globex",), ("#globexfail",)),
        ("nothing to see", {}, (), ()),
    ],
)
def test_match(text: str, meta: dict[str, str], brands: tuple[str, ...], queries: tuple[str, ...]) -> None:
    result = BrandMatcher(BRANDS).match(text, **meta)
    assert result == MatchResult(brands, queries)
    assert bool(result) is bool(brands)


def test_author_is_used_for_from() -> None:
    matcher = BrandMatcher([BrandSpec("Acme", ("from:acme",))])
    assert matcher.match("hello", author="Acme").brands == ("Acme",)
    assert not matcher.match("hello", author="other")


def test_links_are_used_for_site() -> None:
    matcher = BrandMatcher([BrandSpec("Acme", ("launch site:acme.com",))])
    assert matcher.match("our launch", links=["https://acme.com/launch"]).brands == ("Acme",)
    assert not matcher.match("our launch", links=["https://example.com/"])


def test_bad_query_fails_when_built_and_names_the_brand() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        BrandMatcher([BrandSpec("Acme", ("acme", "acme OR"))])
    assert caught.value.position == 7
    assert any("'Acme', query 1" in note for note in caught.value.__notes__)


def test_parsed_queries_are_exposed_for_api_searches() -> None:
    matcher = BrandMatcher(BRANDS)
    assert [(q.brand, q.text) for q in matcher.parsed][:2] == [
        ("Acme", '(acme OR "acme corp") -jobs'),
        ("Acme", "@acmesupport"),
    ]


_WORDS = st.sampled_from(
    ["acme", "Acme's", "#acmefail", "@acmesupport", "globex", "outage", "refund", "a", "the", "x.y"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, max_size=12).map(" ".join))
def test_word_set_prefilter_never_changes_a_result(text: str) -> None:
    brands = [
        BrandSpec("Acme", ('acme OR "acme cloud"', "acme NEAR/2 refund", "@acmesupport OR #acmefail")),
        BrandSpec("Globex", ("globex -outage", "x.y globex")),
    ]
    assert BrandMatcher(brands).match(text) == BrandMatcher(brands, prefilter=False).match(text)

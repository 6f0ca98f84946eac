"""The brand query language: parsing, errors, local matching and API translations."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.query import (
    Compiler,
    Document,
    QuerySyntaxError,
    Untranslatable,
    parse_query,
    to_bluesky,
    to_hackernews,
    to_reddit,
    to_x,
    validate_query,
)
from collectors.query.translate import is_at_identifier


def matches(query: str, text: str, **meta: object) -> bool:
    return Compiler().compile(parse_query(query))(Document(text, **meta))  # type: ignore[arg-type]


MATCH_CASES = [
    # (query, text, metadata, expected)
    ("acme", "I love Acme!", {}, True),
    ("acme", "ACME's new phone", {}, True),
    ("acme", "acmeville is nice", {}, False),
    ("acme", "the #acme launch", {}, True),
    ("acme", "", {}, False),
    ("AT&T", "switching from at&t today", {}, True),
    ("node.js", "Node.js 22 is out", {}, True),
    ("café", "CAFÉ crème", {}, True),
    ("straße", "STRASSE gesperrt", {}, True),
    ("ｆｏｏ", "foo bar", {}, True),
    ('"acme corp"', "Acme  Corp. announced", {}, True),
    ('"acme corp"', "acme-corp announced", {}, True),
    ('"acme corp"', "corp acme", {}, False),
    ("acme widgets", "widgets made by acme", {}, True),
    ("acme AND widgets", "acme only", {}, False),
    ("acme OR widgets", "widgets only", {}, True),
    ("acme -jobs", "acme is hiring, see jobs page", {}, False),
    ("acme NOT jobs", "acme outage", {}, True),
    ("acme -(jobs OR hiring)", "acme hiring now", {}, False),
    ("(acme OR globex) outage", "Globex outage again", {}, True),
    ("(acme OR globex) outage", "Globex is fine", {}, False),
    ("@acme", "thanks @Acme for nothing", {}, True),
    ("@acme", "thanks acme", {}, False),
    ("@acme", "email me at bob@acme.com", {}, False),
    ("@acme", "hey @acme.", {}, True),
    ("@acme", "hey @acme@mastodon.social", {}, True),
    ("@acme.bsky.social", "cc @acme.bsky.social please", {}, True),
    ("#acmefail", "another #AcmeFail day", {}, True),
    ("#acmefail", "another acmefail day", {}, False),
    ("#acme", "#acmefail", {}, False),
    ("acme lang:en", "acme rocks", {"language": "en-US"}, True),
    ("acme lang:en", "acme rocks", {"language": "de"}, False),
    ("acme lang:en", "acme rocks", {}, False),
    ("acme -lang:de", "acme rocks", {}, True),
    ("acme from:acmesupport", "acme is fixed", {"author": "@AcmeSupport"}, True),
    ("acme from:acmesupport", "acme is fixed", {"author": "someone"}, False),
    ("from:alice", "hello", {"author": "alice@example.social"}, True),
    ("from:alice@example.social", "hello", {"author": "alice@other.social"}, False),
    ("acme site:acme.com", "acme blog post", {"url": "https://blog.acme.com/x"}, True),
    ("acme site:acme.com", "acme blog post", {"url": "https://notacme.com/x"}, False),
    ("acme site:acme.com/blog", "acme", {"url": "https://acme.com/blog/post-1"}, True),
    ("acme site:acme.com/blog", "acme", {"url": "https://acme.com/blogger"}, False),
    ("acme site:github.com", "acme released https://github.com/acme/x", {}, True),
    ("acme site:github.com", "acme", {"links": ["https://www.github.com/acme"]}, True),
    # NEAR/n allows at most n words between the two sides.
    ("acme NEAR/2 outage", "acme had big outage", {}, True),
    ("acme NEAR/2 outage", "acme had a big outage", {}, False),
    ("acme NEAR/2 outage", "outage at acme", {}, True),
    ('"acme cloud" NEAR/1 down', "acme cloud is down", {}, True),
    ("*", "", {}, True),
    ("* -spam", "buy spam", {}, False),
    ("or", "this or that", {}, True),
]


@pytest.mark.parametrize(("query", "text", "meta", "expected"), MATCH_CASES)
def test_local_matching(query: str, text: str, meta: dict[str, object], expected: bool) -> None:
    assert matches(query, text, **meta) is expected


ERROR_CASES = [
    # (query, message fragment, position)
    ("", "empty query", 0),
    ("   ", "empty query", 0),
    ("acme OR", "expected a term", 7),
    ("acme AND", "expected a term", 8),
    ("OR acme", "'OR' needs a term", 0),
    ("(acme", "missing ')'", 0),
    ("acme)", "unmatched ')'", 4),
    ("()", "empty parentheses", 0),
    ('acme "corp', "unterminated", 5),
    ('acme ""', "empty quoted phrase", 5),
    ("acme - corp", "'-' must be followed", 5),
    ("acme -", "'-' must be followed", 5),
    ("NEAR/3 acme", "needs a word or phrase before", 0),
    ("acme NEAR outage", "NEAR needs a distance", 5),
    ("acme NEAR/0 outage", "between 1 and", 5),
    ("acme NEAR/3 (a OR b)", "on each side", 5),
    ("(a OR b) NEAR/3 acme", "on each side", 9),
    ("a NEAR/2 b NEAR/2 c", "cannot be chained", 11),
    ("acme foo:bar", "unknown filter 'foo:'", 5),
    ("acme lang:", "needs a value", 5),
    ("acme lang:english!", "invalid language code", 5),
    ("acme site:", "needs a value", 5),
    ("acme from:!!", "invalid handle", 5),
    ("@ acme", "invalid handle", 0),
    ("acme #", "invalid hashtag", 5),
    ("lang:en", "without any word", 0),
    ("-acme", "without any word", 0),
    ("acme OR -spam", "without any word", 8),
    ("acme OR lang:en", "without any word", 8),
    ("(" * 60 + "acme" + ")" * 60, "nests deeper", 40),
    ("-" * 60 + "acme", "nests deeper", 40),
    ("a" * 2001, "longer than", 2000),
]


@pytest.mark.parametrize(("query", "fragment", "position"), ERROR_CASES)
def test_syntax_errors_have_message_and_position(query: str, fragment: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        validate_query(query)
    assert fragment in caught.value.message
    assert caught.value.position == position
    assert str(caught.value) == caught.value.message


def test_operators_are_upper_case_only() -> None:
    assert parse_query("acme or widgets") == parse_query("acme AND or AND widgets")


TRANSLATIONS = [
    # (query, X, Reddit, HN queries, Bluesky keys)
    ("acme", "acme", "acme", ["acme"], ["acme"]),
    (
        'acme OR "acme corp" -jobs',
        'acme OR ("acme corp" -jobs)',
        'acme OR ("acme corp" AND NOT jobs)',
        ["acme", '"acme corp" -jobs'],
        ["acme", '"acme corp" -jobs'],
    ),
    (
        "(acme OR globex) lang:en -from:spambot",
        "(acme OR globex) lang:en -from:spambot",
        "(acme OR globex) AND NOT author:spambot",
        ["acme", "globex"],
        ["acme lang:en", "globex lang:en"],
    ),
    ("acme NEAR/3 outage", "acme outage", "acme AND outage", ["acme outage"], ["acme outage"]),
    ("acme -(x NEAR/2 y)", "acme", "acme", ["acme"], ["acme"]),
    (
        "acme -(jobs OR hiring)",
        "acme -jobs -hiring",  # X: "do not negate grouped operators"
        "acme AND NOT (jobs OR hiring)",
        ["acme -jobs -hiring"],
        ["acme -jobs -hiring"],
    ),
    (
        "@acme #acmefail site:acme.com",
        '@acme #acmefail url:"acme.com"',
        "acme AND acmefail AND site:acme.com",
        ["acme acmefail"],
        ["acme #acmefail site:acme.com"],  # '@acme' is no at-identifier: Bluesky searches the word
    ),
    (
        "@acme.bsky.social outage",
        "@acme.bsky.social outage",
        '"acme.bsky.social" AND outage',
        ['"acme.bsky.social" outage'],
        ["outage @acme.bsky.social"],
    ),
    ("AT&T", '"at&t"', '"at&t"', ['"at&t"'], ['"at&t"']),
]


@pytest.mark.parametrize(("query", "x", "reddit", "hn", "bluesky"), TRANSLATIONS)
def test_translations(query: str, x: str, reddit: str, hn: list[str], bluesky: list[str]) -> None:
    node = parse_query(query)
    assert to_x(node) == x
    assert to_reddit(node) == reddit
    assert [c.key() for c in to_hackernews(node)] == hn
    assert [c.key() for c in to_bluesky(node)] == bluesky


@pytest.mark.parametrize(
    ("query", "x"),
    [
        ("acme -(jobs OR hiring)", "acme -jobs -hiring"),
        ("acme -(jobs OR (hiring -now))", "acme"),  # no exact ungrouped form: the exclusion is dropped
        ("acme -(jobs hiring)", "acme"),
        ("acme OR -(jobs OR hiring) outage", "acme OR (-jobs -hiring outage)"),
    ],
)
def test_x_never_negates_a_group(query: str, x: str) -> None:
    assert to_x(parse_query(query)) == x and "-(" not in x


@pytest.mark.parametrize(
    ("code", "x"),
    [("en", "en"), ("en-GB", "en"), ("he", "iw"), ("id", "in"), ("zh-Hant", "zh-TW"), ("zh-CN", "zh-CN")],
)
def test_x_language_codes(code: str, x: str) -> None:
    assert to_x(parse_query(f"acme lang:{code}")) == f"acme lang:{x}"


def test_x_unknown_language_is_left_out() -> None:
    assert to_x(parse_query("acme lang:xx")) == "acme"


@pytest.mark.parametrize(
    ("query", "mentions", "authors", "words"),
    [
        ("@acmesupport outage", [], [], ["acmesupport", "outage"]),
        ("@acme.example.org outage", ["acme.example.org"], [], ["outage"]),
        ("acme from:acmesupport", [], [], ["acme"]),
        ("acme from:acme.bsky.social", [], ["acme.bsky.social"], ["acme"]),
    ],
)
def test_bluesky_sends_only_at_identifiers(
    query: str, mentions: list[str], authors: list[str], words: list[str]
) -> None:
    (conj,) = to_bluesky(parse_query(query))
    assert (conj.mentions, conj.authors, conj.include) == (mentions, authors, words)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("acme.bsky.social", True),
        ("did:plc:z72i7hdynmk6r22z27h6tvur", True),
        ("acmesupport", False),
        ("", False),
    ],
)
def test_at_identifiers(value: str, valid: bool) -> None:
    assert is_at_identifier(value) is valid


def test_hn_author_filter_becomes_a_tag() -> None:
    (conj,) = to_hackernews(parse_query("acme from:pg"))
    assert conj.include == ["acme"] and conj.authors == ["pg"]


@pytest.mark.parametrize("query", ["*", "* -spam", "* lang:en"])
def test_match_everything_cannot_be_searched(query: str) -> None:
    node = parse_query(query)
    for translate in (to_x, to_reddit, to_hackernews, to_bluesky):
        with pytest.raises(Untranslatable):
            translate(node)


def test_x_length_limit() -> None:
    node = parse_query(" OR ".join(f"brand{i}" for i in range(100)))
    with pytest.raises(Untranslatable, match="characters"):
        to_x(node)


def test_dnf_explosion_is_broadened_not_exploded() -> None:
    # 2^6 = 64 combinations exceed the search budget: some factor is left out, never a narrower search.
    query = " ".join(f"(a{i} OR b{i})" for i in range(6))
    conjuncts = to_hackernews(parse_query(query))
    assert 0 < len(conjuncts) <= 10


# ------------------------------------------------------------------ properties

_PIECES = ["OR", "AND", "NOT", "NEAR/2", "lang:", "site:", "from:"]
_ALPHABET = st.sampled_from([*'abcAB é()"-@#:/*ORANDTNE 0123456789\t\n.&_', *_PIECES])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_parsing_fails_only_with_query_syntax_error(text: str) -> None:
    try:
        node = parse_query(text)
    except QuerySyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    # A query that parses can always be evaluated, and translated or refused cleanly.
    Compiler().compile(node)(Document(text, language="en", author="a", url="https://a.example/b"))
    for translate in (to_x, to_reddit, to_hackernews, to_bluesky):
        with contextlib.suppress(Untranslatable):
            translate(node)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    try:
        parse_query(text)
    except QuerySyntaxError as error:
        assert 0 <= error.position <= len(text)


_WORDS = st.sampled_from(["acme", "globex", "outage", "jobs", "great"])


@st.composite
def _queries(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return draw(_WORDS)
    op = draw(st.sampled_from(["OR", "AND", "NOT"]))
    left = draw(_queries(depth + 1))
    right = draw(_queries(depth + 1))
    if op == "NOT":
        return f"({left} -{right})"
    return f"({left} {op} {right})"


@settings(max_examples=300, deadline=None)
@given(_queries(), st.lists(_WORDS, max_size=6).map(" ".join))
def test_translations_never_miss_a_local_match(query: str, text: str) -> None:
    """Searches may be broader than the query, never narrower: model each API's search on the text."""
    try:
        node = parse_query(query)
    except QuerySyntaxError:
        return
    words = set(text.split())
    if not matches(query, text):
        return
    try:
        conjuncts = to_hackernews(node)
    except Untranslatable:
        return
    assert any(set(c.include) <= words and not set(c.exclude) & words for c in conjuncts)

"""Analytics queries on SQLite and PostgreSQL: query-language search, streamed export, reach."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collectors.query import QuerySyntaxError
from domain import Mention
from storage.analytics import (
    EXPORT_COLUMNS,
    iter_export,
    parse_search,
    search_conditions,
    search_page,
    texts_in,
    top_authors_by_reach,
)
from tests.databases import _truncate
from tests.web.factories import NOW, classification, mention, store

HOUR = timedelta(hours=1)


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> dict[str, int]:
    items = [
        (
            mention("refund", text="Where is my REFUND?", handle="@ann", followers=10),
            classification("negative"),
        ),
        (mention("chargeback", text="Filed a chargeback today", handle="@bob", followers=5000), None),
        (
            mention("phrase", text="late delivery again", handle="@cy", followers=None),
            classification("negative"),
        ),
        (mention("apart", text="delivery was late", handle="@cy", followers=None), classification("neutral")),
        (
            dataclasses.replace(mention("es", text="reembolso por favor", handle="@dia"), language="es"),
            classification("negative"),
        ),
        (
            dataclasses.replace(mention("br", text="reembolso já", handle="@eva"), language="pt_BR"),
            None,
        ),
        (mention("spam", text="refund spam buy now", handle="@spam", followers=9_000_000), None),
        (
            dataclasses.replace(
                mention("own", text="We fixed refunds", handle="@acme", followers=90_000_000), owned=True
            ),
            None,
        ),
        (mention("titled", text="body", title="Refund policy", handle="@fed@example.social"), None),
        (mention("rival", brands=("Rival",), text="refund at Rival", handle="@ann", at=NOW - 2 * HOUR), None),
    ]
    ids = store(sessions, items)
    return {m.external_id: i for (m, _), i in zip(items, ids, strict=True)}


def found(
    sessions: sessionmaker[Session], query: str, *, brand: str | None = None, sentiment: str | None = None
) -> set[str]:
    conditions = search_conditions(text=parse_search(query), brand=brand, sentiment=sentiment)
    with sessions() as session:
        rows, total = search_page(session, conditions, limit=100, offset=0)
        assert total == len(rows)
        return {row.external_id for row in rows}


def test_query_language_search(sessions: sessionmaker[Session], stored: dict[str, int]) -> None:
    assert found(sessions, "refund") == {"refund", "spam", "own", "titled", "rival"}
    assert found(sessions, "refund OR chargeback") == {
        "refund",
        "chargeback",
        "spam",
        "own",
        "titled",
        "rival",
    }
    assert found(sessions, "refund -spam -rival") == {"refund", "own", "titled"}
    assert found(sessions, '"late delivery"') == {"phrase"}
    assert found(sessions, "late delivery") == {"phrase", "apart"}
    assert found(sessions, "reembolso lang:es") == {"es"}
    assert found(sessions, "reembolso lang:pt") == {"br"}
    assert found(sessions, "from:ann") == {"refund", "rival"}
    assert found(sessions, "from:@ann refund", brand="Rival") == {"rival"}
    assert found(sessions, "from:fed") == {"titled"}  # a fediverse handle by its local part
    assert found(sessions, "refund", sentiment="negative") == {"refund"}
    # A bare exclusion narrows everything; mentions without a title are not lost by NOT.
    assert found(sessions, "-refund") == {"chargeback", "phrase", "apart", "es", "br"}
    assert found(sessions, "lang:es") == {"es"}


def test_wildcards_are_literal_and_bad_syntax_has_a_position() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_search('refund "late')
    assert info.value.position == 7
    with pytest.raises(QuerySyntaxError):
        parse_search("refund OR")


def test_percent_is_not_a_wildcard(sessions: sessionmaker[Session]) -> None:
    store(
        sessions, [(mention("pct", text="100% refund"), None), (mention("plain", text="100 refunds"), None)]
    )
    assert found(sessions, '"100%"') == {"pct"}


def test_export_streams_every_match_in_order(sessions: sessionmaker[Session], stored: dict[str, int]) -> None:
    with sessions() as session:
        rows = iter_export(session, search_conditions(text=parse_search("refund OR chargeback")), chunk=2)
        first = next(rows)  # a generator: nothing past the first chunk has been read yet
        rest = list(rows)
    assert len(EXPORT_COLUMNS) == len(first)
    # Newest first, ties by id: the last one stored at NOW, and the one from two hours ago last.
    assert first[0] == stored["titled"] and rest[-1][0] == stored["rival"]
    got = {r[0] for r in [first, *rest]}
    assert got == {stored[k] for k in ("refund", "chargeback", "spam", "own", "titled", "rival")}
    by_id = {r[0]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in [first, *rest]}
    refund = by_id[stored["refund"]]
    assert refund["brands"] == "Acme" and refund["author"] == "@ann" and refund["sentiment"] == "negative"
    assert by_id[stored["rival"]]["published_at"].astimezone(NOW.tzinfo) == NOW - 2 * HOUR


def test_top_authors_by_reach_leave_out_owned_accounts(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    with sessions() as session:
        top = top_authors_by_reach(session, since=NOW - HOUR, until=NOW + HOUR, brands=["Acme"], limit=3)
        rival = top_authors_by_reach(session, since=NOW - 3 * HOUR, until=NOW + HOUR, brands=["Rival"])
    # @acme (90M followers) posted as the brand: left out. Ties at 1200 go by handle.
    assert [a.handle for a in top] == ["@spam", "@bob", "@ann"]
    assert [(a.handle, a.mentions) for a in rival] == [("@ann", 1)]


def test_texts_in_reads_titles_and_caps_the_sample(
    sessions: sessionmaker[Session], stored: dict[str, int]
) -> None:
    with sessions() as session:
        texts = texts_in(session, since=NOW - HOUR, until=NOW + HOUR, brands=["Acme"], limit=100)
        capped = texts_in(session, since=NOW - HOUR, until=NOW + HOUR, brands=None, limit=3)
    assert "Refund policy\nbody" in texts and "refund at Rival" not in texts
    assert len(texts) == 9 and len(capped) == 3


HANDLES = ("@ann", "@bob", "@cy", "@dia", "@eva", "@fox")
BASE = NOW - timedelta(days=2)


@st.composite
def author_histories(draw: Any) -> list[Mention]:
    """Random mentions by a few authors (reach ties, unknown and zero reach), some owned."""
    reach = {h: draw(st.sampled_from([None, 0, 5, 100, 100, 3000])) for h in HANDLES}
    items = []
    for i in range(draw(st.integers(0, 30))):
        handle = draw(st.sampled_from(HANDLES))
        item = mention(
            f"m{i}",
            at=BASE + timedelta(minutes=draw(st.integers(0, 2 * 24 * 60 - 1))),
            brands=draw(
                st.lists(st.sampled_from(["Acme", "Rival", "Zed"]), min_size=1, max_size=2, unique=True)
            ),
            handle=handle,
            followers=reach[handle],
            likes=draw(st.integers(0, 3)),
        )
        items.append(dataclasses.replace(item, owned=draw(st.integers(0, 5)) == 0))
    return items


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=author_histories(),
    start=st.integers(0, 2 * 24 * 60),
    length=st.integers(1, 2 * 24 * 60),
    limit=st.integers(1, 5),
)
def test_walking_authors_by_reach_equals_grouping_every_mention(
    engine: Engine, items: list[Mention], start: int, length: int, limit: int
) -> None:
    _truncate(engine)
    sessions = sessionmaker(engine)
    if items:
        store(sessions, [(m, None) for m in items])
    since = BASE + timedelta(minutes=start, seconds=13)
    until = since + timedelta(minutes=length)
    with sessions() as session:
        for brands in (None, [], ["Acme"], ["Rival", "Zed"]):
            window: dict[str, Any] = {"since": since, "until": until, "brands": brands, "limit": limit}
            walked = top_authors_by_reach(session, **window, walk=True)
            assert walked == top_authors_by_reach(session, **window, walk=False)
            # The default picks a plan by the window's volume; the answer is the same.
            assert top_authors_by_reach(session, **window) == walked

"""Analytics queries for the marketers' dashboard: searches in the query language, streamed
exports, authors by reach (``storage.reach``, re-exported here) and the texts behind emerging terms.

Every function takes a session and never commits. Aggregates over time (volume, sentiment,
share of voice, categories) stay in ``storage.trends``; this module holds what reads mention rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, func, not_, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import find_tables

from collectors.query import Node, QuerySyntaxError, parse_query
from collectors.query.ast import And, Anything, From, Handle, Lang, Near, Not, Or, Phrase, Site, Tag, Term
from domain import Sentiment
from storage.models import AuthorRow, ClassificationRow, MentionBrandRow, MentionRow
from storage.reach import about
from storage.reach import top_authors_by_reach as top_authors_by_reach
from storage.trends import UNCLASSIFIED, utc

# What a streamed export fetches per round trip: big enough to be fast, small enough to stay flat.
EXPORT_CHUNK = 1000
EXPORT_COLUMNS = (
    "id",
    "published_at",
    "source",
    "brands",
    "author",
    "followers",
    "sentiment",
    "urgency",
    "categories",
    "language",
    "likes",
    "shares",
    "replies",
    "url",
    "title",
    "text",
)


def parse_search(text: str) -> Node:
    """The query-language AST of an inbox search; raises QuerySyntaxError with a position.

    Unlike a brand query, a search may be a bare filter (``-spam``, ``lang:es``): it narrows the
    inbox rather than defining what a brand collects, so it is read as "everything, and ...".
    """
    try:
        return parse_query(text)
    except QuerySyntaxError as exc:
        if not exc.message.startswith("this part would match posts without any word"):
            raise
    prefix = "* ("
    try:
        return parse_query(f"{prefix}{text})")
    except QuerySyntaxError as exc:
        raise QuerySyntaxError(exc.message, max(0, exc.position - len(prefix))) from None


def _like(value: str) -> str:
    # Escape LIKE wildcards so a search for "100%" means the literal text.
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(value: str) -> ColumnElement[bool]:
    pattern = _like(value)
    # coalesce: a NULL title must not turn NOT(...) into NULL and hide the mention.
    return or_(
        MentionRow.text.ilike(pattern, escape="\\"),
        func.coalesce(MentionRow.title, "").ilike(pattern, escape="\\"),
    )


def _from(handle: str) -> ColumnElement[bool]:
    name = func.lower(AuthorRow.handle)
    matches = [name == handle, name == f"@{handle}"]
    if "@" not in handle:
        # 'from:alice' also matches a fediverse 'alice@example.social', as the brand matcher does.
        matches += [name.like(f"{handle}@%"), name.like(f"@{handle}@%")]
    authors = select(AuthorRow.id).where(or_(*matches))
    return and_(MentionRow.author_id.is_not(None), MentionRow.author_id.in_(authors))


def text_condition(node: Node) -> ColumnElement[bool]:
    """A SQL condition for a query-language AST.

    Words and phrases match as case-insensitive substrings of the title or text (so ``refund``
    also finds "refunds"); ``NEAR`` is read as AND; ``lang:``, ``from:`` and ``site:`` look at
    the language, the author's handle and the URL.
    """
    if isinstance(node, Term):
        return _contains(node.text)
    if isinstance(node, Phrase):
        return _contains(node.text)
    if isinstance(node, Handle):
        return _contains(f"@{node.name}")
    if isinstance(node, Tag):
        return _contains(f"#{node.name}")
    if isinstance(node, Lang):
        # 'pt_BR' and 'pt-BR' are both Portuguese: compare with underscores read as hyphens.
        language = func.lower(func.replace(func.coalesce(MentionRow.language, ""), "_", "-"))
        return or_(language == node.code, language.like(f"{node.code}-%"))
    if isinstance(node, From):
        return _from(node.handle)
    if isinstance(node, Site):
        return func.coalesce(MentionRow.url, "").ilike(_like(f"{node.domain}{node.path}"), escape="\\")
    if isinstance(node, Not):
        return not_(text_condition(node.child))
    if isinstance(node, And):
        return and_(*(text_condition(child) for child in node.children))
    if isinstance(node, Or):
        return or_(*(text_condition(child) for child in node.children))
    if isinstance(node, Near):
        return and_(text_condition(node.left), text_condition(node.right))
    assert isinstance(node, Anything)
    return true()


def search_conditions(
    *,
    brand: str | None = None,
    source: str | None = None,
    sentiment: str | None = None,
    urgency: str | None = None,
    category: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    text: Node | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE conditions over mentions outer-joined with their classification (see ``search_page``).

    ``sentiment`` may also be ``unclassified``, so every segment of a sentiment chart drills down.
    """
    conditions: list[ColumnElement[bool]] = []
    if brand:
        # A correlated EXISTS: a page newest first then walks the time index and stops after a
        # page, where IN (SELECT ...) read every mention of the brand and sorted them.
        conditions += about([brand])
    if source:
        conditions.append(MentionRow.source == source)
    if sentiment == UNCLASSIFIED:
        # As trends count it: no classification yet, or a label outside the three sentiments.
        known = [str(s) for s in Sentiment]
        conditions.append(
            or_(ClassificationRow.mention_id.is_(None), ClassificationRow.sentiment.not_in(known))
        )
    elif sentiment:
        conditions.append(ClassificationRow.sentiment == sentiment)
    if urgency:
        conditions.append(ClassificationRow.urgency == urgency)
    if category:
        # JSON containment differs per backend; a quoted substring match works on both.
        quoted = f'"{category}"'
        conditions.append(func.coalesce(ClassificationRow.categories.cast(Text()), "").contains(quoted))
    if since:
        conditions.append(MentionRow.published_at >= utc(since))
    if until:
        conditions.append(MentionRow.published_at < utc(until))
    if text is not None:
        conditions.append(text_condition(text))
    return conditions


def _filtered(
    stmt: Select[Any], conditions: Sequence[ColumnElement[bool]], *, join: bool = True
) -> Select[Any]:
    # At most one classification per mention, so leaving the outer join out when no condition
    # reads it (``join=False``) selects the same mentions.
    if join or any(_reads_classification(c) for c in conditions):
        stmt = stmt.outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
    return stmt.where(*conditions) if conditions else stmt


def _reads_classification(condition: ColumnElement[bool]) -> bool:
    return ClassificationRow.__table__ in find_tables(condition, check_columns=True)


def search_page(
    session: Session, conditions: Sequence[ColumnElement[bool]], *, limit: int, offset: int
) -> tuple[list[MentionRow], int]:
    """One page of matching mentions, newest first, and how many match in all."""
    # Without the join when no filter needs it: counting every mention then reads one index,
    # not the mentions joined with their classifications (53 ms against 0.6 at 200k on SQLite).
    ids = _filtered(select(MentionRow.id), conditions, join=False)
    total = int(session.scalar(select(func.count()).select_from(ids.subquery())) or 0)
    page_ids = ids.order_by(MentionRow.published_at.desc(), MentionRow.id.desc()).limit(limit).offset(offset)
    wanted = list(session.scalars(page_ids))
    if not wanted:
        return [], total
    rows = session.scalars(select(MentionRow).where(MentionRow.id.in_(wanted))).unique().all()
    order = {mention_id: i for i, mention_id in enumerate(wanted)}
    return sorted(rows, key=lambda row: order[row.id]), total


def _brand_list(session: Session) -> ColumnElement[Any]:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        joined = func.string_agg(MentionBrandRow.brand, "|")
    else:
        joined = func.group_concat(MentionBrandRow.brand, "|")
    return (
        select(joined)
        .where(MentionBrandRow.mention_id == MentionRow.id)
        .correlate(MentionRow)
        .scalar_subquery()
    )


def iter_export(
    session: Session, conditions: Sequence[ColumnElement[bool]], *, chunk: int = EXPORT_CHUNK
) -> Iterator[tuple[Any, ...]]:
    """Every matching mention as a tuple of ``EXPORT_COLUMNS``, newest first, streamed.

    ``yield_per`` makes PostgreSQL use a server-side cursor and SQLite step its cursor, so only
    ``chunk`` rows are in memory at a time however many match.
    """
    columns = select(
        MentionRow.id,
        MentionRow.published_at,
        MentionRow.source,
        _brand_list(session),
        AuthorRow.handle,
        AuthorRow.followers,
        ClassificationRow.sentiment,
        ClassificationRow.urgency,
        ClassificationRow.categories,
        MentionRow.language,
        MentionRow.likes,
        MentionRow.shares,
        MentionRow.replies,
        MentionRow.url,
        MentionRow.title,
        MentionRow.text,
    ).select_from(MentionRow)
    stmt = _filtered(columns.outerjoin(AuthorRow, AuthorRow.id == MentionRow.author_id), conditions)
    stmt = stmt.order_by(MentionRow.published_at.desc(), MentionRow.id.desc())
    result = session.execute(stmt.execution_options(yield_per=chunk))
    for partition in result.partitions():
        for row in partition:
            yield tuple(row)


def _in_window(since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [MentionRow.published_at >= utc(since), MentionRow.published_at < utc(until)]


def texts_in(
    session: Session, *, since: datetime, until: datetime, brands: Sequence[str] | None = None, limit: int
) -> list[str]:
    """Title and text of up to ``limit`` mentions of ``brands`` in the window, newest first.

    The cap bounds what emerging terms read on a busy window: the newest ``limit`` mentions are
    a sample of it, not all of it.
    """
    stmt = (
        select(MentionRow.title, MentionRow.text)
        .where(*_in_window(since, until), *about(brands))
        .order_by(MentionRow.published_at.desc(), MentionRow.id.desc())
        .limit(limit)
    )
    return [f"{title}\n{text}" if title else text for title, text in session.execute(stmt)]

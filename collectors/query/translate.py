"""Translate brand queries into each API's own search syntax.

A translation may be broader than the query (an API without proximity search
gets ``a AND b`` for ``a NEAR/3 b``; one without language filters drops
``lang:``) but never narrower, because every fetched item is re-checked
locally. When the only honest translation would fetch everything, the query is
``Untranslatable`` for that API and the collector reports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product

from atproto_client.models.string_formats import DID_RE, is_valid_handle

from collectors.query.ast import (
    And,
    Anything,
    From,
    Handle,
    Lang,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Site,
    Tag,
    Term,
)
from collectors.query.languages import x_language

MAX_SEARCHES = 10


class Untranslatable(ValueError):
    """This query cannot be sent to this API without fetching (almost) everything."""


# ---------------------------------------------------------------- boolean dialects (X, Reddit)


@dataclass(frozen=True)
class _Expr:
    """A rendered sub-query; ``positive`` means it requires some searchable content."""

    text: str
    positive: bool
    group: bool = False  # rendered as a bare OR/AND list that needs parentheses when nested
    op: str = ""  # "or" or "and" for a group
    members: tuple[_Expr, ...] = ()


Render = Callable[[Node], _Expr | None]


def _x_atom(node: Node) -> _Expr | None:
    if isinstance(node, Term):
        return _Expr(_word(node.text), True)
    if isinstance(node, Phrase):
        return _Expr(f'"{node.text}"', True)
    if isinstance(node, Handle):
        return _Expr(f"@{node.name}", True)
    if isinstance(node, Tag):
        return _Expr(f"#{node.name}", True)
    if isinstance(node, From):
        return _Expr(f"from:{node.handle}", True)
    if isinstance(node, Lang):
        code = x_language(node.code)
        # An unknown code would be refused; no filter is broader, and results are re-checked locally.
        return _Expr(f"lang:{code}", False) if code else None
    if isinstance(node, Site):
        return _Expr(f'url:"{node.domain}{node.path}"', True)
    return None


def _reddit_atom(node: Node) -> _Expr | None:
    if isinstance(node, Term):
        return _Expr(_word(node.text), True)
    if isinstance(node, Phrase):
        return _Expr(f'"{node.text}"', True)
    if isinstance(node, Handle | Tag):
        # Reddit has no @mentions or hashtags; the bare word is found wherever '@name' or '#name' is.
        return _Expr(_word(node.name), True)
    if isinstance(node, From):
        return _Expr(f"author:{node.handle}", True)
    if isinstance(node, Site):
        return _Expr(f"site:{node.domain}", True)
    return None


def _word(text: str) -> str:
    if re.fullmatch(r"\w+", text) and text.upper() not in {"OR", "AND", "NOT"}:
        return text
    return f'"{text}"'


@dataclass(frozen=True)
class _Dialect:
    atom: Render
    and_sep: str
    negate: Callable[[_Expr], _Expr | None]  # None: no exact negation in this dialect


def _x_negate(expr: _Expr) -> _Expr | None:
    """X forbids negating a group: ``-(a OR b)`` becomes ``-a -b``; ``-(a b)`` has no exact form."""
    if not expr.group:
        return _Expr(f"-{expr.text}", False)
    if expr.op != "or":
        return None
    negated = [_x_negate(member) for member in expr.members]
    parts = [n for n in negated if n is not None]
    if len(parts) < len(negated):
        return None
    return _Expr(" ".join(_wrap(p) for p in parts), False, group=True, op="and", members=tuple(parts))


def _reddit_negate(expr: _Expr) -> _Expr:
    return _Expr(f"NOT ({expr.text})" if expr.group else f"NOT {expr.text}", False)


_X = _Dialect(_x_atom, " ", _x_negate)
_REDDIT = _Dialect(_reddit_atom, " AND ", _reddit_negate)


def _wrap(expr: _Expr) -> str:
    return f"({expr.text})" if expr.group else expr.text


def _broad(node: Node, d: _Dialect) -> _Expr | None:
    """A rendering matching at least what ``node`` matches; None means 'everything'."""
    if isinstance(node, Not):
        narrow = _narrow(node.child, d)
        # Without an exact negation, leaving the exclusion out is the broader rendering.
        return None if narrow is None else d.negate(narrow)
    if isinstance(node, And | Near):
        children = (node.left, node.right) if isinstance(node, Near) else node.children
        parts = [part for part in (_broad(child, d) for child in children) if part is not None]
        return _join(parts, d.and_sep, any(p.positive for p in parts))
    if isinstance(node, Or):
        maybe = [_broad(child, d) for child in node.children]
        parts = [part for part in maybe if part is not None]
        if len(parts) < len(maybe):
            return None
        return _join(parts, " OR ", all(p.positive for p in parts))
    return d.atom(node)


def _narrow(node: Node, d: _Dialect) -> _Expr | None:
    """A rendering matching at most what ``node`` matches; None means 'nothing'."""
    if isinstance(node, Not):
        broad = _broad(node.child, d)
        # Without an exact negation, 'nothing' is the only safely narrower rendering.
        return None if broad is None else d.negate(broad)
    if isinstance(node, And):
        maybe = [_narrow(child, d) for child in node.children]
        parts = [part for part in maybe if part is not None]
        if len(parts) < len(maybe):
            return None
        return _join(parts, d.and_sep, any(p.positive for p in parts))
    if isinstance(node, Or):
        parts = [part for part in (_narrow(child, d) for child in node.children) if part is not None]
        return _join(parts, " OR ", all(p.positive for p in parts))
    if isinstance(node, Near | Anything):
        return None  # no API here searches by proximity, and nothing narrower than '*' is useful
    return d.atom(node)


def _join(parts: list[_Expr], sep: str, positive: bool) -> _Expr | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    op = "or" if sep == " OR " else "and"
    # AND and OR are associative: a nested group of the same operator needs no parentheses.
    text = sep.join(p.text if p.group and p.op == op else _wrap(p) for p in parts)
    return _Expr(text, positive, group=True, op=op, members=tuple(parts))


def _boolean(node: Node, dialect: _Dialect, max_length: int) -> str:
    expr = _broad(node, dialect)
    if expr is None or not expr.positive:
        raise Untranslatable("the query has nothing this API can search for")
    if len(expr.text) > max_length:
        raise Untranslatable(f"the search is {len(expr.text)} characters; this API allows {max_length}")
    return expr.text


def to_x(node: Node, *, max_length: int = 512) -> str:
    """The X (Twitter) recent-search query for ``node``."""
    return _boolean(node, _X, max_length)


def to_reddit(node: Node, *, max_length: int = 512) -> str:
    """The Reddit search ``q`` parameter for ``node`` (Lucene syntax)."""
    return _boolean(node, _REDDIT, max_length)


# ---------------------------------------------------------------- conjunctive dialects (HN, Bluesky)

Literal = tuple[bool, Node]  # (negated, atom)


def to_dnf(node: Node, limit: int = MAX_SEARCHES) -> list[list[Literal]] | None:
    """``node`` as an OR of ANDs of (possibly negated) atoms, broadened to at most ``limit`` terms.

    None means 'everything'; an empty list means 'nothing'.
    """
    return _dnf(node, False, limit)


def _dnf(node: Node, negated: bool, limit: int) -> list[list[Literal]] | None:
    if isinstance(node, Not):
        return _dnf(node.child, not negated, limit)
    if isinstance(node, Near):
        if negated:
            return None  # 'not near' is broader than 'not both'; only 'everything' is safely broader
        node = And((node.left, node.right))
    if isinstance(node, Anything):
        return [] if negated else None
    conjunctive = isinstance(node, And) != negated  # De Morgan: NOT OR is an AND of NOTs
    if isinstance(node, And | Or):
        parts = [_dnf(child, negated, limit) for child in node.children]
        if conjunctive:
            known = [p for p in parts if p is not None]
            result: list[list[Literal]] | None = None
            for part in sorted(known, key=len):
                merged = [[]] if result is None else result
                if len(merged) * len(part) > limit:
                    continue  # leaving this factor out only broadens the search
                result = [a + b for a, b in product(merged, part)]
            return result
        if any(p is None for p in parts):
            return None
        flat = [conj for p in parts if p for conj in p]
        return flat if len(flat) <= limit else None
    return [[(negated, node)]]


@dataclass
class Conjunct:
    """One search an AND-only API can run: words to find, words to exclude, and filters."""

    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    lang: str | None = None
    domain: str | None = None

    def query(self) -> str:
        """The words as one query string: phrases quoted, exclusions prefixed with '-'."""
        parts = [_word(w) for w in self.include] + [f"-{_word(w)}" for w in self.exclude]
        return " ".join(parts)

    def key(self) -> str:
        """A stable name for this search, for cursors and problem reports."""
        extras = [f"from:{a}" for a in self.authors] + [f"@{m}" for m in self.mentions]
        extras += [f"#{t}" for t in self.tags]
        extras += [f"lang:{self.lang}"] if self.lang else []
        extras += [f"site:{self.domain}"] if self.domain else []
        return " ".join([self.query(), *extras]).strip()


def _conjuncts(node: Node, place: Callable[[Conjunct, bool, Node], None], limit: int) -> list[Conjunct]:
    dnf = to_dnf(node, limit)
    if dnf is None:
        raise Untranslatable("the query has nothing this API can search for")
    if len(dnf) > limit:  # pragma: no cover - to_dnf already bounds this
        raise Untranslatable(f"the query needs {len(dnf)} searches; the limit is {limit}")
    result: dict[str, Conjunct] = {}
    for literals in dnf:
        conj = Conjunct()
        for negated, atom in literals:
            place(conj, negated, atom)
        if not conj.include and not conj.tags and not conj.mentions:
            raise Untranslatable("part of the query has no word this API can search for")
        result.setdefault(conj.key(), conj)
    return list(result.values())


def _place_hn(conj: Conjunct, negated: bool, atom: Node) -> None:
    text = _text_of(atom)
    if text is not None:
        (conj.exclude if negated else conj.include).append(text)
    elif isinstance(atom, From) and not negated and not conj.authors:
        conj.authors.append(atom.handle)
    # lang:, site: and negated authors have no Algolia equivalent: leaving them out broadens.


def _place_bluesky(conj: Conjunct, negated: bool, atom: Node) -> None:
    if negated:
        if isinstance(atom, Term | Phrase):
            conj.exclude.append(_text_of(atom) or "")
        return
    if isinstance(atom, Term | Phrase):
        conj.include.append(atom.text)
    elif isinstance(atom, Tag):
        conj.tags.append(atom.name)
    elif isinstance(atom, Handle):
        if not is_at_identifier(atom.name):
            conj.include.append(atom.name)  # '@acmesupport' is no Bluesky handle: search the word
        elif not conj.mentions:
            conj.mentions.append(atom.name)
    elif isinstance(atom, From) and not conj.authors and is_at_identifier(atom.handle):
        conj.authors.append(atom.handle)  # an invalid one is left out: broader, re-checked locally
    elif isinstance(atom, Lang) and conj.lang is None:
        conj.lang = atom.code
    elif isinstance(atom, Site) and conj.domain is None:
        conj.domain = atom.domain


def is_at_identifier(value: str) -> bool:
    """Whether ``value`` is an atproto at-identifier: a handle with a domain, or a DID."""
    return is_valid_handle(value) or DID_RE.match(value) is not None


def _text_of(atom: Node) -> str | None:
    if isinstance(atom, Term | Phrase):
        return atom.text
    if isinstance(atom, Handle | Tag):
        return atom.name  # Algolia tokenises '@name' and '#name' to the bare word
    return None


def to_hackernews(node: Node, *, limit: int = MAX_SEARCHES) -> list[Conjunct]:
    """Hacker News Algolia searches (``query`` plus ``author_`` tags) covering ``node``."""
    return _conjuncts(node, _place_hn, limit)


def to_bluesky(node: Node, *, limit: int = MAX_SEARCHES) -> list[Conjunct]:
    """Bluesky ``searchPosts`` calls (``q`` plus author/mentions/tag/lang/domain) covering ``node``."""
    return _conjuncts(node, _place_bluesky, limit)

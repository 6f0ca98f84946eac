"""Tokeniser and recursive-descent parser for brand queries.

Grammar (``OR`` binds loosest; adjacency means ``AND``)::

    query   := or EOF
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*
    unary   := ("NOT" | "-") unary | near
    near    := primary ("NEAR/" n primary)?
    primary := "(" or ")" | word | "phrase" | @handle | #tag | lang:x | from:x | site:x | *

Operators are upper case only, so a lower-case ``or`` is an ordinary word.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum, auto

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

MAX_QUERY_LENGTH = 2000
MAX_DEPTH = 40
MAX_NEAR = 50

_HANDLE = re.compile(r"\w[\w.\-]*(?:@\w[\w.\-]*)?")
_TAG = re.compile(r"\w+")
_LANG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")
_DOMAIN = re.compile(r"(?:[\w\-]+\.)*[\w\-]+(?:\.[\w\-]+)?(?::\d+)?")
_FIELD = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
_NEAR = re.compile(r"NEAR(?:/(.*))?", re.DOTALL)
_SPECIAL = frozenset('()"')


class QuerySyntaxError(ValueError):
    """A brand query that cannot be parsed; ``position`` is the 0-based offset of the problem.

    ``str(error)`` is the message alone, so callers can add their own location
    (``brands[0].queries[1]: <message> at position N``).
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class Kind(Enum):
    """Token kinds."""

    LPAREN = auto()
    RPAREN = auto()
    OR = auto()
    AND = auto()
    NOT = auto()
    NEAR = auto()
    ATOM = auto()
    EOF = auto()


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token; ``node`` is set for atoms, ``distance`` for NEAR."""

    kind: Kind
    position: int
    text: str = ""
    node: Node | None = None
    distance: int = 0


def fold(text: str) -> str:
    """Normalise text for case-insensitive, compatibility-insensitive comparison."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; raise QuerySyntaxError on malformed pieces."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(Token(Kind.LPAREN, i, ch))
            i += 1
        elif ch == ")":
            tokens.append(Token(Kind.RPAREN, i, ch))
            i += 1
        elif ch == '"':
            i = _read_phrase(text, i, tokens)
        elif ch == "-":
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")":
                raise QuerySyntaxError("'-' must be followed directly by a term, phrase or group", i)
            tokens.append(Token(Kind.NOT, i, ch))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            tokens.append(_word_token(text[start:i], start))
    tokens.append(Token(Kind.EOF, n))
    return tokens


def _read_phrase(text: str, start: int, tokens: list[Token]) -> int:
    end = text.find('"', start + 1)
    if end < 0:
        raise QuerySyntaxError("unterminated quoted phrase", start)
    words = tuple(fold(text[start + 1 : end]).split())
    if not words:
        raise QuerySyntaxError("empty quoted phrase", start)
    node: Node = Term(words[0], start) if len(words) == 1 else Phrase(words, start)
    tokens.append(Token(Kind.ATOM, start, text[start : end + 1], node))
    return end + 1


def _word_token(word: str, pos: int) -> Token:
    if word in {"OR", "AND", "NOT"}:
        return Token(Kind[word], pos, word)
    near = _NEAR.fullmatch(word)
    if near:
        distance = near.group(1)
        if distance is None or not distance.isascii() or not distance.isdigit():
            raise QuerySyntaxError("NEAR needs a distance in words, such as NEAR/3", pos)
        if not 1 <= int(distance) <= MAX_NEAR:
            raise QuerySyntaxError(f"NEAR distance must be between 1 and {MAX_NEAR}", pos)
        return Token(Kind.NEAR, pos, word, distance=int(distance))
    return Token(Kind.ATOM, pos, word, _atom(word, pos))


def _atom(word: str, pos: int) -> Node:
    if word == "*":
        return Anything(pos)
    if word[0] == "@":
        name = fold(word[1:])
        if not _HANDLE.fullmatch(name):
            raise QuerySyntaxError(f"invalid handle {word!r}", pos)
        return Handle(name, pos)
    if word[0] == "#":
        name = fold(word[1:])
        if not _TAG.fullmatch(name):
            raise QuerySyntaxError(f"invalid hashtag {word!r}", pos)
        return Tag(name, pos)
    field = _FIELD.fullmatch(word)
    if field:
        return _filter(field.group(1).lower(), field.group(2), pos)
    return Term(fold(word), pos)


def _filter(name: str, value: str, pos: int) -> Node:
    if name not in {"lang", "from", "site"}:
        raise QuerySyntaxError(
            f"unknown filter '{name}:' (known: lang:, from:, site:); quote the text to search for it", pos
        )
    if not value:
        raise QuerySyntaxError(f"'{name}:' needs a value", pos)
    value = fold(value)
    if name == "lang":
        code = value.replace("_", "-")
        if not _LANG.fullmatch(code):
            raise QuerySyntaxError(f"invalid language code {value!r} (use e.g. lang:en or lang:pt-br)", pos)
        return Lang(code, pos)
    if name == "from":
        handle = value.removeprefix("@")
        if not _HANDLE.fullmatch(handle):
            raise QuerySyntaxError(f"invalid handle in from:{value}", pos)
        return From(handle, pos)
    bare = re.sub(r"^[a-z][a-z0-9+.\-]*://", "", value)
    host, _, path = bare.partition("/")
    host = host.removeprefix("www.")
    if not _DOMAIN.fullmatch(host):
        raise QuerySyntaxError(f"invalid domain in site:{value}", pos)
    return Site(host, "/" + path.rstrip("/") if path else "", pos)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def at(self, kind: Kind) -> bool:
        # A call, not an attribute, so the type checker does not pin the kind after one test.
        return self.tokens[self.i].kind is kind

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.or_()
        token = self.peek
        if token.kind is Kind.RPAREN:
            raise QuerySyntaxError("unmatched ')'", token.position)
        if token.kind is not Kind.EOF:  # pragma: no cover - every other token starts an operand
            raise QuerySyntaxError(f"unexpected {token.text!r}", token.position)
        return node

    def or_(self) -> Node:
        first = self.peek.position
        children = [self.and_()]
        while self.peek.kind is Kind.OR:
            self.take()
            children.append(self.and_())
        return children[0] if len(children) == 1 else Or(tuple(children), first)

    def and_(self) -> Node:
        first = self.peek.position
        children = [self.unary()]
        while True:
            kind = self.peek.kind
            if kind is Kind.AND:
                self.take()
            elif kind not in {Kind.ATOM, Kind.NOT, Kind.LPAREN}:
                break
            children.append(self.unary())
        return children[0] if len(children) == 1 else And(tuple(children), first)

    def unary(self) -> Node:
        token = self.peek
        if token.kind is Kind.NOT:
            self.take()
            with _Depth(self, token.position):
                return Not(self.unary(), token.position)
        return self.near()

    def near(self) -> Node:
        left = self.primary()
        if self.peek.kind is not Kind.NEAR:
            return left
        op = self.take()
        sides = f"{op.text} needs a word, phrase, @handle or #tag on each side"
        if not self.at(Kind.ATOM):
            raise QuerySyntaxError(sides, op.position)
        right = self.primary()
        text_atoms = Term | Phrase | Handle | Tag
        if not (isinstance(left, text_atoms) and isinstance(right, text_atoms)):
            raise QuerySyntaxError(sides, op.position)
        if self.at(Kind.NEAR):
            raise QuerySyntaxError("NEAR cannot be chained; combine pairs with AND", self.peek.position)
        return Near(left, right, op.distance, op.position)

    def primary(self) -> Node:
        token = self.take()
        if token.kind is Kind.ATOM:
            assert token.node is not None
            return token.node
        if token.kind is Kind.LPAREN:
            if self.peek.kind is Kind.RPAREN:
                raise QuerySyntaxError("empty parentheses", token.position)
            with _Depth(self, token.position):
                inner = self.or_()
            if not self.at(Kind.RPAREN):
                raise QuerySyntaxError("missing ')' for this '('", token.position)
            self.take()
            return inner
        if token.kind is Kind.EOF:
            raise QuerySyntaxError("expected a term", token.position)
        if token.kind is Kind.RPAREN:
            raise QuerySyntaxError("unexpected ')'", token.position)
        if token.kind is Kind.NEAR:
            raise QuerySyntaxError(f"{token.text} needs a word or phrase before it", token.position)
        raise QuerySyntaxError(f"'{token.text}' needs a term before and after it", token.position)


class _Depth:
    """Bounds nesting so hostile input fails with a syntax error, not a RecursionError."""

    def __init__(self, parser: _Parser, position: int) -> None:
        self.parser = parser
        self.position = position

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise QuerySyntaxError(f"query nests deeper than {MAX_DEPTH} levels", self.position)

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def requires_content(node: Node) -> bool:
    """Whether every way of matching ``node`` needs some word, handle, tag, author or ``*``."""
    if isinstance(node, Term | Phrase | Handle | Tag | From | Anything | Near):
        return True
    if isinstance(node, And):
        return any(requires_content(child) for child in node.children)
    if isinstance(node, Or):
        return all(requires_content(child) for child in node.children)
    return False  # Not, Lang, Site: filters that alone would match almost everything


def _first_unbounded(node: Node) -> int:
    if isinstance(node, Or):
        for child in node.children:
            if not requires_content(child):
                return _first_unbounded(child)
    return node.position


def parse_query(text: str) -> Node:
    """Parse a brand query into its AST; raise QuerySyntaxError with a position on bad input."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    if not text.strip():
        raise QuerySyntaxError("empty query", 0)
    node = _Parser(tokenize(text)).parse()
    if not requires_content(node):
        raise QuerySyntaxError(
            "this part would match posts without any word; add a word, phrase, @handle, #tag or from:",
            _first_unbounded(node),
        )
    return node


def validate_query(text: str) -> None:
    """Raise QuerySyntaxError if ``text`` is not a valid brand query (for ``earshot config check``)."""
    parse_query(text)


__all__ = ["QuerySyntaxError", "fold", "parse_query", "tokenize", "validate_query"]

"""Evaluate a parsed brand query against one mention, locally.

Matching is case-insensitive (Unicode case folding after NFKC), on word
boundaries. Every atom knows one word it cannot match without, so a mention's
set of words rules most atoms out before any regular expression runs; that is
what keeps many brands times many mentions cheap.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

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
    TextAtom,
)
from collectors.query.parser import fold

_WORD = re.compile(r"\w+")
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_NEAR_SPAN_LIMIT = 64  # enough for real posts; bounds the pair loop on adversarial text


@dataclass
class Document:
    """One mention as a query sees it: folded text plus the metadata filters look at."""

    raw_text: str
    language: str | None = None
    author: str | None = None
    url: str | None = None
    links: Sequence[str] = field(default_factory=tuple)

    @cached_property
    def text(self) -> str:
        """The text, NFKC-normalised and case-folded."""
        return fold(self.raw_text)

    @cached_property
    def words(self) -> frozenset[str]:
        """Every maximal run of word characters in the text."""
        return frozenset(_WORD.findall(self.text))

    @cached_property
    def word_starts(self) -> list[int]:
        """Offsets where words begin, for counting words between two spans."""
        return [m.start() for m in _WORD.finditer(self.text)]

    @cached_property
    def hosts(self) -> list[tuple[str, str]]:
        """(host, path) of the mention's own URL, its links and any URL in its text."""
        candidates = [self.url, *self.links, *_URL.findall(self.raw_text)]
        found: list[tuple[str, str]] = []
        for candidate in candidates:
            if not candidate:
                continue
            try:
                parts = urlsplit(candidate)
                host = (parts.hostname or "").removeprefix("www.")
            except ValueError:
                continue
            if host:
                found.append((host, parts.path.casefold()))
        return found


Predicate = Callable[[Document], bool]


def _key_word(text: str) -> str | None:
    """A word every match of ``text`` must contain as a whole word of the document, if any."""
    match = _WORD.search(text)
    return match.group() if match else None


@dataclass(frozen=True)
class _Atom:
    pattern: re.Pattern[str]
    key: str | None

    def spans(self, doc: Document) -> list[tuple[int, int]]:
        if self.key is not None and self.key not in doc.words:
            return []
        spans = []
        for match in self.pattern.finditer(doc.text):
            spans.append(match.span())
            if len(spans) >= _NEAR_SPAN_LIMIT:
                break
        return spans

    def __call__(self, doc: Document) -> bool:
        if self.key is not None and self.key not in doc.words:
            return False
        return self.pattern.search(doc.text) is not None


def _atom_regex(node: TextAtom) -> str:
    if isinstance(node, Term):
        return rf"(?<!\w){re.escape(node.text)}(?!\w)"
    if isinstance(node, Phrase):
        return r"(?<!\w)" + r"\W+".join(re.escape(word) for word in node.words) + r"(?!\w)"
    if isinstance(node, Handle):
        # A handle ends at the first character that cannot continue it; a trailing dot ends a sentence.
        return rf"(?<![\w@])@{re.escape(node.name)}(?![\w\-]|\.\w)"
    return rf"(?<![\w#])#{re.escape(node.name)}(?!\w)"


class Compiler:
    """Turns ASTs into predicates, sharing compiled atoms between queries."""

    def __init__(self, *, prefilter: bool = True) -> None:
        self._atoms: dict[str, _Atom] = {}
        self._prefilter = prefilter  # off only to measure what the word-set shortcut saves

    def atom(self, node: TextAtom) -> _Atom:
        """The compiled matcher for one text atom, reused across every query that has it."""
        source = _atom_regex(node)
        compiled = self._atoms.get(source)
        if compiled is None:
            text = node.text if isinstance(node, Term | Phrase) else node.name
            compiled = _Atom(re.compile(source), _key_word(text) if self._prefilter else None)
            self._atoms[source] = compiled
        return compiled

    def compile(self, node: Node) -> Predicate:
        """A function telling whether a document matches ``node``."""
        if isinstance(node, Term | Phrase | Handle | Tag):
            return self.atom(node)
        if isinstance(node, And):
            parts = [self.compile(child) for child in node.children]
            return lambda doc: all(part(doc) for part in parts)
        if isinstance(node, Or):
            parts = [self.compile(child) for child in node.children]
            return lambda doc: any(part(doc) for part in parts)
        if isinstance(node, Not):
            inner = self.compile(node.child)
            return lambda doc: not inner(doc)
        if isinstance(node, Near):
            return _near(self.atom(node.left), self.atom(node.right), node.distance)
        if isinstance(node, Lang):
            return _lang(node.code)
        if isinstance(node, From):
            return _from(node.handle)
        if isinstance(node, Site):
            return _site(node.domain, node.path)
        assert isinstance(node, Anything)
        return lambda doc: True


def _near(left: _Atom, right: _Atom, distance: int) -> Predicate:
    def check(doc: Document) -> bool:
        lefts = left.spans(doc)
        rights = right.spans(doc) if lefts else []
        starts = doc.word_starts
        for a_start, a_end in lefts:
            for b_start, b_end in rights:
                first_end, second_start = (a_end, b_start) if a_start <= b_start else (b_end, a_start)
                between = bisect_left(starts, second_start) - bisect_left(starts, first_end)
                if between <= distance:
                    return True
        return False

    return check


def _lang(code: str) -> Predicate:
    def check(doc: Document) -> bool:
        if not doc.language:
            return False  # an unknown language is not the language asked for
        language = doc.language.casefold().replace("_", "-")
        return language == code or language.startswith(code + "-")

    return check


def _from(handle: str) -> Predicate:
    def check(doc: Document) -> bool:
        if not doc.author:
            return False
        author = fold(doc.author).removeprefix("@")
        # 'from:alice' also matches a fediverse 'alice@example.social'; a full handle must match exactly.
        return author == handle or ("@" not in handle and author.split("@", 1)[0] == handle)

    return check


def _site(domain: str, path: str) -> Predicate:
    def check(doc: Document) -> bool:
        for host, url_path in doc.hosts:
            on_host = host == domain or host.endswith("." + domain)
            if on_host and (not path or url_path == path or url_path.startswith(path + "/")):
                return True
        return False

    return check

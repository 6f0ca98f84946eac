"""The brand query AST: immutable nodes produced by the parser."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Term:
    """A single word (or word-like token such as ``AT&T``), matched on word boundaries."""

    text: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear in this order, separated only by spaces or punctuation."""

    words: tuple[str, ...]
    position: int = field(default=0, compare=False)

    @property
    def text(self) -> str:
        """The phrase as one space-separated string."""
        return " ".join(self.words)


@dataclass(frozen=True, slots=True)
class Handle:
    """``@name``: the text mentions this account."""

    name: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Tag:
    """``#name``: the text carries this hashtag."""

    name: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Lang:
    """``lang:xx``: the source says the mention is in this language."""

    code: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class From:
    """``from:name``: the mention's author has this handle."""

    handle: str
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Site:
    """``site:example.com[/path]``: the mention's URL is on this host (or a subdomain)."""

    domain: str
    path: str = ""
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Anything:
    """``*``: every mention; for feeds that are entirely about a brand."""

    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    """The child must not match."""

    child: Node
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """Every child must match."""

    children: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must match."""

    children: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Near:
    """Two text atoms at most ``distance`` words apart, in either order."""

    left: TextAtom
    right: TextAtom
    distance: int
    position: int = field(default=0, compare=False)


TextAtom = Term | Phrase | Handle | Tag
Filter = Lang | From | Site
Node = Term | Phrase | Handle | Tag | Lang | From | Site | Anything | Not | And | Or | Near

"""The brand query language: one parser, a local matcher, and per-API translations.

Syntax: words, ``"quoted phrases"``, ``OR``, ``AND`` (or just a space), ``NOT``
or a leading ``-``, parentheses, ``@handle``, ``#tag``, ``lang:xx``,
``from:handle``, ``site:example.com``, ``a NEAR/3 b``, and ``*`` alone for
feeds that are entirely about a brand. Operators are upper case.
"""

from collectors.query.ast import Node
from collectors.query.matcher import Compiler, Document
from collectors.query.parser import QuerySyntaxError, parse_query, validate_query
from collectors.query.translate import (
    Conjunct,
    Untranslatable,
    to_bluesky,
    to_hackernews,
    to_reddit,
    to_x,
)

__all__ = [
    "Compiler",
    "Conjunct",
    "Document",
    "Node",
    "QuerySyntaxError",
    "Untranslatable",
    "parse_query",
    "to_bluesky",
    "to_hackernews",
    "to_reddit",
    "to_x",
    "validate_query",
]

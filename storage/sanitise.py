"""Strip NUL and other control characters from strings before they are stored.

PostgreSQL refuses NUL in text and JSONB (a DataError that used to fail a whole source run), and
control characters in ids, handles and URLs only ever cause trouble downstream (terminals, CSV,
channels). Text keeps tabs and line breaks; single-line values (ids, handles, URLs) lose them too.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable
from typing import Any

from domain import Author, Mention, MentionKey

_LINE_BREAKS = "\t\n\r"
# Every C0 and C1 control character (Unicode category Cc), NUL included.
_CONTROLS = [chr(c) for c in range(0x100) if unicodedata.category(chr(c)) == "Cc"]
_TEXT_TABLE = str.maketrans(dict.fromkeys(c for c in _CONTROLS if c not in _LINE_BREAKS))
_LINE_TABLE = str.maketrans(dict.fromkeys(_CONTROLS))


def clean_text(value: str) -> str:
    """``value`` without NUL or control characters, keeping tabs and line breaks."""
    return value.translate(_TEXT_TABLE)


def clean_line(value: str) -> str:
    """``value`` without any control character (for ids, handles, URLs and names)."""
    return value.translate(_LINE_TABLE)


def clean_optional(value: str | None) -> str | None:
    """``clean_line`` that passes None through."""
    return None if value is None else clean_line(value)


def clean_json(value: Any) -> Any:
    """A JSON-like value with every string in it (keys included) passed through ``clean_text``."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def clean_key(key: MentionKey) -> MentionKey:
    """The key under which a mention with ``key`` is stored."""
    return MentionKey(clean_line(key.source), clean_line(key.external_id))


def clean_keys(keys: Iterable[MentionKey]) -> dict[MentionKey, list[MentionKey]]:
    """Stored key -> the given keys that map onto it."""
    mapping: dict[MentionKey, list[MentionKey]] = {}
    for key in keys:
        mapping.setdefault(clean_key(key), []).append(key)
    return mapping


def clean_mention(mention: Mention) -> Mention:
    """A copy of ``mention`` that is safe to store: every string field cleaned."""
    author = mention.author
    return dataclasses.replace(
        mention,
        source=clean_line(mention.source),
        external_id=clean_line(mention.external_id),
        text=clean_text(mention.text),
        title=None if mention.title is None else clean_text(mention.title),
        url=clean_optional(mention.url),
        language=clean_optional(mention.language),
        source_kind=clean_line(mention.source_kind),
        brands=tuple(clean_line(b) for b in mention.brands),
        queries=tuple(clean_line(q) for q in mention.queries),
        raw=clean_json(mention.raw),
        author=Author(
            handle=clean_line(author.handle),
            display_name=clean_line(author.display_name),
            followers=author.followers,
            url=clean_optional(author.url),
        ),
    )

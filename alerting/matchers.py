"""Matchers: one condition on one field, in a compact syntax shared by routes and silences.

``followers: ">= 10000"``, ``text: "=~ (?i)refund"``, ``language: "!= en"``, ``brand: [Lumora, Vantix]``.
Operators: ``=`` and ``!=`` (a comma-separated or YAML list means any of), ``=~`` and ``!~`` (a
regular expression *searched* in the value; anchor it with ``^...$`` for a whole match), and
``>=``, ``<=``, ``>``, ``<`` on numbers and on urgency. A value without an operator means ``=``,
except for ``urgency`` (this level or above) and the number fields (at least this much), which is
how the list-style route fields always behaved.

Fields are evaluated against *labels*: a dict built once per mention or alert, so routing 50 routes
reads each value once.

Regular expressions come from users (config, silences typed into the API), so they run on RE2, whose
matching time is linear in the text: ``(a+)+$`` cannot freeze the process. A pattern RE2 cannot
express (backreferences, lookarounds) is refused when it is parsed, and a matcher sees at most
``MAX_MATCH_CHARS`` characters of each value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import re2

from domain import Classification, Mention, Sentiment, Urgency

# Longest first, so "=~" is not read as "=" followed by "~".
OPERATORS = ("=~", "!~", "!=", ">=", "<=", "=", ">", "<")
_ORDERING = {">=", "<=", ">", "<"}
MULTI = frozenset({"brand", "source", "categories", "query"})
NUMBERS = frozenset({"followers", "engagement"})
TEXTS = frozenset({"sentiment", "language", "text", "author", "team", "route", "kind", "brand_role"})
# Fields whose value may be long or personal: reasons name the pattern, never the text.
_QUIET = frozenset({"text", "query"})
MENTION_FIELDS = (
    "brand",
    "brand_role",
    "source",
    "sentiment",
    "urgency",
    "categories",
    "language",
    "followers",
    "engagement",
    "author",
    "query",
    "text",
)
ALERT_FIELDS = (*MENTION_FIELDS, "team", "route", "kind")
_LEVELS = ", ".join(u.value for u in Urgency)
# A pattern longer than this is a paste accident or an attack, never a rule someone maintains.
MAX_PATTERN_CHARS = 1000
# Characters of each value a regular expression sees; RE2 is linear, this bounds the constant.
MAX_MATCH_CHARS = 20_000
# RE2 refuses to build a program above this; 8 MiB holds any sane pattern of MAX_PATTERN_CHARS.
_RE2_MAX_MEM = 8 << 20


class Pattern(Protocol):
    """The part of a compiled RE2 pattern the matchers use (google-re2 ships no type stubs)."""

    @property
    def pattern(self) -> str:
        """The source text of the expression."""

    def search(self, text: str) -> object | None:
        """A match object when the expression occurs in ``text``, else None."""


class MatcherError(ValueError):
    """A matcher that cannot be parsed; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One parsed condition: ``field op operand``."""

    field: str
    op: str
    values: tuple[str, ...] = ()
    number: float | None = None
    pattern: Pattern | None = None
    # Spelled the list/bare way (``categories: [a, b]``, ``min_followers: 5``): keep the old reasons.
    legacy: bool = False

    def evaluate(self, labels: Mapping[str, Any]) -> str | None:
        """The reason this matcher holds for ``labels``, or None when it does not."""
        value = labels.get(self.field)
        if self.op in ("=", "!="):
            hits = _equal_hits(self.field, value, self.values)
            if self.op == "=":
                return f"{self.field} {', '.join(hits)}" if hits else None
            return None if hits else f"{self.field} {_shown(value)} != {', '.join(self.values)}"
        if self.op in ("=~", "!~"):
            assert self.pattern is not None
            found = _search_hits(value, self.pattern)
            if (self.op == "=~") != bool(found):
                return None
            shown = "" if self.field in _QUIET or not found else f" {', '.join(found)}"
            return f"{self.field}{shown} {self.op} {self.pattern.pattern}"
        return self._compare(value)

    def _compare(self, value: Any) -> str | None:
        if self.field == "urgency":
            if not isinstance(value, Urgency):
                return None
            target = Urgency(self.values[0])
            held = _ordered(self.op, value.rank, target.rank)
            return f"urgency {value} {self.op} {target}" if held else None
        if self.number is None:
            return None
        # A missing count (source did not say) is compared as 0, as min_followers always did.
        amount = 0 if value is None else value
        if not _ordered(self.op, amount, self.number):
            return None
        return f"{self.field} {amount} {self.op} {_number(self.number)}"

    def spec(self) -> str:
        """The compact spelling, for listings and snapshots."""
        if self.op in ("=", "!="):
            return f"{self.op} {', '.join(self.values)}"
        if self.pattern is not None:
            return f"{self.op} {self.pattern.pattern}"
        return f"{self.op} {self.values[0] if self.field == 'urgency' else _number(self.number or 0)}"


def _ordered(op: str, left: Any, right: Any) -> bool:
    if op == ">=":
        return bool(left >= right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left < right)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)


def _as_strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, tuple):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),)


def _equal_hits(field: str, value: Any, wanted: tuple[str, ...]) -> list[str]:
    # Case-insensitive: "lumora" in a silence typed at 3 a.m. should still mean Lumora.
    folded = {w.casefold() for w in wanted}
    if field in NUMBERS and value is not None:
        return [_number(value)] if any(_is_number(w) and float(w) == value for w in wanted) else []
    return [v for v in _as_strings(value) if v.casefold() in folded]


def _search_hits(value: Any, pattern: Pattern) -> list[str]:
    # Capped: a 5 MB post must not cost 5 MB of matching per route and silence.
    return [v for v in _as_strings(value) if pattern.search(v[:MAX_MATCH_CHARS]) is not None]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_matcher(field: str, raw: Any, *, legacy_name: str | None = None) -> Matcher:
    """Parse one field's value (compact string, list, number or level) into a Matcher."""
    if isinstance(raw, bool):
        raise MatcherError(f"expected a value or 'op value', got {raw!r}")
    if isinstance(raw, list | tuple):
        values = tuple(str(v).strip() for v in raw)
        if not values or not all(values):
            raise MatcherError("a list needs at least one non-empty value")
        _check_values(field, values)
        return Matcher(field, "=", values, legacy=True)
    if isinstance(raw, int | float):
        if field in NUMBERS:
            return Matcher(field, ">=", number=float(raw), legacy=True)
        raw = str(raw)
    if not isinstance(raw, str):
        raise MatcherError(f"expected a string, a number or a list, got {type(raw).__name__}")
    text = raw.strip()
    op = next((o for o in OPERATORS if text.startswith(o)), None)
    if op is None:
        # Bare value: at-or-above for urgency and counts (the old meaning), equality otherwise.
        op = ">=" if field == "urgency" or field in NUMBERS else "="
        operand, legacy = text, True
    else:
        operand, legacy = text[len(op) :].strip(), False
    if not operand:
        raise MatcherError(f"{op!r} needs a value after it")
    return _build(field, op, operand, legacy)


def _build(field: str, op: str, operand: str, legacy: bool) -> Matcher:
    if op in ("=~", "!~"):
        if field in NUMBERS or field == "urgency":
            raise MatcherError(f"{field} is compared with =, !=, >=, <=, > or <, not a regular expression")
        return Matcher(field, op, pattern=compile_pattern(operand))
    if op in _ORDERING:
        if field == "urgency":
            _check_values(field, (operand,))
            return Matcher(field, op, (operand.lower(),), legacy=legacy)
        if field not in NUMBERS:
            raise MatcherError(f"{op!r} compares numbers; {field} is text (use =, !=, =~ or !~)")
        if not _is_number(operand):
            raise MatcherError(f"{operand!r} is not a number")
        return Matcher(field, op, number=float(operand), legacy=legacy)
    values = tuple(v.strip() for v in operand.split(",") if v.strip())
    if field in NUMBERS and not all(_is_number(v) for v in values):
        raise MatcherError(f"{operand!r} is not a number")
    _check_values(field, values)
    return Matcher(field, op, values, legacy=legacy)


def compile_pattern(source: str) -> Pattern:
    """Compile a user's regular expression with RE2; MatcherError says why one is refused."""
    if len(source) > MAX_PATTERN_CHARS:
        limit = MAX_PATTERN_CHARS
        raise MatcherError(f"regular expression is {len(source)} characters; the limit is {limit}")
    options = re2.Options()
    options.log_errors = False  # the error is ours to report, not RE2's to print on stderr
    options.max_mem = _RE2_MAX_MEM
    try:
        compiled: Pattern = re2.compile(source, options)
    except re2.error as exc:
        reason = _clip(_re2_reason(exc))
        raise MatcherError(
            f"invalid regular expression '{_clip(source)}': {reason} (patterns use RE2 syntax, which runs "
            "in linear time: no backreferences like \\1 and no lookarounds like (?=...) or (?<!...))"
        ) from None
    return compiled


def _re2_reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _check_values(field: str, values: Sequence[str]) -> None:
    if field == "urgency":
        for value in values:
            if value.lower() not in {u.value for u in Urgency}:
                raise MatcherError(f"{value!r} is not one of {_LEVELS}")
    if field == "sentiment":
        allowed = {s.value for s in Sentiment}
        for value in values:
            if value.lower() not in allowed:
                raise MatcherError(f"{value!r} is not one of {', '.join(s.value for s in Sentiment)}")


def parse_matchers(spec: Mapping[str, Any], *, fields: Sequence[str] = ALERT_FIELDS) -> list[Matcher]:
    """Parse a ``{field: value}`` mapping (a silence's matchers), refusing unknown fields."""
    out = []
    for field, raw in spec.items():
        if field not in fields:
            raise MatcherError(f"unknown field {field!r}; fields: {', '.join(fields)}")
        try:
            out.append(parse_matcher(field, raw))
        except MatcherError as exc:
            raise MatcherError(f"{field}: {exc}") from None
    return out


def parse_cli_matcher(text: str) -> tuple[str, str]:
    """Split ``followers>=10000`` or ``text=~(?i)refund`` into (field, compact value)."""
    match = re.match(r"\s*([a-z_]+)\s*(=~|!~|!=|>=|<=|=|>|<)(.*)$", text, re.DOTALL)
    if match is None:
        raise MatcherError(f"{text!r} is not 'field<op>value' (e.g. brand=Lumora, text=~refund)")
    field, op, value = match.groups()
    return field, f"{op} {value.strip()}"


def evaluate_all(matchers: Sequence[Matcher], labels: Mapping[str, Any]) -> list[str] | None:
    """Reasons when every matcher holds (AND), else None."""
    reasons = []
    for matcher in matchers:
        reason = matcher.evaluate(labels)
        if reason is None:
            return None
        reasons.append(reason)
    return reasons


def mention_labels(mention: Mention, classification: Classification) -> dict[str, Any]:
    """The labels routes and silences see for a classified mention."""
    return {
        "brand": mention.brands,
        "brand_role": "competitor" if mention.competitor_only else "own",
        # A route may name the configured source (reddit-main) or its kind (reddit).
        "source": (mention.source, mention.source_kind) if mention.source_kind else (mention.source,),
        "sentiment": str(classification.sentiment),
        "urgency": classification.urgency,
        "categories": classification.categories,
        "language": classification.language or mention.language,
        "followers": mention.author.followers or 0,
        "engagement": mention.engagement.total,
        "author": mention.author.handle,
        "query": mention.queries,
        "text": mention.full_text,
    }

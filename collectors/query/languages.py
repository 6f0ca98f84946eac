"""Language codes as each search API spells them."""

from __future__ import annotations

# The codes X's lang: operator accepts (its "supported languages" list); region only for Chinese.
_X_LANGUAGE_LIST = (
    "am ar bg bn bo ca ckb cs cy da de dv el en es et eu fa fi fr gu hi ht hu hy in is it iw ja ka km "
    "kn ko lo lt lv ml mr my ne nl no or pa pl ps pt ro ru sd si sk sl sr sv ta te th tl tr ug uk ur "
    "vi zh zh-CN zh-TW"
)
X_LANGUAGES = frozenset(_X_LANGUAGE_LIST.split())
# X still uses the legacy ISO 639 codes for Hebrew and Indonesian, and one code for Norwegian.
_X_ALIASES = {"he": "iw", "id": "in", "nb": "no", "nn": "no", "fil": "tl"}
_X_CHINESE = {"cn": "zh-CN", "sg": "zh-CN", "hans": "zh-CN", "tw": "zh-TW", "hk": "zh-TW", "hant": "zh-TW"}


def x_language(code: str) -> str | None:
    """X's code for a BCP 47 tag (``he`` -> ``iw``, ``zh-Hant`` -> ``zh-TW``); None if X has none."""
    base, _, region = code.lower().partition("-")
    if base == "zh" and region:
        return _X_CHINESE.get(region.split("-")[0], "zh")
    base = _X_ALIASES.get(base, base)
    return base if base in X_LANGUAGES else None


_FROM_X = {"iw": "he", "in": "id"}


def from_x_language(code: str | None) -> str | None:
    """The BCP 47 code for a ``lang`` X reports (``iw`` -> ``he``), so local matching sees one code."""
    if not code:
        return code
    base, sep, rest = code.partition("-")
    return _FROM_X.get(base.lower(), base) + sep + rest

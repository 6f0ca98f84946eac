"""Earshot's own labels (docs/annotation.md): the row schema, text resolution, splits, the annotation pool.

Rows for posts from ../shared/datasets store a reference (dataset, row id), never the text; written
rows carry their text. ``python -m classifiers.training.labelled validate FILE...`` checks files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from classifiers.training.data import DEFAULT_DATASETS, airline_rows, is_airline_heldout
from domain import CATEGORIES

ANNOTATIONS_DIR = Path(__file__).resolve().parents[1] / "annotations"

INDUSTRIES: tuple[str, ...] = (
    "banking",
    "airline",
    "rail",
    "telecom",
    "utility",
    "restaurant_food",
    "grocery",
    "pharmacy_health",
    "hotel",
    "retail_ecommerce",
    "software_saas",
    "automotive",
    "consumer_electronics",
    "parcel_delivery",
    "media_entertainment",
    "other_business",
    "general",
)
# Held-out industries: no row of these is trained on, nor used for thresholds.
TEST_INDUSTRIES: frozenset[str] = frozenset({"telecom", "rail", "utility", "pharmacy_health", "hotel"})
# Threshold selection and early stopping only.
VAL_INDUSTRIES: frozenset[str] = frozenset({"banking", "grocery", "automotive"})
LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de", "pt", "it")
LABEL_CATEGORIES: tuple[str, ...] = CATEGORIES
URGENCY_LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")
TEAMS: tuple[str, ...] = ("support", "ops", "legal", "pr", "none")
FLAGS: tuple[str, ...] = ("sarcasm", "figurative", "news", "impersonation", "phishing")

DATASET_LICENCES: dict[str, str] = {
    "airline": "Twitter US Airline Sentiment (Kaggle); CC BY-NC-SA 4.0 per its HF card, unverified",
    "semeval": "SemEval 2013-16 Task 4A tweets; no data licence stated; Twitter terms apply",
    "tse": "Kaggle Tweet Sentiment Extraction train.csv; Kaggle competition rules",
    "goemotions": "GoEmotions train.tsv (Reddit); Apache-2.0 repository licence",
    "written": "CC0-1.0, written for Earshot",
}

Split = Literal["train", "val", "test"]


class LabelRow(BaseModel):
    """One annotated post, as docs/annotation.md defines it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["airline", "semeval", "tse", "goemotions", "written"]
    row: str = Field(min_length=1, max_length=64)
    # Filled from DATASET_LICENCES when an annotator leaves it out; `normalise` writes it back.
    licence: str = ""
    industry: Literal[INDUSTRIES]  # type: ignore[valid-type]
    language: Literal[LANGUAGES]  # type: ignore[valid-type]
    sentiment: Literal["negative", "neutral", "positive"]
    needs_response: bool
    urgency: Literal[URGENCY_LEVELS]  # type: ignore[valid-type]
    categories: tuple[Literal[LABEL_CATEGORIES], ...] = ()  # type: ignore[valid-type]
    team: Literal[TEAMS]  # type: ignore[valid-type]
    flags: tuple[Literal[FLAGS], ...] = ()  # type: ignore[valid-type]
    written: bool = False
    text: str | None = None
    annotator: str = "a1"

    @model_validator(mode="before")
    @classmethod
    def _default_licence(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("licence"):
            data = {**data, "licence": DATASET_LICENCES.get(str(data.get("dataset")), "")}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> LabelRow:
        if self.written != (self.dataset == "written"):
            raise ValueError("written rows use dataset 'written', and only they do")
        if self.written and not (self.text and self.text.strip()):
            raise ValueError("a written row needs its text")
        if not self.written and self.text is not None:
            raise ValueError("rows from shared datasets store a reference, not the text")
        if self.needs_response != (self.urgency != "low"):
            raise ValueError("needs_response true <=> urgency medium or above")
        if self.needs_response == (self.team == "none"):
            raise ValueError("team is 'none' exactly when needs_response is false")
        if self.industry == "general" and self.needs_response:
            raise ValueError("a post about no company needs no response")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """(dataset, row): unique across all files."""
        return (self.dataset, self.row)


def split_of(row: LabelRow) -> Split:
    """Industry split: held-out industries are test, a few are validation; general is hashed 70/15/15."""
    if row.industry in TEST_INDUSTRIES:
        return "test"
    if row.industry in VAL_INDUSTRIES:
        return "val"
    if row.industry == "general":
        h = int.from_bytes(hashlib.sha256(f"{row.dataset}:{row.row}".encode()).digest()[:4], "big") / 2**32
        return "test" if h < 0.15 else "val" if h < 0.30 else "train"
    return "train"


def read_rows(paths: Iterable[Path]) -> list[LabelRow]:
    """Every row in the given JSON-lines files; raises ValueError naming the file and line on a bad row."""
    rows: list[LabelRow] = []
    seen: dict[tuple[str, str], str] = {}
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = LabelRow.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"{path.name}:{n}: {loc}: {first['msg']}") from None
            if row.key in seen:
                raise ValueError(f"{path.name}:{n}: {row.key} already labelled in {seen[row.key]}")
            seen[row.key] = f"{path.name}:{n}"
            rows.append(row)
    return rows


def load_annotations(directory: Path = ANNOTATIONS_DIR, *, primary_only: bool = True) -> list[LabelRow]:
    """The committed label set (second-annotator files, ``double-*.jsonl``, left out unless asked)."""
    files = sorted(
        p for p in directory.glob("*.jsonl") if not (primary_only and p.name.startswith("double-"))
    )
    return read_rows(files)


def cohen_kappa(a: Sequence[object], b: Sequence[object]) -> float:
    """Cohen's kappa of two annotators' labels for the same items."""
    n = len(a)
    if n == 0:
        return 0.0
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    labels = set(a) | set(b)
    expected = sum((list(a).count(v) / n) * (list(b).count(v) / n) for v in labels)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(directory: Path = ANNOTATIONS_DIR) -> dict[str, float | int]:
    """Kappa between each row's primary label and its second annotation (``double-*.jsonl``)."""
    primary = {r.key: r for r in load_annotations(directory)}
    second = read_rows(sorted(directory.glob("double-*.jsonl")))
    pairs = [(primary[r.key], r) for r in second if r.key in primary]
    out: dict[str, float | int] = {"items": len(pairs)}
    fields: dict[str, Callable[[LabelRow], object]] = {
        "needs_response": lambda r: r.needs_response,
        "urgency": lambda r: r.urgency,
        "sentiment": lambda r: r.sentiment,
        "team": lambda r: r.team,
        "industry": lambda r: r.industry,
    }
    for name, get in fields.items():
        out[name] = round(cohen_kappa([get(p) for p, _ in pairs], [get(s) for _, s in pairs]), 3)
    for cat in LABEL_CATEGORIES:
        a = [cat in p.categories for p, _ in pairs]
        b = [cat in s.categories for _, s in pairs]
        if any(a) or any(b):
            out[f"category:{cat}"] = round(cohen_kappa(a, b), 3)
    return out


def counts(rows: Sequence[LabelRow]) -> dict[str, dict[str, int]]:
    """Rows per industry, language, category, split and origin (real or written)."""
    out: dict[str, dict[str, int]] = {k: {} for k in ("industry", "language", "category", "split", "origin")}

    def add(kind: str, key: str) -> None:
        out[kind][key] = out[kind].get(key, 0) + 1

    for r in rows:
        add("industry", r.industry)
        add("language", r.language)
        add("split", split_of(r))
        add("origin", "written" if r.written else "real")
        for c in r.categories:
            add("category", c)
        add("category", "needs_response" if r.needs_response else "no_response")
    return {k: dict(sorted(v.items(), key=lambda kv: -kv[1])) for k, v in out.items()}


# --- texts of referenced rows -------------------------------------------------------------------


def _semeval(root: Path) -> Iterator[tuple[str, str]]:
    with (root / "semeval2017_task4a" / "derived" / "train.tsv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            yield r["id"], r["text"].strip('"')


def _tse(root: Path) -> Iterator[tuple[str, str]]:
    with (root / "tweet_sentiment_extraction" / "train.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            text = (r.get("text") or "").replace("`", "'").strip()
            if text:
                yield r["textID"], text


def _goemotions(root: Path) -> Iterator[tuple[str, str]]:
    for line in (root / "goemotions" / "train.tsv").read_text(encoding="utf-8").split("\n"):
        parts = line.split("\t")
        if len(parts) >= 3:
            yield parts[2], parts[0]


def source_texts(root: Path = DEFAULT_DATASETS) -> dict[str, dict[str, str]]:
    """Training-split texts by dataset and row id (airline held-out rows and evaluation sets excluded)."""
    return {
        # The same de-duplication and held-out hash as the airline evaluation sets use.
        "airline": {
            r["tweet_id"]: r["text"] for r in airline_rows(root) if not is_airline_heldout(r["tweet_id"])
        },
        "semeval": dict(_semeval(root)),
        "tse": dict(_tse(root)),
        "goemotions": dict(_goemotions(root)),
    }


def texts_for(rows: list[LabelRow], root: Path = DEFAULT_DATASETS) -> list[str]:
    """The text of every row: stored for written rows, looked up in ../shared/datasets otherwise."""
    sources = source_texts(root) if any(not r.written for r in rows) else {}
    out: list[str] = []
    for r in rows:
        if r.written:
            out.append(r.text or "")
        else:
            text = sources[r.dataset].get(r.row)
            if text is None:
                raise KeyError(f"{r.dataset} row {r.row} is not in the training split of {root}")
            out.append(text)
    return out


# --- the annotation pool ------------------------------------------------------------------------

# Words that make a post more likely to concern a company or a risk: the pool over-samples them so the
# rare classes get enough rows, and keeps a random share so the common case is represented too.
_ENRICH = re.compile(
    r"\b(refund|charge[ds]?|bill|account|hack\w*|scam|phish\w*|fraud|leak\w*|breach|password|lawsuit|"
    r"lawyer|sue|court|police|fire|burn\w*|sick|poison\w*|recall|injur\w*|crash\w*|explod\w*|down|outage|"
    r"not working|cancel\w*|delay\w*|strike|customer service|support|delivery|order|package|parcel|"
    r"app|update|wifi|internet|phone|bank|train|flight|hotel|pharmacy|store|restaurant|verizon|at&t|"
    r"sprint|comcast|apple|samsung|microsoft|google|amazon|uber|starbucks|mcdonald'?s|walmart|tesla|"
    r"netflix|xbox|playstation|iphone|android|fedex|ups|usps)\b",
    re.IGNORECASE,
)
_POOL_SIZES: dict[str, int] = {"airline": 1300, "semeval": 1300, "tse": 900, "goemotions": 900}


def build_pool(root: Path = DEFAULT_DATASETS, seed: int = 8) -> list[dict[str, str]]:
    """A seeded sample of training-split posts to annotate: 60% keyword-enriched, 40% random."""
    rng = random.Random(seed)
    pool: list[dict[str, str]] = []
    for dataset, texts in source_texts(root).items():
        items = sorted((i, t) for i, t in texts.items() if 15 <= len(t.strip()) <= 600)
        rng.shuffle(items)
        want = _POOL_SIZES[dataset]
        enriched = [x for x in items if _ENRICH.search(x[1])][: int(want * 0.6)]
        chosen = {i for i, _ in enriched}
        rest = [x for x in items if x[0] not in chosen][: want - len(enriched)]
        pool.extend({"dataset": dataset, "row": i, "text": t} for i, t in enriched + rest)
    rng.shuffle(pool)
    return pool


def _main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "validate":
        try:
            rows = read_rows(Path(p) for p in argv[1:])
            missing = [r for r in rows if not r.written]
            texts = source_texts() if missing else {}
            for r in missing:
                if r.row not in texts[r.dataset]:
                    raise ValueError(f"{r.dataset} row {r.row}: not in the training split")
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"ok: {len(rows)} rows")
        return 0
    if argv == ["agreement"]:
        print(json.dumps(agreement(), indent=2))
        return 0
    if argv == ["counts"]:
        print(json.dumps(counts(load_annotations()), indent=2))
        return 0
    if len(argv) >= 2 and argv[0] == "normalise":
        for name in argv[1:]:
            path = Path(name)
            rows = read_rows([path])
            lines = [r.model_dump_json(exclude_none=True) for r in rows]
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            print(f"{path}: {len(rows)} rows")
        return 0
    if len(argv) == 3 and argv[0] == "pool":
        pool = build_pool()
        out = Path(argv[1])
        out.mkdir(parents=True, exist_ok=True)
        parts = int(argv[2])
        for k in range(parts):
            with (out / f"pool-{k + 1}.jsonl").open("w", encoding="utf-8") as fh:
                for item in pool[k::parts]:
                    fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        print(f"{len(pool)} posts in {parts} files under {out}")
        return 0
    print(
        "usage: python -m classifiers.training.labelled"
        " validate|normalise FILE... | pool DIR PARTS | agreement | counts",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

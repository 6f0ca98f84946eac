"""Multi-label categories by cosine similarity to prototype sentences, embedded by the same encoder pass."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.runtime import FloatArray

PROTOTYPES_FILE = "prototypes.json"
# Cosine similarity (to the closest example) at which a category applies, unless configured otherwise.
# Set by eye on sentences written for this purpose (no evaluation set): the fine-tuned encoder puts
# any two complaints near 0.5, so topical matches need more than that.
DEFAULT_THRESHOLD = 0.6
BUILTIN_THRESHOLDS: dict[str, float] = {
    "outage": 0.6,
    "security": 0.6,
    "safety": 0.55,
    "legal": 0.6,
    "billing": 0.58,
    "delivery": 0.6,
    "customer_service": 0.62,
    "product_feedback": 0.55,
    "question": 0.6,
    "praise": 0.6,
    "spam": 0.55,
}
# A second category must also come within this of the best one: complaints share a sentiment
# direction, so without it every angry post would collect customer_service and outage too.
RELATIVE_MARGIN = 0.1
# Similarity a category needs when its keywords also appear in the text.
KEYWORD_FLOOR = 0.3

# Example mentions written for Earshot; a team adds its own per category in config, no retraining.
BUILTIN_EXAMPLES: dict[str, tuple[str, ...]] = {
    "outage": (
        "the app is down again, nothing loads",
        "is your website down? I keep getting a 503 error",
        "service outage in my area since this morning",
        "can't log in, the servers seem to be offline",
        "the whole platform has been down for hours",
        "no internet all day, when will the outage be fixed",
        "payments are failing for everyone right now, is the system down",
        "your service stopped working for everyone",
    ),
    "security": (
        "my account was hacked and someone changed my password",
        "you leaked my personal data in a breach",
        "got a phishing email pretending to be from your company",
        "someone made purchases with my stolen card details on your site",
        "there is a security vulnerability in your login page",
        "a data breach exposed customer emails and passwords",
        "unauthorized login to my account from another country",
        "customer data leak: my details were posted online",
    ),
    "safety": (
        "the charger caught fire and nearly burned my house down",
        "your product exploded and injured my son",
        "found glass in the food, someone could get seriously hurt",
        "the brakes failed on the highway, this is dangerous",
        "my child got sick after eating this, possible food poisoning",
        "the battery is overheating and smoking",
        "this toy is a choking hazard, please recall it",
        "the driver was drunk and almost crashed",
    ),
    "legal": (
        "I am contacting my lawyer about this",
        "see you in court, I'm filing a lawsuit",
        "this is a violation of consumer protection law",
        "I will report you to the regulator and the attorney general",
        "class action lawsuit incoming",
        "you are breaching GDPR by keeping my data",
        "this is fraud and I'm reporting it to the police",
        "false advertising, this is illegal",
    ),
    "billing": (
        "I was charged twice for the same order",
        "why is my bill so high this month",
        "still waiting for my refund after three weeks",
        "you keep charging my card after I cancelled my subscription",
        "unexpected fee on my invoice",
        "the price at checkout was different from the advertised price",
        "please reverse this incorrect charge",
        "my payment went through but the account says unpaid",
    ),
    "delivery": (
        "my package still hasn't arrived",
        "the parcel was delivered to the wrong address",
        "tracking says delivered but there is nothing here",
        "my order is two weeks late",
        "the courier never showed up",
        "the box arrived damaged and items were missing",
        "when will my order ship?",
        "lost luggage, my bag never arrived",
    ),
    "customer_service": (
        "I've been on hold for two hours",
        "your support team never answers my emails",
        "the agent was rude and hung up on me",
        "nobody from customer service has replied in days",
        "terrible customer service, no help at all",
        "I keep getting transferred and nobody can help",
        "the staff were so helpful and friendly",
        "please respond to my DM, I need help",
    ),
    "product_feedback": (
        "the new update made the app much slower",
        "please bring back the old design",
        "it would be great if you added a dark mode",
        "the battery life on this phone is disappointing",
        "the new version keeps crashing when I open it",
        "feature request: let me export my data",
        "the quality of this product has gone downhill",
        "the seats are uncomfortable and the screen is too small",
    ),
    "question": (
        "how do I change my password?",
        "does anyone know if they ship internationally?",
        "what time does the store open on Sunday?",
        "can I return an item without the receipt?",
        "is there a student discount?",
        "how can I contact support?",
        "which plan includes unlimited data?",
        "do you have this in a larger size?",
    ),
    "praise": (
        "thank you so much, amazing service!",
        "love this product, best purchase ever",
        "huge thanks to the team for sorting this out so quickly",
        "great experience, highly recommend",
        "you guys are awesome",
        "the crew was fantastic, thanks for a great flight",
        "five stars, will definitely buy again",
        "impressed by how fast support fixed my issue",
    ),
    "spam": (
        "click here to win a free iPhone",
        "earn $5000 a week from home, DM me",
        "follow for follow, check my profile",
        "cheap followers and likes, visit my link",
        "crypto giveaway, send 1 BTC and get 2 back",
        "make money fast with this one trick",
        "buy now limited offer best price click link in bio",
        "hot singles in your area",
    ),
}


@dataclass(frozen=True, slots=True)
class CategoryIndex:
    """Prototype vectors per category and the threshold each must reach."""

    names: tuple[str, ...]
    vectors: FloatArray  # (n_examples, dim), L2-normalised
    owner: np.ndarray  # (n_examples,) category index of each row
    thresholds: tuple[float, ...]

    def scores(self, embeddings: FloatArray) -> FloatArray:
        """Per text and category, the cosine similarity to that category's closest example."""
        sims = embeddings @ self.vectors.T
        out = np.full((embeddings.shape[0], len(self.names)), -1.0, np.float32)
        for c in range(len(self.names)):
            cols = self.owner == c
            if cols.any():
                out[:, c] = sims[:, cols].max(axis=1)
        return out

    def assign(self, scores: FloatArray, keywords: Sequence[set[str]] | None = None) -> list[tuple[str, ...]]:
        """Categories whose score reaches their threshold and is near the best one, best first.

        A category whose keywords appear in the text (``keywords``, one set per row) needs only
        ``KEYWORD_FLOOR``: the words say what the post is about, the embedding confirms the
        sense (the fine-tuned encoder scores even true topical matches around 0.35-0.5).
        """
        limits = np.asarray(self.thresholds, np.float32)
        result: list[tuple[str, ...]] = []
        for i, row in enumerate(scores):
            floor = float(row.max()) - RELATIVE_MARGIN if row.size else 0.0
            named = keywords[i] if keywords is not None else set()
            hits = [
                c
                for c in np.argsort(-row)
                if (row[c] >= limits[c] and row[c] >= floor)
                or (self.names[c] in named and row[c] >= KEYWORD_FLOOR)
            ]
            result.append(tuple(self.names[c] for c in hits))
        return result


Embedder = Callable[[list[str]], FloatArray]


def write_prototypes(model_dir: Path, embed: Embedder) -> None:
    """Embed the built-in examples with the exported model and store them next to it."""
    payload = {
        name: {"sentences": list(sents), "vectors": np.round(embed(list(sents)), 5).tolist()}
        for name, sents in BUILTIN_EXAMPLES.items()
    }
    (model_dir / PROTOTYPES_FILE).write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")


def _stored(model_dir: Path) -> dict[str, tuple[list[str], FloatArray]]:
    path = model_dir / PROTOTYPES_FILE
    if not path.exists():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: (list(v["sentences"]), np.asarray(v["vectors"], np.float32)) for k, v in raw.items()}


def build_index(
    model_dir: Path,
    embed: Embedder,
    extra: Mapping[str, Sequence[str]] | None = None,
    thresholds: Mapping[str, float] | None = None,
    *,
    only_extra: bool = False,
) -> CategoryIndex:
    """Stored built-in prototypes plus config examples (embedded now); stale stored ones are recomputed.

    ``only_extra`` leaves the built-in categories out: a model with learned category heads uses
    prototypes only for the categories a team adds in config.
    """
    stored = _stored(model_dir)
    builtin = {} if only_extra else BUILTIN_EXAMPLES
    examples: dict[str, list[str]] = {k: list(v) for k, v in builtin.items()}
    for name, sents in (extra or {}).items():
        examples.setdefault(name, []).extend(s for s in sents if s.strip())
    names = tuple(examples)
    blocks: list[FloatArray] = []
    owner: list[int] = []
    for c, name in enumerate(names):
        sents = examples[name]
        if not sents:
            continue
        have = stored.get(name)
        if have is not None and have[0] == sents[: len(have[0])]:
            # Reuse vectors computed at build time; only sentences added in config need the encoder.
            new = sents[len(have[0]) :]
            vecs = np.vstack([have[1], embed(new)]) if new else have[1]
        else:
            vecs = embed(sents)
        blocks.append(np.asarray(vecs, np.float32))
        owner.extend([c] * len(vecs))
    chosen = {**BUILTIN_THRESHOLDS, **(thresholds or {})}
    limits = tuple(float(chosen.get(n, DEFAULT_THRESHOLD)) for n in names)
    dim = blocks[0].shape[1] if blocks else 0
    matrix = np.vstack(blocks) if blocks else np.zeros((0, dim), np.float32)
    return CategoryIndex(names, matrix, np.asarray(owner, np.int64), limits)

"""The learned heads: a regression slice with score floors, figurative language, languages, identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.base import ClassifierInput
from classifiers.config import ClassifierOptions
from classifiers.heads import LearnedHeads
from classifiers.label_eval import evaluate_labels
from classifiers.runtime import MODEL_DIR
from classifiers.training.data import DEFAULT_DATASETS
from classifiers.training.labelled import agreement, counts, load_annotations
from classifiers.transformer import TransformerClassifier
from domain import Urgency

pytestmark = pytest.mark.skipif(not DEFAULT_DATASETS.exists(), reason="needs ../shared/datasets")


@pytest.fixture(scope="module")
def classifier() -> TransformerClassifier:
    return TransformerClassifier(ClassifierOptions(kind="transformer"))


@pytest.fixture(scope="module")
def held_out(classifier: TransformerClassifier) -> dict[str, dict[str, object]]:
    return {r["set"]: r for r in evaluate_labels(classifier, datasets=DEFAULT_DATASETS)}


# Floors a little under what the committed heads score (see MODEL_CARD.md): a retrain that loses
# more than that fails here.
FLOORS = {"earshot_test_all": (0.90, 0.72, 0.72), "earshot_test_en": (0.85, 0.58, 0.70)}
LANGUAGE_RECALL_FLOOR = 0.85


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_regression_slice_keeps_its_floors(held_out: dict[str, dict[str, object]], name: str) -> None:
    recall, precision, sentiment_f1 = FLOORS[name]
    row = held_out[name]
    nr = row["needs_response"]
    assert isinstance(nr, dict)
    assert nr["recall"] >= recall, row
    assert nr["precision"] >= precision, row
    assert float(row["sentiment_macro_f1"]) >= sentiment_f1  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["es", "fr", "de", "pt", "it"])
def test_each_language_finds_what_needs_a_response(
    held_out: dict[str, dict[str, object]], language: str
) -> None:
    row = held_out[f"earshot_test_{language}"]
    nr = row["needs_response"]
    assert isinstance(nr, dict) and nr["support"] >= 20
    assert nr["recall"] >= LANGUAGE_RECALL_FLOOR, row


KNOWN_MISS = pytest.mark.xfail(strict=True, reason="known miss of the linear heads; see MODEL_CARD.md")

CASES = [
    # (text, needs a response)
    pytest.param("love paying for wifi that never works. thanks @SkyLink", True, marks=KNOWN_MISS),
    pytest.param("oh great, my third cancelled train this week, love it @RailCo", True, marks=KNOWN_MISS),
    pytest.param(
        "wow thanks @FibraNet for charging me twice this month, amazing service", True, marks=KNOWN_MISS
    ),
    ("the new @Blendo update is fire, been using it nonstop", False),
    ("I'm dead 😂 this @Crumbs ad is hilarious", False),
    ("the new menu at @PastaPoint is killer, go try it", False),
    ("this team has been on fire for 45 minutes straight, what a stream @Vexa", False),
    ("firmware 3.2 fixed it, credit where due @Nimbus", False),
    pytest.param(
        "@BancoSol me han cobrado dos veces la cuota, necesito que me devuelvan el dinero ya",
        True,
        marks=KNOWN_MISS,
    ),
    ("Qué buena la nueva app de @BancoSol, por fin algo que funciona bien", False),
    ("@TelcoPlus toujours pas de réseau depuis ce matin dans tout le quartier, c'est une panne ?", True),
    ("Super séjour à l'hôtel @Maravel, personnel adorable, je recommande", False),
    ("@StromAG seit drei Stunden Stromausfall in ganz Köln, wann geht es wieder?", True),
    ("Tolles Essen bei @Burgerhaus, schneller Service, gerne wieder", False),
    pytest.param(
        "@FarmaVida me deram o remédio errado na farmácia, minha mãe passou mal", True, marks=KNOWN_MISS
    ),
    ("Adorei o atendimento da @FarmaVida hoje, muito atenciosos", False),
    ("@TrenItalia treno cancellato di nuovo senza avviso, come rimborsate il biglietto?", True),
    ("Ottima cena da @PizzaRe ieri sera, tutto buonissimo", False),
]


@pytest.mark.parametrize(("text", "needs_response"), CASES)
def test_sarcasm_figures_of_speech_and_languages(
    classifier: TransformerClassifier, text: str, needs_response: bool
) -> None:
    (result,) = classifier.predict_batch([ClassifierInput(text=text)])
    assert result.urgency.at_least(Urgency.MEDIUM) is needs_response, result
    assert not result.reduced_confidence


def test_unsupported_languages_stay_flagged(classifier: TransformerClassifier) -> None:
    (result,) = classifier.predict_batch([ClassifierInput(text="今日は雨ですね、電車が遅れています")])
    assert result.reduced_confidence


def test_version_and_checksum_identify_the_heads(classifier: TransformerClassifier) -> None:
    heads = LearnedHeads.load(MODEL_DIR)
    assert heads is not None
    (result,) = classifier.predict_batch([ClassifierInput(text="@acme my parcel never arrived")])
    assert result.model_version.endswith(f"+heads.{heads.version}.{heads.sha256[:8]}")
    assert result.model_sha256 == classifier.sha256 and len(classifier.sha256) == 64


def test_heads_without_a_directory_fall_back(tmp_path: Path) -> None:
    assert LearnedHeads.load(tmp_path) is None


def test_label_set_meets_the_issue_minimums() -> None:
    rows = load_annotations()
    c = counts(rows)
    assert c["origin"]["real"] >= 4000
    assert c["origin"]["written"] * 3 <= c["origin"]["real"]  # written is at most a quarter
    assert all(c["language"][lang] >= 150 for lang in ("es", "fr", "de", "pt", "it"))
    assert (
        sum(1 for k in c["industry"] if k not in ("general", "other_business", "media_entertainment")) >= 12
    )
    assert agreement()["items"] >= 200

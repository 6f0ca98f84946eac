"""``earshot classify`` (JSON lines out) and ``earshot eval`` (held-out metrics, int8 vs fp32)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from classifiers.config import ClassifierOptions

CHUNK = 256  # Lines classified per call: big enough to batch well, small enough to stream.


def _lines(stream: BinaryIO) -> Iterator[str]:
    for raw in stream:
        # Undecodable bytes become U+FFFD: the line is still classified rather than lost.
        yield raw.rstrip(b"\r\n").decode("utf-8", "replace")


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _record(text: str, c: object) -> dict[str, object]:
    from domain import Classification

    assert isinstance(c, Classification)
    return {
        "text": text,
        "sentiment": c.sentiment.value,
        "sentiment_scores": c.sentiment_scores,
        "urgency": c.urgency.value,
        "urgency_score": c.urgency_score,
        "categories": list(c.categories),
        "language": c.language,
        "model": c.model_version,
    }


def _classify_chunk(classifier: object, texts: list[str], followers: int | None) -> list[dict[str, object]]:
    from classifiers.base import Classifier, ClassifierInput

    assert isinstance(classifier, Classifier)
    inputs = [ClassifierInput(text=t, author_followers=followers) for t in texts]
    try:
        return [_record(t, c) for t, c in zip(texts, classifier.predict_batch(inputs), strict=True)]
    except Exception:
        pass
    out: list[dict[str, object]] = []
    for text, item in zip(texts, inputs, strict=True):
        try:
            out.append(_record(text, classifier.predict_batch([item])[0]))
        except Exception as exc:
            out.append({"text": text, "error": f"{type(exc).__name__}: {exc}"})
    return out


def register(app: typer.Typer, options: ClassifierOptions | None = None) -> None:
    """Add the ``classify`` and ``eval`` commands to ``app``."""

    @app.command("classify")
    def classify(
        file: Annotated[Path | None, typer.Option("--file", "-f", help="read texts from this file")] = None,
        author_followers: Annotated[
            int | None, typer.Option("--author-followers", min=0, help="author reach, feeds urgency")
        ] = None,
        model_dir: Annotated[Path | None, typer.Option("--model-dir", help="model folder")] = None,
        threads: Annotated[int | None, typer.Option("--threads", min=1)] = None,
    ) -> None:
        """Classify texts (one per line, stdin or --file); print one JSON object per line."""
        from classifiers.registry import build_classifier

        opts = options or ClassifierOptions(kind="transformer")
        updates: dict[str, object] = {}
        if model_dir is not None:
            updates["model_dir"] = model_dir
        if threads is not None:
            updates["threads"] = threads
        opts = opts.model_copy(update=updates)
        try:
            classifier = build_classifier(opts)
            classifier.version  # noqa: B018 - reads the model's metadata now, so a bad --model-dir fails here.
        except Exception as exc:
            typer.echo(f"error: cannot build classifier {opts.kind!r}: {exc}", err=True)
            raise typer.Exit(2) from exc
        # Errors are rendered as U+FFFD-safe JSON; ensure_ascii=False keeps non-English text readable.
        with _open(file) as stream:
            for chunk in _chunks(_lines(stream), CHUNK):
                for rec in _classify_chunk(classifier, chunk, author_followers):
                    sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
                sys.stdout.flush()

    @app.command("eval")
    def evaluate(
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="subsample each set")] = None,
        model_dir: Annotated[Path | None, typer.Option("--model-dir")] = None,
        datasets: Annotated[Path | None, typer.Option("--datasets", help="../shared/datasets")] = None,
        threads: Annotated[int, typer.Option("--threads", min=1)] = 2,
        as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
        card: Annotated[
            bool, typer.Option("--card", help="also write MODEL_CARD.md in the model directory from this run")
        ] = False,
    ) -> None:
        """Held-out scores: public benchmarks (int8 vs fp32) and Earshot's labels per set and language."""
        from classifiers.evaluation import Predictor, eval_sets, format_rows
        from classifiers.evaluation import evaluate as run_eval
        from classifiers.runtime import MODEL_DIR, get_runtime
        from classifiers.training.data import DEFAULT_DATASETS

        base = model_dir or (options.model_dir if options else None) or MODEL_DIR
        predictors: dict[str, Predictor] = {}
        int8 = get_runtime(base, threads)
        predictors["int8"] = lambda texts: int8.run(texts).probs
        fp32_dir = base / "build"
        if (fp32_dir / "model.fp32.onnx").exists():
            fp32 = get_runtime(fp32_dir, threads, "model.fp32.onnx")
            predictors["fp32"] = lambda texts: fp32.run(texts).probs
        else:
            typer.echo(f"note: {fp32_dir}/model.fp32.onnx missing (run `make model`); int8 only", err=True)
        rows = run_eval(eval_sets(datasets or DEFAULT_DATASETS, limit), predictors)
        from classifiers.label_eval import evaluate_labels, format_label_rows
        from classifiers.transformer import TransformerClassifier

        full = TransformerClassifier(ClassifierOptions(kind="transformer", model_dir=base, threads=threads))
        labelled = evaluate_labels(full, datasets=datasets or DEFAULT_DATASETS, limit=limit)
        report: dict[str, object] = {
            "model": full.version,
            "sha256": full.sha256,
            "benchmarks": rows,
            "labels": labelled,
        }
        if card:
            from classifiers.training.card import write_eval_card

            write_eval_card(base, report)
        if as_json:
            typer.echo(json.dumps(report, indent=2))
        else:
            typer.echo(f"model {full.version} sha256 {full.sha256}\n")
            typer.echo(format_rows(rows) + "\n\n" + format_label_rows(labelled))


def _open(file: Path | None) -> AbstractContextManager[BinaryIO]:
    if file is not None:
        return file.open("rb")
    # Read bytes (CliRunner and real terminals both expose them) to survive bad UTF-8; never close stdin.
    return nullcontext(sys.stdin.buffer)

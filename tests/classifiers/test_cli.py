"""`earshot classify` through typer's CliRunner on a fresh app."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from earshot.commands import classify

KEYS = {
    "text",
    "sentiment",
    "sentiment_scores",
    "urgency",
    "urgency_score",
    "categories",
    "language",
    "model",
}


def _app() -> typer.Typer:
    app = typer.Typer()
    classify.register(app)
    return app


def _records(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_stdin_lines_become_json_objects_with_exact_keys() -> None:
    lines = b"I love it, thanks!\n\nthe app is down again\n\xff\xfe broken utf8 \xc3\n\xf0\x9f\x98\xa1\n"
    result = CliRunner().invoke(_app(), ["classify"], input=lines)
    assert result.exit_code == 0, result.output
    records = _records(result.stdout)
    assert len(records) == 5
    for rec in records:
        assert set(rec) == KEYS
        scores = rec["sentiment_scores"]
        assert isinstance(scores, dict) and set(scores) == {"negative", "neutral", "positive"}
        assert isinstance(rec["categories"], list)
    assert records[0]["sentiment"] == "positive"
    assert records[0]["text"] == "I love it, thanks!"
    assert "\ufffd" in str(records[3]["text"])


def test_file_option_and_followers_feed_urgency(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("I was charged twice and support ignores me\n", encoding="utf-8")
    low = _records(CliRunner().invoke(_app(), ["classify", "--file", str(path)]).stdout)[0]
    high = _records(
        CliRunner().invoke(_app(), ["classify", "--file", str(path), "--author-followers", "2000000"]).stdout
    )[0]
    assert isinstance(high["urgency_score"], float) and isinstance(low["urgency_score"], float)
    assert high["urgency_score"] > low["urgency_score"]


def test_a_failing_line_gets_an_error_object() -> None:
    records = classify._classify_chunk(_Good(), ["fine", "boom", "also fine"], None)
    assert [("error" in r) for r in records] == [False, True, False]
    assert records[1]["text"] == "boom" and "cannot classify" in str(records[1]["error"])


class _Good:
    """A stand-in classifier that fails on one text, to exercise the per-line fallback."""

    version = "stub-1"

    def predict_batch(self, items):
        from domain import Classification, Sentiment, Urgency

        if any("boom" in i.text for i in items):
            raise RuntimeError("cannot classify")
        return [
            Classification(
                Sentiment.NEUTRAL,
                {"negative": 0.0, "neutral": 1.0, "positive": 0.0},
                Urgency.LOW,
                0.0,
                (),
                "en",
                self.version,
            )
            for _ in items
        ]


def test_bad_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["classify", "--model-dir", str(tmp_path)], input=b"hello\n")
    assert result.exit_code != 0
    assert "error" in result.output.lower() or "error" in (result.stderr or "").lower()


def test_eval_command_reports_every_held_out_set() -> None:
    result = CliRunner().invoke(_app(), ["eval", "--limit", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = report["benchmarks"]
    names = {row["dataset"] for row in rows}
    assert {"tweeteval_sentiment_test", "complaints_acl2019", "airline_heldout_sentiment"} <= names
    for row in rows:
        assert row["n"] == 4
        assert set(row["int8"]) == {"accuracy", "macro_f1", "macro_recall"}
    # Earshot's own held-out labels: the whole set first, then per language, then real vs written.
    labels = {row["set"]: row for row in report["labels"]}
    assert labels["earshot_test_all"]["n"] == 40
    assert sum(labels[f"earshot_test_{k}"]["n"] for k in ("real", "written")) == 40
    assert len(report["sha256"]) == 64 and "+heads." in report["model"]
    for row in report["labels"]:
        assert set(row["needs_response"]) == {"precision", "recall", "f1", "support"}
        assert len(row["urgency_confusion"]["matrix"]) == 4
        assert {"safety", "security", "legal", "outage"} <= set(row["categories"])

"""Shared fixtures: the committed int8 model, loaded once for the whole module set."""

from __future__ import annotations

import pytest

from classifiers.config import ClassifierOptions
from classifiers.runtime import MODEL_DIR
from classifiers.transformer import TransformerClassifier


@pytest.fixture(scope="session")
def classifier() -> TransformerClassifier:
    assert (MODEL_DIR / "model.int8.onnx").exists(), "the committed int8 model is missing (make model)"
    return TransformerClassifier(ClassifierOptions(kind="transformer", threads=2))

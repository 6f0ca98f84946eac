"""The classifier registry: kind name -> factory building a Classifier from options."""

from __future__ import annotations

from collections.abc import Callable

from classifiers.base import Classifier
from classifiers.config import ClassifierOptions
from domain.plugins import Registry

ClassifierFactory = Callable[[ClassifierOptions], Classifier]

# Built-ins use the same 'module:factory' specs a plugin's entry point would.
BUILTIN_CLASSIFIERS = {
    "baseline": "classifiers.baseline:build_baseline",
    "transformer": "classifiers.transformer:build_transformer",
}

classifiers: Registry[ClassifierFactory] = Registry("classifier", "earshot.classifiers", BUILTIN_CLASSIFIERS)


def build_classifier(options: ClassifierOptions) -> Classifier:
    """Build the classifier registered as ``options.kind``."""
    return classifiers.get(options.kind)(options)

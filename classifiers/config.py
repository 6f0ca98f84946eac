"""Classifier settings, as they appear under ``classifier:`` in earshot.yaml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class UrgencyThresholds(BaseModel):
    """Urgency score (0..1) at which each level starts; low is everything below medium."""

    model_config = ConfigDict(extra="forbid")

    medium: float = Field(0.35, ge=0.0, le=1.0)
    high: float = Field(0.6, ge=0.0, le=1.0)
    critical: float = Field(0.8, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> UrgencyThresholds:
        if not self.medium <= self.high <= self.critical:
            raise ValueError("thresholds must satisfy medium <= high <= critical")
        return self


class ClassifierOptions(BaseModel):
    """Which classifier runs, and how."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "baseline"
    threads: int = Field(2, ge=1, le=64)
    batch_size: int = Field(32, ge=1, le=1024)
    model_dir: Path | None = None
    urgency: UrgencyThresholds = Field(default_factory=UrgencyThresholds)
    # Example sentences per category: a new category. With learned heads (the shipped model) the
    # built-in categories come from the heads and examples for them are not used.
    categories: dict[str, list[str]] = Field(default_factory=dict)
    # Cosine-similarity threshold per example-based category; others use the default.
    category_thresholds: dict[str, float] = Field(default_factory=dict)

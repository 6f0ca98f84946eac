"""Meta-tests: every plugin kind and every CLI command is documented; built-ins load through the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from alerting.channels.base import Channel
from alerting.channels.registry import channels
from classifiers.registry import classifiers
from collectors.base import Collector
from collectors.registry import collectors
from earshot.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", collectors.kinds())
def test_every_collector_loads_and_is_documented(kind: str) -> None:
    cls = collectors.get(kind)
    assert issubclass(cls, Collector) and cls.kind == kind
    assert re.search(rf"\b{kind}\b", README), f"README.md does not mention source kind {kind!r}"
    assert re.search(rf"\b{kind}\b", EXAMPLE), f"earshot.example.yaml does not mention source kind {kind!r}"


@pytest.mark.parametrize("kind", channels.kinds())
def test_every_channel_loads_and_is_documented(kind: str) -> None:
    cls = channels.get(kind)
    assert issubclass(cls, Channel) and cls.kind == kind
    assert cls.max_message_chars > 0
    assert f"`{kind}`" in README, f"README.md does not mention channel kind {kind!r}"
    assert f"kind: {kind}" in EXAMPLE, f"earshot.example.yaml has no example of channel kind {kind!r}"


@pytest.mark.parametrize("kind", classifiers.kinds())
def test_every_classifier_loads_and_is_documented(kind: str) -> None:
    assert callable(classifiers.get(kind))
    assert re.search(rf"`(classifier\.kind: )?{kind}`", README), (
        f"README.md does not mention classifier {kind!r}"
    )
    assert kind in EXAMPLE


def _commands(group: typer.Typer, prefix: str = "") -> list[str]:
    names = [
        f"{prefix}{c.name or c.callback.__name__}".strip() for c in group.registered_commands if c.callback
    ]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        names.append(f"{prefix}{sub.name}".strip())
        names += _commands(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


@pytest.mark.parametrize("command", [c for c in _commands(app) if c != "version"])
def test_every_cli_command_is_in_the_readme(command: str) -> None:
    assert f"earshot {command}" in README, f"README.md does not document `earshot {command}`"

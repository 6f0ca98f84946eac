"""Every registered channel kind has its own test module, and network kinds a captured fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.channels.registry import channels

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
# Channels that write locally and so have no wire format to capture.
LOCAL_KINDS = {"log", "jsonl"}


def test_the_registry_lists_the_built_in_kinds() -> None:
    assert {"log", "jsonl", "slack", "teams", "email", "webhook", "pagerduty", "apprise"} <= set(
        channels.kinds()
    )


@pytest.mark.parametrize("kind", channels.kinds())
def test_each_kind_has_a_test_module(kind: str) -> None:
    module = HERE / f"test_{kind}.py"
    assert module.is_file(), f"channel {kind!r} needs tests in {module.relative_to(HERE.parents[2])}"
    assert "def test_" in module.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", sorted(set(channels.kinds()) - LOCAL_KINDS))
def test_each_network_kind_has_a_captured_fixture(kind: str) -> None:
    captured = [path for path in FIXTURES.glob(f"{kind}*") if path.is_file() and path.stat().st_size > 0]
    assert captured, f"channel {kind!r} needs a captured request fixture under fixtures/{kind}*"


@pytest.mark.parametrize("kind", channels.kinds())
def test_each_kind_loads_and_declares_its_seam(kind: str) -> None:
    cls = channels.get(kind)
    assert cls.kind == kind
    assert cls.options_model.model_config.get("extra") == "forbid"
    assert isinstance(cls.max_message_chars, int) and cls.max_message_chars > 0
    assert cls.max_per_minute is None or cls.max_per_minute > 0

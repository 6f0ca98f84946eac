"""Every registered collector kind has a test module and captured fixtures, and honours the seam."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.base import Collector, CollectorOptions
from collectors.registry import collectors

HERE = Path(__file__).parent
# The demo collector's captured data is the bundled file it replays.
REPO = Path(__file__).resolve().parents[2]
BUNDLED_FIXTURES = {"demo": REPO / "collectors" / "data" / "demo_mentions.jsonl"}
# Options through which tests (and proxies) point a collector at another server.
URL_OVERRIDES = {"base_url", "oauth_url", "instances", "feeds", "url"}


def test_registry_lists_the_builtin_kinds() -> None:
    assert {"rss", "twitter", "reddit", "hackernews", "bluesky", "mastodon"} <= set(collectors.kinds())


@pytest.mark.parametrize("kind", collectors.kinds())
def test_kind_has_tests_and_fixtures(kind: str) -> None:
    kind = kind.replace("-", "_")  # kinds may use dashes; module and folder names cannot
    assert (HERE / f"test_{kind}.py").is_file(), f"tests/collectors/test_{kind}.py is missing"
    if kind in BUNDLED_FIXTURES:
        assert BUNDLED_FIXTURES[kind].is_file() and BUNDLED_FIXTURES[kind].stat().st_size > 0
        return
    fixtures = [p for p in (HERE / "fixtures" / kind).glob("*") if p.is_file() and p.stat().st_size > 0]
    assert fixtures, f"tests/collectors/fixtures/{kind}/ has no captured payload"


@pytest.mark.parametrize("kind", collectors.kinds())
def test_kind_honours_the_seam(kind: str) -> None:
    cls = collectors.get(kind)
    assert issubclass(cls, Collector) and cls.kind == kind
    assert issubclass(cls.options_model, CollectorOptions)
    if kind not in BUNDLED_FIXTURES:
        assert URL_OVERRIDES & set(cls.options_model.model_fields), f"{kind} options need a base URL override"

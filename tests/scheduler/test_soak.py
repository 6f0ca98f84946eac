"""A short, bounded soak: the demo stream through the real in-process service stays bounded.

RSS itself is printed for people (`python -m bench.soak`), never asserted: it depends on the
machine. What is asserted is the bound that keeps it flat: the near-duplicate index never holds
more than its cap, however many mentions go through.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bench.soak import soak, soak_settings, summary
from earshot.compose import build
from storage.db import create_db_engine, upgrade

CAP = 50


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_short_soak_keeps_the_near_duplicate_index_bounded(tmp_path: Path) -> None:
    settings = soak_settings(tmp_path, rate=100, classifier="baseline", database=None)
    engine = create_db_engine(settings.database.url)
    upgrade(engine)
    engine.dispose()
    app = build(settings)
    out = io.StringIO()
    try:
        samples = soak(
            app, seconds=2, every=0.5, neardup_max=CAP, min_stored=6 * CAP, max_seconds=300, out=out
        )
    finally:
        app.close()
    assert samples, out.getvalue()
    assert samples[-1].stored >= 6 * CAP, out.getvalue()  # far more mentions than the index may hold
    assert max(s.index for s in samples) <= CAP, out.getvalue()
    assert app.components.neardup.size <= CAP
    assert all(s.rss_mb > 0 for s in samples)
    assert summary(samples).startswith("second half: RSS ")
    assert out.getvalue().splitlines()[0].split() == ["seconds", "RSS", "MB", "stored", "per", "s", "index"]

"""The demo source: replays a bundled stream of mentions of a fictional brand, no credentials.

The bundled file spans 48 hours. On the first run the part before
``backlog_fraction`` is replayed at once, back-dated so charts have history;
the rest then streams in ``per_run`` items per run, stamped with the current
time. With ``loop`` the stream starts over with fresh ids when it runs out.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from collectors.base import Collector, CollectorOptions, Cursor, FetchResult
from collectors.errors import BadConfiguration, BadPayload
from domain import Author, Engagement, Mention

BUNDLED = Path(__file__).parent / "data" / "demo_mentions.jsonl"


class DemoOptions(CollectorOptions):
    """Options for the demo source."""

    path: Path = BUNDLED
    per_run: int = Field(4, ge=1, le=10_000)
    backlog_fraction: float = Field(0.85, ge=0.0, le=1.0)
    loop: bool = True


@lru_cache(maxsize=4)
def load_items(path: Path) -> tuple[dict[str, Any], ...]:
    """Read the demo file once; every line must be a JSON object with id, t and text."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadConfiguration(f"demo file {path}: {exc.strerror}") from exc
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not {"id", "t", "text"} <= item.keys():
                raise ValueError("needs id, t and text")
        except ValueError as exc:
            raise BadPayload(f"{path}:{number}: {exc}") from exc
        items.append(item)
    return tuple(sorted(items, key=lambda i: (int(i["t"]), str(i["id"]))))


class DemoCollector(Collector[DemoOptions]):
    """Replays the bundled demo stream."""

    kind: ClassVar[str] = "demo"
    options_model: ClassVar[type[CollectorOptions]] = DemoOptions

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Return the backlog on the first run, then the next ``per_run`` items."""
        items = load_items(self.options.path)
        if not items:
            return FetchResult(mentions=[], cursor=dict(cursor or {}))
        now = self.context.now()
        if cursor is None:
            cutoff = int(len(items) * self.options.backlog_fraction)
            anchor_t = int(items[cutoff - 1]["t"]) if cutoff else 0
            state = {"anchor": now.isoformat(), "anchor_t": anchor_t, "position": cutoff, "loop": 0}
            batch = [(item, now - timedelta(minutes=anchor_t - int(item["t"]))) for item in items[:cutoff]]
            if not batch:
                return self._more(items, state, now)
            return self._result(batch, state, 0)
        return self._more(items, dict(cursor), now)

    def _more(self, items: tuple[dict[str, Any], ...], state: dict[str, Any], now: datetime) -> FetchResult:
        position, loop = int(state.get("position", 0)), int(state.get("loop", 0))
        if position >= len(items):
            if not self.options.loop:
                return FetchResult(mentions=[], cursor=state)
            position, loop = 0, loop + 1
        chosen = items[position : position + self.options.per_run]
        # Spread the run's items over the last minute so they do not share one timestamp.
        batch = [(item, now - timedelta(seconds=5 * (len(chosen) - k))) for k, item in enumerate(chosen)]
        state = {**state, "position": position + len(chosen), "loop": loop}
        return self._result(batch, state, loop)

    def _result(
        self, batch: list[tuple[dict[str, Any], datetime]], state: dict[str, Any], loop: int
    ) -> FetchResult:
        now = self.context.now()
        mentions = []
        for item, published in batch:
            mention = self._mention(item, published, now, loop)
            if mention is not None:
                mentions.append(mention)
        return FetchResult(mentions=mentions, cursor=state, fetched=len(batch))

    def _mention(self, item: dict[str, Any], published: datetime, now: datetime, loop: int) -> Mention | None:
        text = str(item.get("text") or "")
        title = item.get("title") or None
        author = item.get("author") or {}
        matched = self.context.matcher.match(
            f"{title}\n{text}" if title else text, language=item.get("lang"), author=author.get("handle")
        )
        if not matched:
            return None
        external_id = str(item["id"]) if loop == 0 else f"{item['id']}~{loop}"
        return Mention(
            source=self.name,
            source_kind=self.kind,
            external_id=external_id,
            text=text,
            title=str(title) if title else None,
            url=item.get("url"),
            author=Author(
                handle=str(author.get("handle") or "unknown"),
                display_name=str(author.get("name") or ""),
                followers=author.get("followers"),
            ),
            published_at=published,
            collected_at=now,
            language=item.get("lang"),
            engagement=Engagement(
                likes=int(item.get("likes") or 0),
                shares=int(item.get("shares") or 0),
                replies=int(item.get("replies") or 0),
            ),
            brands=matched.brands,
            queries=matched.queries,
            raw=item,
        )

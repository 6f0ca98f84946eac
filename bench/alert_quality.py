"""Alert quality end to end on the demo stream: precision, recall and wrong-team rate.

Every demo mention carries a hand label of what should happen (``bench/data/demo_expected.jsonl``:
alert or not, the team, the lowest acceptable urgency). The whole pipeline runs as `earshot run`
would, with ``earshot.example.yaml`` (brands, own accounts, competitors, routes, teams) and the
configured classifier, on a throwaway SQLite database:

1. live: every mention arrives as it is published, so every one may alert;
2. backfill: the demo's first run as shipped (48 hours at once), to count alerts on mentions older
   than ``alerting.max_age`` (must be 0).

A mention counts as alerted when it raised an alert or was folded into an open alert of its story.

    python -m bench.alert_quality [--config earshot.example.yaml] [--classifier transformer]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from collectors.base import FetchResult
from domain import Urgency
from earshot.compose import build
from earshot.settings import Settings
from scheduler.pipeline import RunReport, ingest
from storage.db import create_db_engine, upgrade
from storage.models import AlertEventRow, AlertRow, MentionRow

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = Path(__file__).resolve().parent / "data" / "demo_expected.jsonl"
LEVELS = [u.value for u in Urgency]


def _settings(config: Path, db: Path, classifier: str, backlog: float) -> Settings:
    raw: dict[str, Any] = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["database"] = {"url": f"sqlite:///{db}"}
    raw["sources"] = [
        {
            "name": "demo",
            "kind": "demo",
            "options": {"backlog_fraction": backlog, "loop": False, "per_run": 1},
        }
    ]
    raw["channels"] = [{"name": "log", "kind": "log"}]
    for team in raw.get("teams", []):
        team["channels"] = ["log"]
        team.pop("digest", None)
        team.pop("escalation", None)
    raw["classifier"] = {**raw.get("classifier", {}), "kind": classifier}
    return Settings(**raw)


def run(config: Path, classifier: str, *, live: bool) -> dict[str, Any]:
    """Run the demo through the pipeline; return per-mention outcomes keyed by demo id."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        settings = _settings(config, db, classifier, 1.0)
        engine = create_db_engine(settings.database.url)
        upgrade(engine)
        engine.dispose()
        app = build(settings)
        try:
            comp = app.components
            source = comp.sources["demo"]
            result = source.collector.fetch(None)
            mentions = list(result.mentions)
            if live:
                # Each mention as it is published: collected the moment it appears.
                mentions = [replace(m, collected_at=m.published_at) for m in mentions]
            ingest(comp, source, FetchResult(mentions=mentions, cursor=result.cursor), RunReport("demo"))
            with comp.sessions() as session:
                ids = {m.id: m.external_id for m in session.scalars(select(MentionRow))}
                outcomes: dict[str, dict[str, Any]] = {}
                for alert in session.scalars(select(AlertRow).where(AlertRow.mention_id.is_not(None))):
                    key = ids[alert.mention_id]  # type: ignore[index]
                    outcomes[key] = {"team": alert.team, "urgency": alert.urgency, "route": alert.route_name}
                for event in session.scalars(select(AlertEventRow).where(AlertEventRow.action == "folded")):
                    mention_id = int((event.note or "#0").rsplit("#", 1)[1])
                    parent = session.get(AlertRow, event.alert_id)
                    if parent is not None and mention_id in ids:
                        outcomes.setdefault(
                            ids[mention_id], {"team": parent.team, "urgency": parent.urgency, "folded": True}
                        )
                ages = {
                    m.external_id: (m.collected_at - m.published_at).total_seconds() / 3600
                    for m in session.scalars(select(MentionRow))
                }
        finally:
            app.close()
    return {"outcomes": outcomes, "ages": ages}


def score(expected: list[dict[str, Any]], outcomes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Alert precision and recall per mention, wrong-team and under-urgency rates among hits."""
    demo_id = {e["id"]: e for e in expected}
    # Collected ids carry the demo id; loops add a suffix, which the bench never reaches.
    got = {k.split("~")[0]: v for k, v in outcomes.items()}
    should = {i for i, e in demo_id.items() if e["alert"]}
    did = {i for i in demo_id if i in got}
    hits = should & did
    wrong_team = sorted(i for i in hits if got[i]["team"] != demo_id[i]["team"])
    under = sorted(
        i for i in hits if LEVELS.index(str(got[i]["urgency"])) < LEVELS.index(demo_id[i]["min_urgency"])
    )
    return {
        "mentions": len(expected),
        "should_alert": len(should),
        "alerted": len(did),
        "precision": round(len(hits) / len(did), 4) if did else 0.0,
        "recall": round(len(hits) / len(should), 4) if should else 0.0,
        "wrong_team_rate": round(len(wrong_team) / len(hits), 4) if hits else 0.0,
        "below_min_urgency_rate": round(len(under) / len(hits), 4) if hits else 0.0,
        "false_alerts": sorted(did - should),
        "missed": sorted(should - did),
        "wrong_team": wrong_team,
    }


def main(argv: list[str]) -> None:
    """Run both scenarios and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.alert_quality")
    parser.add_argument("--config", type=Path, default=ROOT / "earshot.example.yaml")
    parser.add_argument("--classifier", default="transformer")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    expected = [json.loads(line) for line in EXPECTED.read_text(encoding="utf-8").splitlines() if line]
    live = run(args.config, args.classifier, live=True)
    result = score(expected, live["outcomes"])
    backfill = run(args.config, args.classifier, live=False)
    max_age_h = Settings(**yaml.safe_load(args.config.read_text(encoding="utf-8"))).alerting.max_age
    limit = (max_age_h or float("inf")) / 3600
    old = [k for k in backfill["outcomes"] if backfill["ages"].get(k, 0.0) > limit]
    result["backfill_alerts"] = len(backfill["outcomes"])
    result["backfill_alerts_older_than_max_age"] = len(old)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"demo stream, {result['mentions']} mentions, classifier {args.classifier}, {args.config.name}")
    print(f"  should alert {result['should_alert']}, alerted {result['alerted']}")
    print(f"  alert precision {result['precision']:.3f}   alert recall {result['recall']:.3f}")
    print(f"  wrong team {result['wrong_team_rate']:.1%} of correct alerts; below min urgency ", end="")
    print(f"{result['below_min_urgency_rate']:.1%}")
    print(f"  false alerts: {' '.join(result['false_alerts']) or '-'}")
    print(f"  missed: {' '.join(result['missed']) or '-'}")
    print(f"  wrong team: {' '.join(result['wrong_team']) or '-'}")
    print(
        f"  first-run backfill: {result['backfill_alerts']} alerts, "
        f"{result['backfill_alerts_older_than_max_age']} on mentions older than max_age"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

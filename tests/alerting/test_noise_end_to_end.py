"""Noise control as a user configures it: earshot.example.yaml's brands, accounts and routes, the demo
stream replayed live through the real pipeline (bench/alert_quality.py's run, baseline classifier)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.alert_quality import ROOT, run

DEMO = ROOT / "collectors" / "data" / "demo_mentions.jsonl"
OWN_ACCOUNTS = {"@lumora", "@lumorasupport"}


def test_example_config_pages_nobody_for_our_accounts_or_competitors() -> None:
    items = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line]
    ours = {i["id"] for i in items if i["author"]["handle"].lower() in OWN_ACCOUNTS}
    rivals_only = {
        i["id"]
        for i in items
        if "lumora" not in (str(i.get("title") or "") + i["text"]).lower()
        and any(b in i["text"].lower() for b in ("vantix", "orbly"))
    }
    assert ours and rivals_only  # the demo has both, so the checks below are not vacuous
    outcomes = run(Path(ROOT / "earshot.example.yaml"), "baseline", live=True)["outcomes"]
    alerted = {key.split("~")[0] for key in outcomes}
    assert alerted, "the live demo raises alerts at all"
    assert not alerted & ours
    assert not alerted & rivals_only
    # The lookalike support account asking for a password and a 2FA code: security, critical, ops.
    assert outcomes["demo-0180"]["urgency"] == "critical" and outcomes["demo-0180"]["team"] == "ops"

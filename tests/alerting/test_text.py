"""How alerts read: handles, and one notification standing for a group of alerts."""

from __future__ import annotations

import pytest

from alerting.text import combine, handle
from domain import Alert, AlertKind, AlertStatus, Urgency
from storage.alerting_tables import AlertGroupRow
from tests.factories import T0


@pytest.mark.parametrize(
    ("name", "shown"),
    [("dana", "@dana"), ("@vantix", "@vantix"), ("u/datahoarder", "u/datahoarder"), (None, "someone")],
)
def test_handle(name: str | None, shown: str) -> None:
    assert handle(name) == shown


def _alert(alert_id: int, urgency: Urgency, brand: str, count: int = 1) -> Alert:
    return Alert(
        id=alert_id,
        kind=AlertKind.MENTION,
        title=f"alert {alert_id}",
        summary=f"summary {alert_id}",
        urgency=urgency,
        status=AlertStatus.FIRING,
        team="ops",
        route="outages",
        reason="why",
        group_key=f"k{alert_id}",
        created_at=T0,
        brand=brand,
        categories=("outage",),
        count=count,
    )


def test_combined_notification_leads_with_the_most_urgent() -> None:
    group = AlertGroupRow(group_key="outages|category=outage", labels={"category": "outage"})
    alerts = [
        _alert(3, Urgency.MEDIUM, "Lumora", 4),
        _alert(5, Urgency.CRITICAL, "Vantix"),
        _alert(4, Urgency.HIGH, "Lumora"),
    ]
    combined = combine(alerts, group)
    assert combined.title == "3 alerts (category=outage): alert 5"
    assert combined.summary.splitlines() == [
        "- alert 5: summary 5",
        "- alert 4: summary 4",
        "- alert 3: summary 3",
    ]
    assert (combined.id, combined.urgency, combined.count, combined.brand) == (3, Urgency.CRITICAL, 6, None)
    assert [a["id"] for a in combined.details["group"]["alerts"]] == [5, 4, 3]


def test_long_groups_are_cut_with_a_count() -> None:
    group = AlertGroupRow(group_key="g", labels={})
    combined = combine([_alert(i, Urgency.HIGH, "Lumora") for i in range(1, 14)], group)
    lines = combined.summary.splitlines()
    assert len(lines) == 11 and lines[-1] == "… and 3 more"
    assert combined.brand == "Lumora" and combined.title.startswith("13 alerts: ")

"""The triage inbox: one row per group, paging that never hides a row, counts, category filter."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from alerting import grouping
from alerting.config import GroupingConfig
from storage.models import AlertRow
from tests.web.factories import NOW, alert, classification, mention, store

GROUPED = GroupingConfig(group_by=["brand"], group_wait=30)


def _outage_group(sessions: sessionmaker[Session], n: int) -> list[int]:
    """``n`` outage alerts of one notification group, each a story seen twice."""
    mention_ids = store(
        sessions,
        [
            (mention(f"o{i}", text=f"down again {i}"), classification("negative", "high", ["outage"]))
            for i in range(n)
        ],
    )
    ids = []
    with sessions.begin() as session:
        for i, mention_id in enumerate(mention_ids):
            alert_id = alert(session, title=f"outage {i}", mention_id=mention_id)
            row = session.get_one(AlertRow, alert_id)
            row.created_at = NOW - timedelta(minutes=n - i)
            row.count = 2
            group, _ = grouping.join_group(
                session, route="outages", grouping=GROUPED, labels={"brand": "Acme"}, now=NOW
            )
            grouping.add_member(session, group_id=group.id, alert_id=alert_id)
            ids.append(alert_id)
    return ids


def test_a_group_is_one_row_with_its_count(client: TestClient, sessions: sessionmaker[Session]) -> None:
    ids = _outage_group(sessions, 36)
    with sessions.begin() as session:
        lone = alert(session, title="lone", urgency="medium")
    page = client.get("/api/alerts").json()
    assert page["total_rows"] == 2 and page["total_alerts"] == 37
    outage, other = page["items"]
    assert outage["alerts"] == 36 and outage["mentions"] == 72 and sorted(outage["alert_ids"]) == ids
    # The oldest alert of the group stands for it.
    assert outage["alert"]["id"] == ids[0] and outage["excerpt"] == "down again 0"
    assert other["alert_ids"] == [lone] and other["key"] == f"a{lone}"
    # Acting on the row acts on every alert of the group.
    done = client.post("/api/alerts/bulk", json={"action": "ack", "alert_ids": outage["alert_ids"]}).json()
    assert len(done["done"]) == 36
    assert client.get("/api/alerts?status=open").json()["total_rows"] == 1
    counts = client.get("/api/alerts").json()["counts"]
    assert counts == {"open": 1, "in_progress": 1, "waiting_on_customer": 0, "resolved": 0}
    html = client.get("/alerts").text
    assert "36 alerts" in html and "×72 mentions" in html


def test_paging_never_hides_a_row(client: TestClient, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        made = []
        for i in range(7):
            alert_id = alert(session, title=f"a{i}", urgency=["critical", "high", "low"][i % 3])
            session.get_one(AlertRow, alert_id).created_at = NOW - timedelta(minutes=i % 2)
            made.append(alert_id)
    seen: list[int] = []
    for offset in range(0, 9, 3):
        page = client.get(f"/api/alerts?limit=3&offset={offset}").json()
        assert page["total_rows"] == 7 and page["offset"] == offset
        seen += [i["alert"]["id"] for i in page["items"]]
    assert sorted(seen) == sorted(made) and len(seen) == 7
    urgencies = [client.get(f"/api/alerts/{i}").json()["urgency"] for i in seen]
    assert urgencies == sorted(urgencies, key=["critical", "high", "medium", "low"].index)
    html = client.get("/alerts").text
    assert "Rows 1–7 of 7" in html


def test_page_links_when_rows_do_not_fit(client: TestClient, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for i in range(51):
            alert(session, title=f"n{i}")
    first = client.get("/alerts").text
    assert "Rows 1–50 of 51" in first and "Page 1 of 2" in first and "page=2" in first
    second = client.get("/alerts?page=2").text
    assert "Rows 51–51 of 51" in second and 'rel="prev"' in second


def test_category_filter(client: TestClient, sessions: sessionmaker[Session]) -> None:
    billing_mention, praise_mention = store(
        sessions,
        [
            (mention("b", text="charged twice"), classification("negative", "high", ["billing"])),
            (mention("p", text="love it"), classification("positive", "low", ["praise", "billing_question"])),
        ],
    )
    with sessions.begin() as session:
        alert(session, title="billing", mention_id=billing_mention)
        alert(session, title="praise", mention_id=praise_mention)
    titles = [i["alert"]["title"] for i in client.get("/api/alerts?category=billing").json()["items"]]
    assert titles == ["billing"]
    titles = [i["alert"]["title"] for i in client.get("/api/alerts?category=praise").json()["items"]]
    assert titles == ["praise"]
    assert client.get("/api/alerts?category=100%25").json()["items"] == []

"""Weekly reports: the numbers against the week before, charts, CSV, escaping, and once-per-week sending."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from PIL import Image
from pydantic import SecretStr, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from alerting.channels.base import Channel
from alerting.channels.email import EmailChannel, EmailOptions
from alerting.report_render import Report, csv_files, render_charts, render_html
from alerting.reports import (
    CHARTS,
    WEEK,
    ReportError,
    build_report,
    compose,
    deliver,
    email_channel,
    latest_due,
    week_ending,
    weekly_report_job,
)
from alerting.reports_config import ReportsConfig, ReportTeam
from storage.report_queries import claim_report, report_sends
from tests.alerting.channels.helpers import closed_port
from tests.alerting.channels.smtp_peer import PASSWORD, USER, Recorder, check_password, make_certificates
from tests.web.factories import classification, mention, store
from web.context import WebContext

# Friday 10 May 2024 00:00 UTC ends the reported week (Fri 3 – Thu 9 May); the week before ends on 3 May.
UNTIL = datetime(2024, 5, 10, 0, 0, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
HOSTILE = "<script>alert('x')</script> refund & <b>now</b>"
CONFIG = ReportsConfig(
    enabled=True,
    weekday="fri",
    hour=0,
    timezone="UTC",
    teams=[
        ReportTeam(team="marketing", channel="mail-marketing"),
        ReportTeam(team="exec", channel="mail-exec", brands=["Rival", "Acme"]),
    ],
)


def context(sessions: sessionmaker[Session]) -> WebContext:
    return WebContext(session_factory=sessions, brands=("Acme",), competitors={"Acme": ("Rival",)})


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> list[int]:
    """This week: Acme 5 (2 positive, 1 negative, 2 neutral), Rival 2 negative. Before: Acme 2, Rival 4."""
    hostile = mention(
        "a1",
        at=UNTIL - HOUR,
        text=HOSTILE,
        handle="@<img src=x onerror=alert(1)>",
        display_name="<i>Eve</i>",
        followers=900,
        likes=50,
    )
    return store(
        sessions,
        [
            (hostile, classification("positive", categories=["refund"])),
            (mention("a2", at=UNTIL - 2 * DAY, likes=3), classification("positive")),
            (mention("a3", at=UNTIL - 3 * DAY), classification("negative", categories=["refund"])),
            (mention("a4", at=UNTIL - 6 * DAY), classification("neutral")),
            # The first instant of the week is in it; the instant it ends belongs to the next one.
            (mention("a6", at=UNTIL - WEEK), classification("neutral")),
            (mention("a5", at=UNTIL), classification("negative")),
            (mention("r1", at=UNTIL - DAY - HOUR, brands=("Rival",)), classification("negative")),
            (mention("r2", at=UNTIL - 5 * DAY, brands=("Rival",)), classification("negative")),
            (mention("p1", at=UNTIL - 8 * DAY), classification("negative", categories=["refund"])),
            (mention("p2", at=UNTIL - 10 * DAY), classification("positive")),
            (mention("q1", at=UNTIL - 9 * DAY, brands=("Rival",)), classification("positive")),
            (mention("q2", at=UNTIL - 12 * DAY, brands=("Rival",)), classification("neutral")),
            (mention("q3", at=UNTIL - 13 * DAY, brands=("Rival",)), classification("neutral")),
            (mention("q4", at=UNTIL - 8 * DAY, brands=("Rival",)), classification("neutral")),
        ],
    )


def report_for(sessions: sessionmaker[Session], team: ReportTeam = CONFIG.teams[0]) -> Report:
    with sessions() as session:
        return build_report(session, ctx=context(sessions), team=team, until=UNTIL)


def test_key_numbers_against_the_week_before(sessions: sessionmaker[Session], stored: list[int]) -> None:
    report = report_for(sessions)
    f = report.figures
    assert (f.since, f.until, f.brand, f.brands) == (UNTIL - WEEK, UNTIL, "Acme", ["Acme", "Rival"])
    rows = {r.brand: r for r in f.summary}
    acme, rival = rows["Acme"], rows["Rival"]
    assert (acme.mentions, acme.previous_mentions, acme.mentions_change) == (5, 2, 150.0)
    # (2 positive - 1 negative) / 5 classified = 20 points, against (1 - 1) / 2 = 0 the week before.
    assert (acme.net_sentiment, acme.previous_net_sentiment, acme.net_sentiment_change) == (20.0, 0.0, 20.0)
    assert (acme.share, acme.previous_share, acme.share_change) == (71.43, 33.33, 38.1)
    assert (rival.mentions, rival.previous_mentions, rival.mentions_change) == (2, 4, -50.0)
    assert (rival.net_sentiment, rival.previous_net_sentiment, rival.net_sentiment_change) == (
        -100.0,
        25.0,
        -125.0,
    )
    assert sum(f.volume["Acme"]) == 5 and sum(f.volume["Rival"]) == 2
    assert [m.engagement for m in report.engaged][:2] == [50, 3]
    assert report.title == "Weekly report for marketing: 03 May – 09 May 2024"
    # The exec team puts Rival in focus, compared with Acme.
    exec_report = report_for(sessions, CONFIG.teams[1])
    assert exec_report.figures.brands == ["Rival", "Acme"]
    assert [m.text for m in exec_report.engaged] == ["mention r1 about Rival", "mention r2 about Rival"]


def test_csv_attachments_carry_the_same_numbers(sessions: sessionmaker[Session], stored: list[int]) -> None:
    report = report_for(sessions)
    files = {
        name: list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        for name, text in csv_files(report).items()
    }
    summary = {row["brand"]: row for row in files["summary.csv"]}
    for row in report.figures.summary:
        got = summary[row.brand]
        assert int(got["mentions"]) == row.mentions and int(got["previous_mentions"]) == row.previous_mentions
        assert float(got["mentions_change"]) == row.mentions_change
        assert float(got["net_sentiment"]) == row.net_sentiment and float(got["share"]) == row.share
    daily = files["daily.csv"]
    assert len(daily) == 2 * len(report.figures.buckets)
    for brand, expected in (("Acme", 5), ("Rival", 2)):
        assert sum(int(r["mentions"]) for r in daily if r["brand"] == brand) == expected
    by_day = {(r["day"], r["brand"]): r for r in daily}
    hostile_day = (UNTIL - HOUR).replace(hour=0).strftime("%Y-%m-%dT%H:%M:%S")
    assert int(by_day[(hostile_day, "Acme")]["mentions"]) == 1
    assert float(by_day[(hostile_day, "Acme")]["share_percent"]) == 100.0


def test_charts_are_real_png_images(sessions: sessionmaker[Session], stored: list[int]) -> None:
    charts = render_charts(report_for(sessions))
    assert set(charts) == set(CHARTS)
    for png in charts.values():
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        image = Image.open(io.BytesIO(png))
        image.load()
        assert image.size == (700, 280)
        # Something was drawn: more than the background colour.
        assert len(image.convert("RGB").getcolors(maxcolors=100_000) or []) > 10


def test_hostile_mention_text_is_escaped_in_the_html(
    sessions: sessionmaker[Session], stored: list[int]
) -> None:
    message = compose(
        report_for(sessions), sender="Earshot <reports@example.com>", recipients=["m@example.com"]
    )
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    assert "<script>" not in html and "<img src=x" not in html and "<i>Eve" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; refund &amp; &lt;b&gt;now&lt;/b&gt;" in html
    assert "@&lt;img src=x onerror=alert(1)&gt;" in html
    assert HOSTILE in text  # plain text is shown as text, not markup


def parts_of(message: EmailMessage) -> dict[str, Any]:
    """Content types, inline images by Content-ID, and attachments of a parsed report."""
    html_part = message.get_body(("html",))
    assert html_part is not None
    images = {
        str(p["Content-ID"]).strip("<>"): p.get_content()
        for p in message.walk()
        if p.get_content_type() == "image/png"
    }
    attachments = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    return {"html": html_part.get_content(), "images": images, "attachments": attachments}


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = closed_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    yield recorder, port
    controller.stop()


def channels_at(port: int) -> dict[str, Channel]:  # type: ignore[type-arg]
    def mail(name: str, to: str) -> EmailChannel:
        options = EmailOptions(
            host="127.0.0.1", port=port, security="none", sender="Earshot <reports@example.com>",
            recipients=[to], timeout=2.0, local_hostname="earshot.test",
        )  # fmt: skip
        return EmailChannel(name=name, options=options)

    return {
        "mail-marketing": mail("mail-marketing", "mkt@example.com"),
        "mail-exec": mail("mail-exec", "ceo@example.com"),
    }


def job_at(sessions: sessionmaker[Session], channels: dict[str, Channel], now: datetime) -> Any:  # type: ignore[type-arg]
    return weekly_report_job(
        sessions=sessions, config=CONFIG, channels=channels, brands=["Acme"], competitors={"Acme": ["Rival"]},
        clock=lambda: now,
    )  # fmt: skip


def test_each_team_gets_one_message_per_week(
    sessions: sessionmaker[Session], stored: list[int], smtp: tuple[Recorder, int]
) -> None:
    recorder, port = smtp
    channels = channels_at(port)
    job = job_at(sessions, channels, UNTIL + 3 * HOUR)
    first = job.run()
    assert {team: r.ok for team, r in first.items()} == {"marketing": True, "exec": True}
    assert job.run() == {}  # the same week again: nothing sent
    # A second process (its own job over the same database) does not send the week either.
    assert job_at(sessions, channels, UNTIL + 4 * HOUR).run() == {}
    assert sorted(env.rcpt_tos[0] for env, _ in recorder.messages) == ["ceo@example.com", "mkt@example.com"]
    message = next(m for e, m in recorder.messages if e.rcpt_tos == ["mkt@example.com"])
    assert message["Subject"] == "[Earshot] Weekly report for marketing: 03 May – 09 May 2024"
    got = parts_of(message)
    assert set(got["attachments"]) == {"summary.csv", "daily.csv"}
    assert len(got["images"]) == len(CHARTS)
    for cid, png in got["images"].items():
        assert f'src="cid:{cid}"' in got["html"] and png.startswith(b"\x89PNG")
    summary = list(csv.DictReader(io.StringIO(got["attachments"]["summary.csv"].lstrip("\ufeff"))))
    assert {r["brand"]: int(r["mentions"]) for r in summary} == {"Acme": 5, "Rival": 2}
    with sessions() as session:
        sent = report_sends(session)
    assert [(s.team, s.status, s.attempts, s.period_until) for s in sent] == [
        ("exec", "sent", 1, UNTIL),
        ("marketing", "sent", 1, UNTIL),
    ]
    # The next week's reports go out once the next Friday has begun.
    assert job_at(sessions, channels, UNTIL + WEEK - HOUR).run() == {}
    assert set(job_at(sessions, channels, UNTIL + WEEK).run()) == {"marketing", "exec"}
    assert len(recorder.messages) == 4


def test_a_failed_send_is_retried_by_the_next_run(
    sessions: sessionmaker[Session], stored: list[int], smtp: tuple[Recorder, int]
) -> None:
    recorder, port = smtp
    failed = job_at(sessions, channels_at(closed_port()), UNTIL).run()
    assert {team: r.ok for team, r in failed.items()} == {"marketing": False, "exec": False}
    with sessions() as session:
        assert {s.status for s in report_sends(session)} == {"failed"}
    retried = job_at(sessions, channels_at(port), UNTIL + HOUR).run()
    assert {team: r.ok for team, r in retried.items()} == {"marketing": True, "exec": True}
    with sessions() as session:
        assert {(s.status, s.attempts) for s in report_sends(session)} == {("sent", 2)}
    assert len(recorder.messages) == 2


def test_a_claimed_week_cannot_be_claimed_again(sessions: sessionmaker[Session]) -> None:
    def claim(now: datetime) -> bool:
        with sessions.begin() as session:
            return claim_report(session, team="t", since=UNTIL - WEEK, until=UNTIL, recipients="x", now=now)

    assert claim(UNTIL) is True
    assert claim(UNTIL + 10 * MINUTE) is False  # in flight in another process
    # A claim whose process died (no result after half an hour) is taken over.
    assert claim(UNTIL + 2 * HOUR) is True


@pytest.mark.parametrize(
    ("weekday", "hour", "zone", "now", "due"),
    [
        (
            "fri",
            12,
            "UTC",
            datetime(2024, 5, 10, 12, 0, tzinfo=UTC),
            datetime(2024, 5, 10, 12, 0, tzinfo=UTC),
        ),
        (
            "fri",
            12,
            "UTC",
            datetime(2024, 5, 10, 11, 59, tzinfo=UTC),
            datetime(2024, 5, 3, 12, 0, tzinfo=UTC),
        ),
        (
            "mon",
            8,
            "Europe/Paris",
            datetime(2024, 5, 13, 6, 30, tzinfo=UTC),
            datetime(2024, 5, 13, 6, 0, tzinfo=UTC),
        ),
        # Winter time in Paris is UTC+1.
        (
            "mon",
            8,
            "Europe/Paris",
            datetime(2024, 12, 4, 0, 0, tzinfo=UTC),
            datetime(2024, 12, 2, 7, 0, tzinfo=UTC),
        ),
        (
            "sun",
            23,
            "America/New_York",
            datetime(2024, 5, 13, 3, 0, tzinfo=UTC),
            datetime(2024, 5, 13, 3, 0, tzinfo=UTC),
        ),
    ],
)
def test_latest_due(weekday: str, hour: int, zone: str, now: datetime, due: datetime) -> None:
    config = ReportsConfig(weekday=weekday, hour=hour, timezone=zone)
    assert latest_due(config, now) == due


def test_config_errors_are_clear() -> None:
    with pytest.raises(ValidationError, match="listed twice: a"):
        ReportsConfig(teams=[ReportTeam(team="a", channel="m"), ReportTeam(team="a", channel="n")])
    with pytest.raises(ValidationError, match="unknown time zone"):
        ReportsConfig(timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        ReportsConfig(hour=24)
    with pytest.raises(ReportError, match="'nope' is missing"):
        email_channel({}, "nope")


def test_the_report_links_to_the_same_view(sessions: sessionmaker[Session], stored: list[int]) -> None:
    with sessions() as session:
        report = build_report(
            session,
            ctx=context(sessions),
            team=CONFIG.teams[0],
            until=UNTIL,
            base_url="https://earshot.example/",
        )
    assert report.link == (
        "https://earshot.example/?range=custom&since=2024-05-03T00%3A00%3A00&until=2024-05-10T00%3A00%3A00"
        "&brand=Acme&vs=Rival"
    )
    cids = {name: f"{name}@x" for name in CHARTS}
    assert f'<a href="{report.link.replace("&", "&amp;")}">' in render_html(report, cids)


def test_a_week_is_seven_whole_utc_days() -> None:
    # Sent Monday 08:00 in Paris (06:00 UTC): the week is Monday 00:00 to Monday 00:00 UTC.
    config = ReportsConfig(weekday="mon", hour=8, timezone="Europe/Paris")
    until = week_ending(latest_due(config, datetime(2024, 5, 15, 9, 0, tzinfo=UTC)))
    assert until == datetime(2024, 5, 13, 0, 0, tzinfo=UTC)


def test_config_cross_references() -> None:
    config = ReportsConfig(
        teams=[ReportTeam(team="pr", channel="mail"), ReportTeam(team="ghost", channel="slack")]
    )
    assert config.problems(teams=["pr"], channel_kinds={"mail": "email", "slack": "slack"}) == [
        "reports.teams[1].team: unknown team 'ghost'; teams: ['pr']",
        "reports.teams[1].channel: 'slack' is a slack channel, not email",
    ]
    assert config.team("pr") == config.teams[0] and config.team("nobody") is None


def test_a_team_without_an_email_channel_does_not_stop_the_others(
    sessions: sessionmaker[Session], stored: list[int], smtp: tuple[Recorder, int]
) -> None:
    recorder, port = smtp
    channels = {"mail-exec": channels_at(port)["mail-exec"]}  # marketing's channel is missing
    results = job_at(sessions, channels, UNTIL).run()
    assert {team: r.ok for team, r in results.items()} == {"exec": True}
    assert [env.rcpt_tos for env, _ in recorder.messages] == [["ceo@example.com"]]


def test_reports_use_the_channels_starttls_and_login(
    sessions: sessionmaker[Session], stored: list[int], tmp_path: Path
) -> None:
    certificates = make_certificates(tmp_path)
    recorder, port = Recorder(), closed_port()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, ready_timeout=5, tls_context=certificates.server_context,
        require_starttls=True, authenticator=check_password, auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        options = EmailOptions(
            host="127.0.0.1", port=port, security="starttls", username=USER, password=PASSWORD,
            ca_file=str(certificates.ca_file), sender="Earshot <reports@example.com>",
            recipients=["mkt@example.com"], timeout=5.0, local_hostname="earshot.test",
        )  # fmt: skip
        channel = EmailChannel(name="mail-marketing", options=options)
        message = compose(report_for(sessions), sender=options.sender, recipients=options.recipients)
        assert deliver(channel, message).ok
        wrong = channel.options.model_copy(update={"password": SecretStr("wrong")})
        refused = deliver(EmailChannel(name="mail-marketing", options=wrong), message)
    finally:
        controller.stop()
    assert [env.rcpt_tos for env, _ in recorder.messages] == [["mkt@example.com"]]
    assert not refused.ok and "535" in refused.reason

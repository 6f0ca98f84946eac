"""Email over SMTP against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS and implicit TLS."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller

from alerting.channels.email import EmailChannel, EmailOptions
from domain import DeliveryOutcome, NotificationAction
from tests.alerting.channels.helpers import SilentPeer, check_fixture, closed_port, notification
from tests.alerting.channels.smtp_peer import (
    PASSWORD,
    USER,
    Certificates,
    Recorder,
    check_password,
    make_certificates,
)

Serve = Callable[..., tuple[Recorder, int]]
SHORT_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def serve(certificates: Certificates) -> Iterator[Serve]:
    """Start aiosmtpd in one of: plain, starttls (required, with AUTH), tls (implicit)."""
    running: list[Controller] = []

    def start(mode: str = "plain") -> tuple[Recorder, int]:
        recorder = Recorder()
        port = closed_port()
        kwargs: dict[str, Any] = {}
        if mode == "starttls":
            kwargs = {
                "tls_context": certificates.server_context,
                "require_starttls": True,
                "authenticator": check_password,
                "auth_required": True,
            }
        elif mode == "tls":
            kwargs = {"ssl_context": certificates.server_context}
        controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=5, **kwargs)
        controller.start()
        running.append(controller)
        return recorder, port

    yield start
    for controller in running:
        controller.stop()


def email(port: int, cls: type[EmailChannel] = EmailChannel, **changes: Any) -> EmailChannel:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "Earshot <alerts@example.com>",
        "recipients": ["oncall@example.com", "pr@example.com"],
        "timeout": 2.0,
        "local_hostname": "earshot.test",
    }
    return cls(name="mail", options=EmailOptions(**(options | changes)))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    # SMTP carries CRLF line ends; compare content, not wire framing
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def test_sends_the_reference_message(serve: Serve) -> None:
    recorder, port = serve("plain")
    result = email(port).send(notification(key="delivery-42-1"))
    assert result.ok, result.reason
    ((envelope, message),) = recorder.messages
    assert envelope.mail_from == "alerts@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "pr@example.com"]
    assert message.get_content_type() == "multipart/alternative"
    headers = {name: str(message[name]) for name in ("Subject", "From", "To", "Message-ID", "References")}
    headers |= {name: str(message[name]) for name in ("Auto-Submitted", "X-Earshot-Alert-Id")}
    text, html = parts(message)
    check_fixture("email_headers.json", headers)
    check_fixture("email.txt", text)
    check_fixture("email.html", html)
    assert message["Date"]


def test_starttls_with_login(serve: Serve, certificates: Certificates) -> None:
    recorder, port = serve("starttls")
    channel = email(
        port, security="starttls", username=USER, password=PASSWORD, ca_file=str(certificates.ca_file)
    )
    result = channel.send(notification())
    assert result.ok, result.reason
    assert len(recorder.messages) == 1  # the server refuses MAIL before STARTTLS and AUTH


def test_implicit_tls(serve: Serve, certificates: Certificates) -> None:
    recorder, port = serve("tls")
    result = email(port, security="tls", ca_file=str(certificates.ca_file)).send(notification())
    assert result.ok, result.reason
    assert len(recorder.messages) == 1


def test_a_wrong_password_fails_permanently(serve: Serve, certificates: Certificates) -> None:
    recorder, port = serve("starttls")
    channel = email(
        port, security="starttls", username=USER, password="nope", ca_file=str(certificates.ca_file)
    )
    result = channel.send(notification())
    assert result.outcome is DeliveryOutcome.FAILED and result.status_code == 535
    assert "nope" not in result.reason and not recorder.messages


def test_an_untrusted_certificate_fails_rather_than_sending(serve: Serve) -> None:
    recorder, port = serve("starttls")
    result = email(port, security="starttls", username=USER, password=PASSWORD).send(notification())
    assert result.outcome is DeliveryOutcome.FAILED and "certificate" in result.reason
    assert not recorder.messages


def test_starttls_is_never_silently_skipped(serve: Serve, certificates: Certificates) -> None:
    recorder, port = serve("plain")  # this server does not offer STARTTLS
    result = email(port, security="starttls", ca_file=str(certificates.ca_file)).send(notification())
    assert result.outcome is DeliveryOutcome.FAILED and "STARTTLS" in result.reason
    assert not recorder.messages


@pytest.mark.parametrize(
    ("recipients", "outcome", "code"),
    [
        (["bounce@example.com"], DeliveryOutcome.FAILED, 550),
        (["later@example.com"], DeliveryOutcome.RETRY, 451),
        (["bounce@example.com", "later@example.com"], DeliveryOutcome.RETRY, 451),
    ],
)
def test_refused_recipients(serve: Serve, recipients: list[str], outcome: DeliveryOutcome, code: int) -> None:
    recorder, port = serve("plain")
    result = email(port, recipients=recipients).send(notification())
    assert result.outcome is outcome and result.status_code == code
    assert recipients[0] in result.reason and not recorder.messages


def test_partly_refused_is_delivered_and_says_who_missed_out(serve: Serve) -> None:
    recorder, port = serve("plain")
    result = email(port, recipients=["oncall@example.com", "bounce@example.com"]).send(notification())
    assert result.ok and "bounce@example.com" in result.reason
    assert recorder.messages[0][0].rcpt_tos == ["oncall@example.com"]


def test_a_server_that_never_greets_times_out(silent_peer: SilentPeer) -> None:
    result = email(silent_peer.port, timeout=SHORT_TIMEOUT).send(notification())
    assert result.outcome is DeliveryOutcome.RETRY and "timed out" in result.reason


def test_connection_refused_retries() -> None:
    result = email(closed_port(), timeout=SHORT_TIMEOUT).send(notification())
    assert result.outcome is DeliveryOutcome.RETRY


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


OUR_TAGS = {"html", "body", "div", "h2", "p", "table", "tr", "th", "td", "blockquote", "a", "br"}


@pytest.mark.parametrize("field", ["mention_text", "author", "title", "summary"])
def test_hostile_text_stays_text_in_both_parts(serve: Serve, hostile: list[str], field: str) -> None:
    recorder, port = serve("plain")
    channel = email(port)
    for text in hostile:
        changes: dict[str, Any] = {field: text}
        assert channel.send(notification(**changes)).ok
    for _, message in recorder.messages:
        plain, html = parts(message)
        collector = TagCollector()
        collector.feed(html)
        assert {tag for tag, _ in collector.tags} <= OUR_TAGS
        hrefs = [value for tag, attrs in collector.tags for name, value in attrs if name == "href"]
        assert hrefs == ["https://social.example/@dana/112233?ref=feed&lang=en"]
        assert not any(name.startswith("on") for _, attrs in collector.tags for name, _ in attrs)
        for body in (plain, html, str(message["Subject"])):
            assert not re.search(r"@(channel|here|everyone)\b", body, re.IGNORECASE)


def test_a_title_cannot_inject_headers(serve: Serve) -> None:
    recorder, port = serve("plain")
    assert email(port).send(notification(title="Hi\r\nBcc: victim@evil.example\r\n\r\nbody")).ok
    envelope, message = recorder.messages[0]
    assert message["Bcc"] is None and "victim@evil.example" not in envelope.rcpt_tos
    assert "\n" not in str(message["Subject"])


def test_a_100k_mention_is_cut_in_both_parts(serve: Serve) -> None:
    recorder, port = serve("plain")
    huge = ("<b>bold</b> & " * 8000)[:100_000]
    assert email(port).send(notification(mention_text=huge)).ok
    plain, html = parts(recorder.messages[0][1])
    assert len(plain) <= EmailChannel.max_message_chars and "…" in plain
    assert len(html) <= EmailChannel.max_message_chars and "…" in html
    assert len(html) > EmailChannel.max_message_chars - 100  # cut close to the limit, not dropped
    assert "&lt;b&gt;bold&lt;/b&gt; &amp;" in html


def test_every_notification_about_one_alert_threads_together(serve: Serve) -> None:
    recorder, port = serve("plain")
    channel = email(port)
    for action, key in [(NotificationAction.FIRE, "d-1"), (NotificationAction.RESOLVE, "d-2")]:
        assert channel.send(notification(action=action, key=key)).ok
    fire, resolve = (message for _, message in recorder.messages)
    assert fire["References"] == resolve["References"] == "<earshot-alert-42@example.com>"
    assert fire["Message-ID"] != resolve["Message-ID"]
    assert str(resolve["Subject"]) == "[Earshot] Resolved: Outage complaint about Acme Cloud"


def test_the_base_enforces_the_class_rate_limit(serve: Serve) -> None:
    class TwoPerMinute(EmailChannel):
        max_per_minute: ClassVar[int | None] = 2

    recorder, port = serve("plain")
    channel = email(port, cls=TwoPerMinute)
    outcomes = [channel.send(notification(key=f"k{i}")).outcome for i in range(3)]
    assert outcomes == [DeliveryOutcome.DELIVERED, DeliveryOutcome.DELIVERED, DeliveryOutcome.RETRY]
    assert len(recorder.messages) == 2


def test_describe_masks_the_password() -> None:
    channel = email(25, security="starttls", username=USER, password=PASSWORD)
    assert PASSWORD not in channel.describe(privacy=True)
    assert PASSWORD in channel.describe(privacy=False)


@pytest.mark.parametrize(
    "changes",
    [
        {"password": PASSWORD},  # no username
        {"username": USER, "password": PASSWORD, "security": "none"},  # cleartext password
        {"recipients": []},
        {"recipients": ["not-an-address"]},
        {"sender": "alerts@example.com\r\nBcc: x@evil.example"},
        {"security": "ssl3"},
    ],
)
def test_bad_options_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        email(25, **changes)
    assert PASSWORD not in str(info.value)


def test_fixture_files_exist() -> None:
    folder = Path(__file__).parent / "fixtures"
    assert {"email.txt", "email.html", "email_headers.json"} <= {p.name for p in folder.iterdir()}

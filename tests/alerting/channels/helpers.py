"""Shared test data for channel tests: the reference alert, hostile text, fixtures, dead peers."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

from alerting.channels.base import Channel
from alerting.channels.registry import channels
from domain import Alert, AlertKind, AlertStatus, Notification, NotificationAction, Urgency

FIXTURES = Path(__file__).parent / "fixtures"
SANITIZE_CORPUS = Path(__file__).resolve().parents[4] / "shared/corpora/feedparser-tests/wellformed/sanitize"
# Set EARSHOT_UPDATE_FIXTURES=1 to rewrite fixtures after a deliberate format change; review the diff.
UPDATE = os.environ.get("EARSHOT_UPDATE_FIXTURES") == "1"

REFERENCE_ALERT = Alert(
    id=42,
    kind=AlertKind.MENTION,
    title="Outage complaint about Acme Cloud",
    summary="A high-reach account says Acme Cloud has been down in eu-west for 20 minutes.",
    urgency=Urgency.HIGH,
    status=AlertStatus.FIRING,
    team="support",
    route="outages",
    reason="category outage with urgency high",
    group_key="acme-cloud:outage",
    created_at=dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    brand="Acme Cloud",
    mention_url="https://social.example/@dana/112233?ref=feed&lang=en",
    mention_text="@AcmeCloud your dashboard has been down for 20 minutes & nobody answers.\nStill waiting!",
    author="@dana",
    source="mastodon",
    categories=("outage", "support"),
    sentiment="negative",
    count=3,
)

# Hand-written attacks on chat formats; the HTML ones come from the feedparser sanitizer corpus.
CHAT_ATTACKS = [
    "<!channel> <!here> <!everyone> <@U024BE7LH> <#C024BE7LR> <!subteam^S123>",
    "please <http://evil.example/login|click here to verify> your account",
    "@channel @here @everyone @Everyone heads up",
    "*bold* _italic_ ~strike~ `code` ```block``` > quote",
    "[Acme support](http://evil.example/phish) ![x](http://evil.example/pixel.png) <at>Dana</at>",
    "1. first\n- item\n# Heading\n> quoted\n=====",
    "\u202egnp.exe\u202c harmless \x00\x07\x1b[31m red \r\nline",
]
HOSTILE_FILES = [
    "entry_content_script.xml",
    "entry_content_crazy.xml",
    "entry_content_onclick.xml",
    "entry_content_iframe.xml",
    "entry_content_link.xml",
    "entry_content_style_tag.xml",
]


def hostile_strings() -> list[str]:
    """Real hostile markup read at test time from the shared feedparser corpus, plus chat attacks."""
    found = []
    for name in HOSTILE_FILES:
        root = ET.parse(SANITIZE_CORPUS / name).getroot()
        for element in root.iter():
            if (
                element.tag.endswith(("content", "summary", "title"))
                and element.text
                and element.text.strip()
            ):
                found.append(element.text.strip())
    assert len(found) >= len(HOSTILE_FILES), "sanitize corpus moved?"
    return found + CHAT_ATTACKS


def notification(
    alert: Alert = REFERENCE_ALERT,
    action: NotificationAction = NotificationAction.FIRE,
    key: str = "delivery-42-1",
    **changes: Any,
) -> Notification:
    """A notification about the reference alert, with any alert fields replaced."""
    return Notification(alert=replace(alert, **changes), action=action, idempotency_key=key)


def check_fixture(name: str, actual: Any) -> None:
    """Compare ``actual`` (JSON-able, or str for text fixtures) with fixtures/<name>."""
    path = FIXTURES / name
    text = actual if isinstance(actual, str) else json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if isinstance(actual, str):
        assert actual == expected
    else:
        assert actual == json.loads(expected)


def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class SilentPeer:
    """A loopback listener that completes TCP handshakes and then never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)  # the kernel accepts into the backlog; nobody ever reads
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


# Secrets planted in each network channel's options; describe(privacy=True) must hide them.
SLACK_TOKEN = "T0000ABCD/B0000EFGH/abcdefghijklmnopqrstuvwx"
TEAMS_SIG = "SiGnAtUrE-0123456789abcdefghijklmnopq"
WEBHOOK_TOKEN = "url-token-5f0c2e9a"
WEBHOOK_SECRET = "whsec-0123456789abcdef0123456789"
WEBHOOK_AUTH = "Bearer receiver-token-77aa"
PAGERDUTY_KEY = "R0UT1NGKEY0123456789abcdefabcdef"
APPRISE_TOKEN = "apprise-path-token-9d8c7b"

# Where each HTTP channel POSTs on the receiver, and the secrets its options hold.
HTTP_PATHS = {
    "slack": f"/services/{SLACK_TOKEN}",
    "teams": "/workflows/0f3c/triggers/manual/paths/invoke",
    "webhook": f"/hooks/earshot/{WEBHOOK_TOKEN}",
    "pagerduty": "/v2/enqueue",
    "apprise": f"/apprise/{APPRISE_TOKEN}",
}
SECRETS = {
    "slack": [SLACK_TOKEN],
    "teams": [TEAMS_SIG],
    "webhook": [WEBHOOK_TOKEN, WEBHOOK_SECRET, WEBHOOK_AUTH],
    "pagerduty": [PAGERDUTY_KEY],
    "apprise": [APPRISE_TOKEN],
}


def make_http_channel(
    kind: str, port: int, timeout: float = 2.0, cls: type[Channel[Any]] | None = None
) -> Channel[Any]:
    """A channel of ``kind`` pointed at 127.0.0.1:``port``; ``cls`` may be a subclass of the real one."""
    base = f"http://127.0.0.1:{port}"
    options: dict[str, Any] = {"timeout": timeout}
    if kind == "slack":
        options["webhook_url"] = base + HTTP_PATHS["slack"]
    elif kind == "teams":
        options["webhook_url"] = base + HTTP_PATHS["teams"] + f"?api-version=1&sp=%2Ftriggers&sig={TEAMS_SIG}"
    elif kind == "webhook":
        options |= {
            "url": base + HTTP_PATHS["webhook"],
            "secret": WEBHOOK_SECRET,
            "headers": {"Authorization": WEBHOOK_AUTH},
        }
    elif kind == "pagerduty":
        options |= {"base_url": base, "routing_key": PAGERDUTY_KEY, "client_url": "https://earshot.example/"}
    elif kind == "apprise":
        options["url"] = f"json://127.0.0.1:{port}{HTTP_PATHS['apprise']}"
    else:
        raise ValueError(kind)
    real = channels.get(kind)
    channel_cls = cls or real
    return channel_cls(name=f"{kind}-test", options=real.options_model(**options))

"""The generic JSON webhook channel, and the HTTP delivery every webhook-style channel shares.

Request: ``POST`` to the configured URL with ``Content-Type: application/json`` and a UTF-8 body
shaped ``{"schema": "earshot.alert.v1", "action": ..., "idempotency_key": ..., "alert": {...}}``.
Mention text is sent as-is (JSON-escaped only): the receiver must escape it for whatever it
renders.

Signing scheme (so a receiver can tell Earshot's requests from anyone else's):

* ``X-Earshot-Timestamp``: Unix time in whole seconds when the request was signed.
* ``X-Earshot-Signature``: ``sha256=`` followed by the lowercase hex HMAC-SHA256, keyed with the
  shared secret, of the bytes ``f"{timestamp}.".encode() + body`` (the exact body bytes received).
* ``Idempotency-Key``: the notification's idempotency key; the same for every retry of one
  delivery, so a receiver drops a repeat after a crash between sending and recording it.

A receiver recomputes the HMAC over the raw body, compares with :func:`hmac.compare_digest`, and
rejects timestamps more than a few minutes from its clock so a captured request cannot be
replayed later; :func:`verify_signature` does exactly that.

Response mapping, shared by Slack, Teams and PagerDuty through :func:`post_json`: 2xx delivered;
429 retry after ``Retry-After`` (seconds or an HTTP date); 408, 425 and 5xx, timeouts and connection
errors retry; redirects and other 4xx fail permanently with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from abc import ABC
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import ConfigDict, Field, SecretStr, field_validator

from alerting.channels.base import Channel, ChannelOptions
from alerting.channels.render import alert_link, clean, drilldown_link, fit
from domain import Alert, DeliveryResult, Notification

USER_AGENT = "Earshot-Alerts/0.1"
SIGNATURE_TOLERANCE_SECONDS = 300
# Statuses that mean "not now" rather than "never": request timeout, too early, too many requests.
_TRANSIENT_4XX = {408, 425, 429}
_REASON_CHARS = 300


class HttpOptions(ChannelOptions):
    """Options every HTTP channel has."""

    # Validation errors must not quote the rejected value: it is usually a secret URL or key.
    model_config = ConfigDict(hide_input_in_errors=True)

    timeout: float = Field(10.0, gt=0, le=120, description="Seconds for connect, write and read.")


HttpOptionsT = TypeVar("HttpOptionsT", bound=HttpOptions)


def check_http_url(value: SecretStr) -> SecretStr:
    """Validate a secret URL is absolute http(s) without echoing it into the error."""
    url = value.get_secret_value()
    if not url.startswith(("https://", "http://")) or len(url) < len("http://x"):
        raise ValueError("must be an absolute http(s) URL")
    return value


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After`` given as delta-seconds or an HTTP date; None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a naive parse means the zone was omitted
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_response(response: httpx.Response, secrets: tuple[str, ...] = ()) -> DeliveryResult:
    """Map an HTTP response to delivered, retry-after or failed."""
    code = response.status_code
    if 200 <= code < 300:
        return DeliveryResult.delivered(f"HTTP {code}", status_code=code)
    reason = _redact(f"HTTP {code}: {_snippet(response)}", secrets)
    if code in _TRANSIENT_4XX or code >= 500:
        after = retry_after_seconds(response.headers.get("Retry-After"))
        return DeliveryResult.retry(reason, after_seconds=after, status_code=code)
    if 300 <= code < 400:
        return DeliveryResult.failed(f"HTTP {code}: unexpected redirect; check the URL", status_code=code)
    return DeliveryResult.failed(reason, status_code=code)


def post_json(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    secrets: tuple[str, ...] = (),
) -> DeliveryResult:
    """POST a JSON body and classify the outcome; never raises for network trouble."""
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    secrets = (*secrets, *_url_secrets(url))
    try:
        response = client.post(url, content=body, headers=all_headers)
    except httpx.TimeoutException as exc:
        return DeliveryResult.retry(_redact(f"timed out: {type(exc).__name__}", secrets))
    except httpx.TransportError as exc:
        return DeliveryResult.retry(_redact(f"{type(exc).__name__}: {exc}", secrets))
    return classify_response(response, secrets)


def _url_secrets(url: str) -> tuple[str, ...]:
    # Webhook URLs carry their credential in the path (Slack) or the query (Teams' sig=); a server
    # echoing either back in an error must not put it into our logs and database.
    parts = urlsplit(url)
    values = [value for _, value in parse_qsl(parts.query) if len(value) >= 8]
    segments = [segment for segment in parts.path.split("/") if len(segment) >= 16]
    path = parts.path if len(parts.path) > 1 else ""
    return tuple(secret for secret in (url, path, parts.query, *values, *segments) if secret)


def _snippet(response: httpx.Response) -> str:
    text = clean(response.text).strip().replace("\n", " ")
    return (text[:_REASON_CHARS] + "…") if len(text) > _REASON_CHARS else (text or response.reason_phrase)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    # Transport errors and echoing servers can quote the URL; a webhook URL is a credential.
    for secret in sorted(secrets, key=len, reverse=True):  # longest first, so parts of it go too
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


class HttpChannel(Channel[HttpOptionsT], ABC):
    """A channel that POSTs over one reused httpx client, closed with the channel."""

    _client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        """The channel's HTTP client, created on first use with the configured timeout."""
        if self._client is None:
            # No redirects: a webhook that moved is a configuration error, and following one
            # would replay a signed body, with its credentials, to another host.
            self._client = httpx.Client(timeout=self.options.timeout, follow_redirects=False)
        return self._client

    def close(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Earshot-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """Receiver side: True when ``signature`` matches and ``timestamp`` is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookOptions(HttpOptions):
    """Options for the generic JSON webhook."""

    url: SecretStr = Field(description="Receiver URL; secret because such URLs often carry tokens.")
    secret: SecretStr = Field(description="Shared HMAC key, at least 16 characters.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Extra headers, e.g. auth.")

    _check_url = field_validator("url")(check_http_url)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("signing secret must be at least 16 characters")
        return value


def alert_payload(alert: Alert, mention_text: str | None, base_url: str | None = None) -> dict[str, Any]:
    """The alert as a JSON-ready dict, with ``mention_text`` already cut to fit.

    ``url`` is the alert in Earshot and ``drilldown_url`` a spike's mentions, both null unless the
    dashboard's public address (``web.base_url``) is configured.
    """
    return {
        "id": alert.id,
        "url": alert_link(base_url, alert),
        "drilldown_url": drilldown_link(base_url, alert),
        "kind": alert.kind.value,
        "title": alert.title,
        "summary": alert.summary,
        "urgency": alert.urgency.value,
        "status": alert.status.value,
        "team": alert.team,
        "route": alert.route,
        "reason": alert.reason,
        "group_key": alert.group_key,
        "created_at": alert.created_at.isoformat(),
        "brand": alert.brand,
        "source": alert.source,
        "author": alert.author,
        "mention_url": alert.mention_url,
        "mention_text": mention_text,
        "categories": list(alert.categories),
        "sentiment": alert.sentiment,
        "count": alert.count,
        "details": alert.details,
    }


def _encode(payload: dict[str, Any]) -> bytes:
    # Compact and UTF-8, so the bytes signed are the bytes sent; default=str keeps odd detail
    # values (datetimes, decimals) from failing the whole delivery.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class WebhookChannel(HttpChannel[WebhookOptions]):
    """POSTs a signed JSON document per notification to any HTTP receiver."""

    kind: ClassVar[str] = "webhook"
    options_model: ClassVar[type[ChannelOptions]] = WebhookOptions
    # Our own ceiling on the encoded body: receivers commonly cap request bodies at 64 KiB.
    max_message_chars: ClassVar[int] = 64_000
    # The receiver is the user's own service; it pushes back with 429 + Retry-After if needed.
    max_per_minute: ClassVar[int | None] = None

    def render(self, notification: Notification) -> bytes:
        """The exact request body, cut to ``max_message_chars``."""
        alert = notification.alert
        envelope: dict[str, Any] = {
            "schema": "earshot.alert.v1",
            "action": notification.action.value,
            "idempotency_key": notification.idempotency_key,
            "truncated": False,
            "alert": alert_payload(alert, alert.mention_text, self.base_url),
        }
        body = _encode(envelope)
        if len(body.decode()) <= self.max_message_chars:
            return body
        # Too big: the mention text is the only unbounded part, so it gives way first, then details.
        envelope["truncated"] = True
        envelope["alert"]["mention_text"] = None
        envelope["alert"]["details"] = {}
        room = self.max_message_chars - len(_encode(envelope).decode())
        text = alert.mention_text or ""
        if room > 0 and text:
            envelope["alert"]["mention_text"] = _fit_json(text, room)
        return _encode(envelope)

    def _send(self, notification: Notification) -> DeliveryResult:
        body = self.render(notification)
        timestamp = str(int(time.time()))
        secret = self.options.secret.get_secret_value()
        extra = {name: value.get_secret_value() for name, value in self.options.headers.items()}
        headers = extra | {
            "X-Earshot-Timestamp": timestamp,
            "X-Earshot-Signature": sign(secret, timestamp, body),
        }
        if notification.idempotency_key:
            headers["Idempotency-Key"] = notification.idempotency_key
        secrets = (secret, *extra.values())
        return post_json(self.client, self.options.url.get_secret_value(), body, headers, secrets)


def _json_chars(text: str) -> int:
    # Characters ``text`` takes inside a JSON string (escapes included, quotes not).
    return len(json.dumps(text, ensure_ascii=False)) - 2


def _fit_json(text: str, room: int) -> str:
    # Sent raw, so no escaper; measured as JSON. The string replaces a ``null`` (4 characters)
    # already counted in the body, and brings 2 quotes: its content may take room + 2.
    return fit(text, room + 2, _unchanged, measure=_json_chars)


def _unchanged(text: str) -> str:
    return text

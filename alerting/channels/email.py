"""Email over SMTP: one multipart message (plain text + HTML) per notification.

``security`` picks the transport: ``starttls`` (submission, port 587; the upgrade is required,
never skipped when the server does not offer it), ``tls`` (implicit TLS, port 465) or ``none``
(a trusted local relay; passwords are refused there). Untrusted text is escaped with
:func:`escape_html` in the HTML part and :func:`escape_plain` in the text part and subject.
Every notification about one alert carries the same ``References`` header so mail clients thread
them, and a ``Message-ID`` derived from the idempotency key so a retried delivery is recognisable.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from alerting.channels.base import Channel, ChannelOptions
from alerting.channels.render import (
    FIELD_CHARS,
    SUMMARY_CHARS,
    TITLE_CHARS,
    AlertView,
    escape_html,
    escape_plain,
    fit,
)
from domain import DeliveryResult, Notification, Urgency

SUBJECT_CHARS = 200
_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_COLOURS = {
    Urgency.CRITICAL: "#b00020",
    Urgency.HIGH: "#d9480f",
    Urgency.MEDIUM: "#f08c00",
    Urgency.LOW: "#868e96",
}


def _address(value: str) -> str:
    if "\r" in value or "\n" in value or "@" not in parseaddr(value)[1]:
        raise ValueError(f"not an email address: {value!r}")
    return value


class EmailOptions(ChannelOptions):
    """Options for an SMTP channel."""

    # Validation errors must not quote the rejected value: it may be a password or secret URL.
    model_config = ConfigDict(hide_input_in_errors=True)

    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(description="From address, e.g. 'Earshot <alerts@example.com>'.")
    recipients: list[str] = Field(min_length=1)
    subject_prefix: str = "[Earshot]"
    timeout: float = Field(10.0, gt=0, le=120)
    ca_file: str | None = Field(None, description="PEM bundle to trust instead of the system store.")
    local_hostname: str | None = Field(None, description="Name sent in EHLO; defaults to this host's FQDN.")

    _check_sender = field_validator("sender")(_address)

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, values: list[str]) -> list[str]:
        return [_address(value) for value in values]

    @model_validator(mode="after")
    def _credentials(self) -> EmailOptions:
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        if self.password is not None and self.security == "none":
            raise ValueError("refusing to send an SMTP password unencrypted; use starttls or tls")
        return self


class EmailChannel(Channel[EmailOptions]):
    """Sends each notification as a multipart email through an SMTP server."""

    kind: ClassVar[str] = "email"
    options_model: ClassVar[type[ChannelOptions]] = EmailOptions
    # Per body part. SMTP servers accept megabytes; this keeps an alert readable, not a novel.
    max_message_chars: ClassVar[int] = 50_000
    # SMTP relays set their own limits and answer 4xx when exceeded, which we retry.
    max_per_minute: ClassVar[int | None] = None

    def render(self, notification: Notification) -> EmailMessage:
        """The message as it will be sent (Date and a fallback Message-ID vary per call)."""
        view = self.view(notification)
        alert = notification.alert
        domain = parseaddr(self.options.sender)[1].rpartition("@")[2] or "earshot.invalid"
        msg = EmailMessage()
        subject = f"{self.options.subject_prefix} {view.title}".strip()
        msg["Subject"] = fit(subject, SUBJECT_CHARS, _one_line)
        msg["From"] = self.options.sender
        msg["To"] = ", ".join(self.options.recipients)
        msg["Date"] = formatdate(usegmt=True)
        key = _ID_CHARS.sub("", notification.idempotency_key)
        msg["Message-ID"] = f"<{key}@{domain}>" if key else make_msgid(domain=domain)
        msg["References"] = f"<earshot-alert-{alert.id}@{domain}>"
        # RFC 3834: tells vacation responders and ticket systems not to reply to an alert.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Earshot-Alert-Id"] = str(alert.id)
        # Quoted-printable keeps the message 7-bit: an 8bit part would need BODY=8BITMIME, which
        # smtplib does not declare and a relay without 8BITMIME may mangle or refuse.
        msg.set_content(self.render_text(view), cte="quoted-printable")
        msg.add_alternative(self.render_html(view, alert.urgency), subtype="html", cte="quoted-printable")
        return msg

    def render_text(self, view: AlertView) -> str:
        """The text/plain part, at most ``max_message_chars`` characters."""
        without_quote = view.as_text(escape_plain, quote_limit=1)
        room = max(1, self.max_message_chars - len(without_quote))
        return view.as_text(escape_plain, quote_limit=room)

    def render_html(self, view: AlertView, urgency: Urgency) -> str:
        """The text/html part, at most ``max_message_chars`` characters."""
        # Measure the page around a one-character quote so the blockquote markup is counted too.
        room = self.max_message_chars - (len(_html(view, urgency, quote="x")) - 1)
        quote = fit(view.quote, room, _html_lines) if view.quote and room > 0 else ""
        return _html(view, urgency, quote)

    def _send(self, notification: Notification) -> DeliveryResult:
        msg = self.render(notification)
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._connect()
            if self.options.username and self.options.password is not None:
                smtp.login(self.options.username, self.options.password.get_secret_value())
            refused = smtp.send_message(msg)
        except Exception as exc:  # smtplib raises a zoo of types; classify them all
            if smtp is not None:
                smtp.close()  # no QUIT: a server that just timed out would make us wait twice
            return _classify(exc)
        _quietly_quit(smtp)
        if refused:
            return DeliveryResult.delivered(f"accepted, but refused for: {', '.join(sorted(refused))}")
        return DeliveryResult.delivered("accepted by SMTP server")

    def _connect(self) -> smtplib.SMTP:
        options = self.options
        context = ssl.create_default_context(cafile=options.ca_file)
        if options.security == "tls":
            return smtplib.SMTP_SSL(
                options.host, options.port, options.local_hostname, timeout=options.timeout, context=context
            )
        smtp = smtplib.SMTP(options.host, options.port, options.local_hostname, timeout=options.timeout)
        if options.security == "starttls":
            try:
                smtp.starttls(context=context)  # raises SMTPNotSupportedError rather than downgrade
            except BaseException:
                smtp.close()
                raise
        return smtp


def _one_line(text: str) -> str:
    # A newline in a header value would end the header; folding is the email library's job.
    return escape_plain(text).replace("\n", " ")


def _html_lines(text: str) -> str:
    return escape_html(text).replace("\n", "<br>\n")


def _html(view: AlertView, urgency: Urgency, quote: str) -> str:
    esc = escape_html
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0;color:#555">{esc(label)}</th>'
        f"<td>{fit(value, FIELD_CHARS, esc)}</td></tr>\n"
        for label, value in view.fields
    )
    parts = [
        '<!DOCTYPE html>\n<html><body style="font-family:sans-serif;font-size:14px">\n',
        f'<div style="border-left:4px solid {_COLOURS[urgency]};padding-left:12px">\n',
        f'<h2 style="margin:0 0 8px">{fit(view.title, TITLE_CHARS, esc)}</h2>\n',
        f"<p>{fit(view.summary, SUMMARY_CHARS, _html_lines)}</p>\n",
        f"<table>\n{rows}</table>\n",
    ]
    if quote:
        parts.append(f'<blockquote style="margin:12px 0;padding-left:8px;color:#333">{quote}</blockquote>\n')
    links = view.links()
    if links:
        anchors = " · ".join(f'<a href="{html.escape(url, quote=True)}">{label}</a>' for label, url in links)
        parts.append(f"<p>{anchors}</p>\n")
    parts.append(f'<p style="color:#888;font-size:12px">{esc(view.footer)}</p>\n</div>\n</body></html>\n')
    return "".join(parts)


def _classify(exc: Exception) -> DeliveryResult:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryResult.failed(f"TLS certificate not trusted: {exc.verify_message}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryResult.failed(f"server cannot do what the options require: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
        if any(code < 500 for code in codes):
            return DeliveryResult.retry(f"recipients deferred: {detail}", status_code=min(codes))
        return DeliveryResult.failed(f"recipients refused: {detail}", status_code=max(codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        reason = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            return DeliveryResult.failed(reason, status_code=exc.smtp_code)
        return DeliveryResult.retry(reason, status_code=exc.smtp_code)
    if isinstance(exc, TimeoutError):
        return DeliveryResult.retry("SMTP server timed out")
    return DeliveryResult.retry(f"{type(exc).__name__}: {exc}")


def _text(message: bytes | str) -> str:
    return message.decode(errors="replace") if isinstance(message, bytes) else message


def _quietly_quit(smtp: smtplib.SMTP) -> None:
    # The message is already accepted (or already failed); a rude hang-up must not change that.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()

"""Settings of the web app and of sign-in, as they appear in earshot.yaml."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# Always reachable from the machine itself (a health probe, an SSH tunnel).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
_ANY_ADDRESS = {"0.0.0.0", "::", ""}


class WebConfig(BaseModel):
    """The dashboard and REST API."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Public address of the dashboard (e.g. https://earshot.example.com); notifications link to alerts there.
    base_url: str | None = None
    # Host names the app answers to; any other Host header gets 400 (DNS rebinding).
    # Empty: the configured host, base_url's host and the loopback names.
    allowed_hosts: list[str] = Field(default_factory=list)

    def hosts(self) -> list[str]:
        """The Host names accepted: allowed_hosts, or the defaults described above."""
        if self.allowed_hosts:
            return list(dict.fromkeys(self.allowed_hosts))
        names = [*LOCAL_HOSTS]
        if self.host not in _ANY_ADDRESS:
            names.append(self.host)
        if self.base_url:
            public = urlsplit(self.base_url).hostname
            if public:
                names.append(public)
        return list(dict.fromkeys(names))


class AuthConfig(BaseModel):
    """Accounts, sessions and API tokens."""

    model_config = ConfigDict(extra="forbid")

    # Signs session cookies. Unset: a random key is generated once and kept in the database.
    # At least 32 characters: an empty ${VAR:-} or a short word would make cookies forgeable.
    session_secret: SecretStr | None = Field(None, min_length=32)
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # Send the session cookie over HTTPS only. Unset: only when web.base_url is https.
    secure_cookies: bool | None = None
    # Sign-in attempts: this many failures per name and address within the window get 429.
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_window_minutes: float = Field(15.0, gt=0, le=24 * 60)
    # /metrics always takes an API token; true also lets the loopback address scrape without one.
    metrics_loopback_open: bool = False

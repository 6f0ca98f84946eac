"""Settings of the web app and of sign-in, as they appear in earshot.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebConfig(BaseModel):
    """The dashboard and REST API."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Public address of the dashboard (e.g. https://earshot.example.com); notifications link to alerts there.
    base_url: str | None = None


class AuthConfig(BaseModel):
    """Accounts, sessions and API tokens."""

    model_config = ConfigDict(extra="forbid")

"""Accounts: users with their role and teams, API tokens, failed sign-ins and the signing secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class UserRow(Base):
    """A person who signs in (or whose API tokens call the API)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # argon2id in PHC string form; None for an account that only uses API tokens.
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    teams: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Bumped on a password change: session cookies carry it, so older cookies stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class ApiTokenRow(Base):
    """An API token: only its SHA-256 is kept, so a leaked database does not leak tokens."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a person can tell their tokens apart in `earshot tokens list`.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LoginFailureRow(Base):
    """One failed sign-in; counted per name and address to refuse guessing (shared by every worker)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_name_ip_at", "name", "ip", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class AuthSecretRow(Base):
    """A generated secret (the session signing key), stored so every worker and restart agrees."""

    __tablename__ = "auth_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

"""Account services shared by the CLI and the web: passwords, sign-in, API tokens.

Passwords are hashed with argon2id (argon2-cffi's defaults). API tokens are random and only their
SHA-256 is stored: a token has 256 bits of entropy, so a fast hash is enough and lookups stay
cheap; the token itself is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session, sessionmaker

from storage import accounts
from storage.accounts import Account, AccountError
from web.auth import ROLES, Role, User

TOKEN_PREFIX = "esk_"
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
_HASHER = PasswordHasher()
# Verified against when the name is unknown, so a missing user takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class BadCredentials(Exception):
    """The name or the password is wrong (never said which)."""


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this name from this address; try again after ``retry_after``."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after}")
        self.retry_after = retry_after


def user_of(account: Account) -> User:
    """The web's view of a stored account."""
    role: Role = account.role if account.role in ROLES else "viewer"
    return User(id=account.id, name=account.name, role=role, teams=account.teams)


def check_password(password: str) -> str:
    """``password`` when acceptable; ValueError saying why not."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"a password may have at most {MAX_PASSWORD_CHARS} characters")
    return password


def hash_password(password: str) -> str:
    """The argon2id hash of an acceptable password (ValueError otherwise)."""
    return _HASHER.hash(check_password(password))


def password_matches(stored: str | None, password: str) -> bool:
    """True when ``password`` matches the stored hash (always False for a token-only account)."""
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(
    session: Session, *, name: str, role: str, teams: tuple[str, ...], password: str | None, now: datetime
) -> User:
    """Create a user (password optional: without one the account only uses API tokens)."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 128 or name != name.strip():
        raise AccountError("a user name has 1 to 128 characters and no surrounding spaces")
    hashed = hash_password(password) if password is not None else None
    return user_of(
        accounts.add_user(session, name=name, role=role, teams=teams, password_hash=hashed, now=now)
    )


def change_password(session: Session, *, name: str, password: str) -> None:
    """Set a user's password and sign them out everywhere."""
    accounts.set_password(session, name=name, password_hash=hash_password(password))


def create_token(session: Session, *, name: str, now: datetime) -> tuple[int, str]:
    """A new API token for user ``name``: (its id, the token itself, shown only now)."""
    account = accounts.user_by_name(session, name)
    if account is None:
        raise AccountError(f"no user named {name!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = accounts.add_token(
        session, user_id=account.id, token_sha256=token_hash(token), prefix=token[:10], now=now
    )
    return token_id, token


def token_user(session: Session, *, token: str, now: datetime) -> User | None:
    """The owner of a live API token, or None for an unknown or revoked one."""
    account = accounts.token_owner(session, token_sha256=token_hash(token), now=now)
    return user_of(account) if account is not None else None


def sign_in(
    sessions: sessionmaker[Session],
    *,
    name: str,
    password: str,
    ip: str,
    now: datetime,
    max_failures: int,
    window: timedelta,
) -> Account:
    """The account for a correct name and password; BadCredentials or TooManyAttempts otherwise.

    Failures are counted per name and address in the database, so every worker sees them; once
    ``max_failures`` are reached within ``window`` the password is not even checked.
    """
    name = name[:128]
    with sessions.begin() as session:
        if accounts.recent_failures(session, name=name, ip=ip, since=now - window) >= max_failures:
            raise TooManyAttempts(retry_after=window)
        account = accounts.user_by_name(session, name)
        if account is not None and password_matches(account.password_hash, password):
            accounts.clear_failures(session, name=name, ip=ip)
            return account
        if account is None:
            password_matches(None, password)
        accounts.record_failure(session, name=name, ip=ip, now=now, keep=window)
    raise BadCredentials("wrong name or password")


def first_admin(sessions: sessionmaker[Session], *, password: str | None, now: datetime) -> bool:
    """Create user ``admin`` with ``password`` when no user exists yet; True when it did."""
    if not password:
        return False
    with sessions.begin() as session:
        if accounts.count_users(session):
            return False
        add_user(session, name="admin", role="admin", teams=(), password=password, now=now)
    return True

"""Users, API tokens, failed sign-ins and generated secrets. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.account_tables import ApiTokenRow, AuthSecretRow, LoginFailureRow, UserRow
from storage.models import AlertRow, DeliveryRow

# Writing last_used_at on every call would turn each read into a write; once a minute is enough.
_TOUCH_EVERY = timedelta(minutes=1)


class AccountError(ValueError):
    """The account change is not possible (a duplicate name, an unknown user or token)."""


@dataclass(frozen=True)
class Account:
    """A stored user, as the rest of Earshot sees it."""

    id: int
    name: str
    role: str
    teams: tuple[str, ...]
    password_hash: str | None
    session_epoch: int
    created_at: datetime


@dataclass(frozen=True)
class Token:
    """A stored API token (never the token itself)."""

    id: int
    user_name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _account(row: UserRow) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        role=row.role,
        teams=tuple(str(t) for t in row.teams or ()),
        password_hash=row.password_hash,
        session_epoch=row.session_epoch,
        created_at=row.created_at,
    )


def add_user(
    session: Session,
    *,
    name: str,
    role: str,
    teams: tuple[str, ...],
    password_hash: str | None,
    now: datetime,
) -> Account:
    """Store a new user; AccountError when the name is taken."""
    row = UserRow(
        name=name, role=role, teams=list(teams), password_hash=password_hash, session_epoch=0, created_at=now
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AccountError(f"a user named {name!r} already exists") from None
    return _account(row)


def user_by_name(session: Session, name: str) -> Account | None:
    """The user with this name, if any."""
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    return _account(row) if row is not None else None


def user_by_id(session: Session, user_id: int) -> Account | None:
    """The user with this id, if any."""
    row = session.get(UserRow, user_id)
    return _account(row) if row is not None else None


def list_users(session: Session) -> list[Account]:
    """Every user, by name."""
    return [_account(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]


def count_users(session: Session) -> int:
    """How many users exist."""
    return int(session.scalar(select(func.count()).select_from(UserRow)) or 0)


def set_password(session: Session, *, name: str, password_hash: str) -> Account:
    """Replace a user's password hash and end their existing sessions; AccountError when unknown."""
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise AccountError(f"no user named {name!r}")
    row.password_hash = password_hash
    row.session_epoch = row.session_epoch + 1
    session.flush()
    return _account(row)


def add_token(session: Session, *, user_id: int, token_sha256: str, prefix: str, now: datetime) -> int:
    """Store a token's hash for a user and return the token's id."""
    row = ApiTokenRow(user_id=user_id, token_sha256=token_sha256, prefix=prefix, created_at=now)
    session.add(row)
    session.flush()
    return row.id


def token_owner(session: Session, *, token_sha256: str, now: datetime) -> Account | None:
    """The user of a live (not revoked) token with this hash, noting its use; None otherwise."""
    found = session.execute(
        select(ApiTokenRow, UserRow)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.token_sha256 == token_sha256, ApiTokenRow.revoked_at.is_(None))
    ).first()
    if found is None:
        return None
    token, user = found
    if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
        token.last_used_at = now
    return _account(user)


def revoke_token(session: Session, *, token_id: int, now: datetime) -> Token:
    """Revoke a token (idempotent); AccountError when no token has this id."""
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise AccountError(f"no token #{token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
    return _tokens(session, ApiTokenRow.id == token_id)[0]


def list_tokens(session: Session, *, user_name: str | None = None) -> list[Token]:
    """Tokens, oldest first, of one user or of everyone."""
    return _tokens(session, UserRow.name == user_name if user_name is not None else None)


def _tokens(session: Session, where: ColumnElement[bool] | None) -> list[Token]:
    stmt = select(ApiTokenRow, UserRow.name).join(UserRow, UserRow.id == ApiTokenRow.user_id)
    if where is not None:
        stmt = stmt.where(where)
    return [
        Token(
            id=t.id,
            user_name=name,
            prefix=t.prefix,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
        )
        for t, name in session.execute(stmt.order_by(ApiTokenRow.id))
    ]


def recent_failures(session: Session, *, name: str, ip: str, since: datetime) -> int:
    """Failed sign-ins for this name from this address since ``since``."""
    stmt = select(func.count()).where(
        LoginFailureRow.name == name, LoginFailureRow.ip == ip, LoginFailureRow.at >= since
    )
    return int(session.scalar(stmt) or 0)


def record_failure(session: Session, *, name: str, ip: str, now: datetime, keep: timedelta) -> None:
    """Count one failed sign-in, and forget every failure older than ``keep``.

    Forgetting every name's old failures (not only this one's) keeps the table small when someone
    tries many made-up names; it only ever holds one window of failures.
    """
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.at < now - keep))
    session.add(LoginFailureRow(name=name, ip=ip, at=now))
    session.flush()


def clear_failures(session: Session, *, name: str, ip: str) -> None:
    """Forget the failed sign-ins of this name from this address (after a successful one)."""
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.name == name, LoginFailureRow.ip == ip))


def secret(session: Session, *, name: str, generate: str, now: datetime) -> str:
    """The stored secret called ``name``, storing ``generate`` first when there is none yet."""
    row = session.get(AuthSecretRow, name)
    if row is not None:
        return row.value
    try:
        # A savepoint, so losing a race with another worker keeps the caller's transaction usable.
        with session.begin_nested():
            session.add(AuthSecretRow(name=name, value=generate, created_at=now))
    except IntegrityError:
        winner = session.get(AuthSecretRow, name, populate_existing=True)
        assert winner is not None, "an insert lost a race to a row that is not there"
        return winner.value
    return generate


def alert_team(session: Session, alert_id: int) -> tuple[bool, str | None]:
    """(whether the alert exists, its team), for permission checks."""
    found = session.execute(select(AlertRow.team).where(AlertRow.id == alert_id)).first()
    return (True, found[0]) if found is not None else (False, None)


def delivery_team(session: Session, delivery_id: int) -> tuple[bool, str | None]:
    """(whether the delivery exists, the team of its alert), for permission checks."""
    stmt = select(AlertRow.team).join(DeliveryRow, DeliveryRow.alert_id == AlertRow.id)
    found = session.execute(stmt.where(DeliveryRow.id == delivery_id)).first()
    return (True, found[0]) if found is not None else (False, None)

"""Session cookies: the user's id and session epoch, signed (itsdangerous) and timestamped.

Nothing but the id is in the cookie, so a role change applies at once; changing the password
bumps the epoch, which ends every older session.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "earshot_session"
_SALT = "earshot.session"


@dataclass(frozen=True)
class SessionCookies:
    """Signs and reads session cookies with one secret."""

    secret: str
    max_age_seconds: int
    secure: bool

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=_SALT)

    def sign(self, *, user_id: int, epoch: int) -> str:
        """The cookie value for a user at their current session epoch."""
        return self._serializer().dumps([user_id, epoch])

    def read(self, value: str) -> tuple[int, int] | None:
        """(user id, epoch) from a genuine, unexpired cookie; None for anything else."""
        try:
            loaded = self._serializer().loads(value, max_age=self.max_age_seconds)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        if (
            isinstance(loaded, list)
            and len(loaded) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in loaded)
        ):
            return loaded[0], loaded[1]
        return None

    def header(self, value: str) -> str:
        """The Set-Cookie value that stores a session."""
        secure = "; Secure" if self.secure else ""
        return (
            f"{COOKIE_NAME}={value}; Max-Age={self.max_age_seconds}; Path=/; HttpOnly; SameSite=Lax{secure}"
        )

    def clearing_header(self) -> str:
        """The Set-Cookie value that removes the session."""
        secure = "; Secure" if self.secure else ""
        return f"{COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax{secure}"

"""The replier registry: source kind -> Replier class (plugins use the ``earshot.repliers`` group)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from collectors.repliers.base import Replier, ReplyAccount, ReplyError
from domain.plugins import Registry

# Built-ins use the same 'module:Class' specs a plugin's entry point would.
BUILTIN_REPLIERS = {
    "twitter": "collectors.repliers.twitter:TwitterReplier",
    "reddit": "collectors.repliers.reddit:RedditReplier",
    "bluesky": "collectors.repliers.bluesky:BlueskyReplier",
    "mastodon": "collectors.repliers.mastodon:MastodonReplier",
}
# Kinds whose posts are answered by hand: the composer offers "copy and open the post".
COPY_AND_OPEN = frozenset({"rss", "hackernews", "demo"})
# The Jetstream collector reads the same network as the search collector.
ALIASES = {"bluesky-jetstream": "bluesky"}

repliers: Registry[type[Replier]] = Registry("replier", "earshot.repliers", BUILTIN_REPLIERS)


def replier_kind(source_kind: str) -> str:
    """The replier kind that answers posts collected by ``source_kind``."""
    return ALIASES.get(source_kind, source_kind)


class ReplyUnavailable(Exception):
    """Replies cannot be posted for this source from here; ``str()`` says why and what to do."""


class Repliers:
    """One Replier per source name, built on first use from the configured reply accounts."""

    def __init__(
        self,
        accounts: Mapping[str, ReplyAccount],
        *,
        timeout_seconds: float = 20.0,
        user_agent: str = "earshot",
    ) -> None:
        self.accounts = dict(accounts)
        self.timeout_seconds = timeout_seconds
        self.user_agent = user_agent
        self._built: dict[str, Replier] = {}
        self._lock = threading.Lock()

    def kind_for(self, source: str, source_kind: str) -> str:
        """The replier kind for a source: the account's ``kind`` or the source's own kind."""
        account = self.accounts.get(source)
        return (account.kind if account and account.kind else None) or replier_kind(source_kind)

    def replier_class(self, source: str, source_kind: str) -> type[Replier] | None:
        """The Replier class for this source, or None when its posts are answered by hand."""
        kind = self.kind_for(source, source_kind)
        if kind in COPY_AND_OPEN or kind not in repliers.kinds():
            return None
        return repliers.get(kind)

    def get(self, source: str, source_kind: str) -> Replier:
        """The ready Replier for ``source``; ReplyUnavailable says what is missing."""
        with self._lock:
            if source in self._built:
                return self._built[source]
            cls = self.replier_class(source, source_kind)
            if cls is None:
                raise ReplyUnavailable(
                    f"{source_kind} posts cannot be answered through an API: copy the reply and open the post"
                )
            account = self.accounts.get(source)
            if account is None:
                raise ReplyUnavailable(
                    f"no reply account for source {source!r}: add replies.accounts.{source} to earshot.yaml"
                )
            try:
                replier = cls(
                    account=account, timeout_seconds=self.timeout_seconds, user_agent=self.user_agent
                )
            except ReplyError as error:
                raise ReplyUnavailable(str(error)) from error
            missing = replier.missing_credentials()
            if missing:
                replier.close()
                names = ", ".join(missing)
                raise ReplyUnavailable(
                    f"reply account {source!r} lacks credentials: {names} (set them from the environment)"
                )
            self._built[source] = replier
            return replier

    def close(self) -> None:
        """Close every replier built so far."""
        with self._lock:
            for replier in self._built.values():
                replier.close()
            self._built.clear()

"""How a requests failure maps to a reply error: did the request possibly reach the source?"""

from __future__ import annotations

import requests

from collectors.repliers.base import ReplyTransient


def transport_error(source: str, error: requests.RequestException) -> ReplyTransient:
    """A ReplyTransient for a timeout or connection error, knowing whether anything was sent."""
    # A refused or timed-out connect sent nothing; a read timeout or a reset may follow a post.
    unsent = isinstance(error, requests.ConnectTimeout) or (
        isinstance(error, requests.ConnectionError)
        and not isinstance(error, requests.ReadTimeout)
        and "NewConnectionError" in repr(error)
    )
    return ReplyTransient(f"{source} unreachable: {type(error).__name__}", maybe_posted=not unsent)

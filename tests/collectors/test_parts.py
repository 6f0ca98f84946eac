"""The shared per-part isolation and page loop the search collectors use."""

from __future__ import annotations

import pytest

from collectors.errors import BadConfiguration, TemporarilyUnavailable
from collectors.parts import Parts, follow_pages, redact


def test_failures_are_isolated_and_redacted() -> None:
    parts = Parts(secrets=["s3cret-token", ""])

    def broken() -> int:
        raise TemporarilyUnavailable("https://x.example/?token=s3cret-token: HTTP 503")

    assert parts.run("a", lambda: 1) == 1
    assert parts.run("b", broken) is None
    parts.finish()  # one part worked: the run stands
    assert parts.failures == ["b: https://x.example/?token=***: HTTP 503"]


def test_every_part_failing_raises_the_first_error() -> None:
    parts = Parts()
    first = BadConfiguration("first")

    def fail(error: Exception) -> None:
        raise error

    parts.run("a", lambda: fail(first))
    parts.run("b", lambda: fail(TemporarilyUnavailable("second")))
    with pytest.raises(BadConfiguration) as caught:
        parts.finish()
    assert caught.value is first


def test_bugs_are_not_hidden() -> None:
    empty: dict[str, int] = {}
    with pytest.raises(KeyError):
        Parts().run("a", lambda: empty["missing"])


def test_notes_count_as_failures_but_not_as_failed_parts() -> None:
    parts = Parts()
    parts.run("a", lambda: None)
    parts.note("a", "gap from 1 to 2")
    parts.finish()
    assert parts.failures == ["a: gap from 1 to 2"]


def test_follow_pages() -> None:
    pages = {None: ([1, 2], "t1"), "t1": ([3], "t2"), "t2": ([], "t3")}
    assert follow_pages(lambda token: pages[token], 10) == ([1, 2, 3], False)
    assert follow_pages(lambda token: pages[token], 2) == ([1, 2, 3], True)
    assert follow_pages(lambda token: ([1], None), 5) == ([1], False)


def test_redact_longest_first() -> None:
    assert redact("abc abcdef", ["abc", "abcdef"]) == "*** ***"

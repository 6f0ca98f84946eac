"""The near-duplicate index: clusters retellings of a story, and stays bounded while it runs."""

from __future__ import annotations

import itertools

import pytest
from datasketch import MinHash

from collectors.neardup import NUM_PERM, NearDuplicateIndex, normalise, signature, similarity

STORY = "lumora outage takes down sync for thousands of users across europe this morning"
RETOLD = "RT @news: lumora outage takes down sync for thousands of users across europe this morning"


class Ticks:
    """A settable monotonic clock, in seconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _distinct(i: int) -> str:
    # Words no other text shares, so every text starts its own cluster.
    return " ".join(f"t{i}w{j}" for j in range(8))


def test_retellings_share_the_first_mentions_cluster() -> None:
    index = NearDuplicateIndex()
    assert similarity(STORY, RETOLD) >= 0.6
    assert index.assign(1, STORY) == 1
    assert index.assign(2, RETOLD) == 1
    assert index.assign(3, _distinct(3)) == 3
    assert index.assign(4, "too short") == 4 and index.size == 3


def test_entries_past_the_window_are_pruned_while_running() -> None:
    ticks = Ticks()
    index = NearDuplicateIndex(window_seconds=3600, clock=ticks)
    index.assign(1, STORY)
    index.assign(2, _distinct(2))
    ticks.now += 1800
    index.assign(3, _distinct(3))
    assert index.size == 3
    ticks.now += 1801  # mentions 1 and 2 are now older than the window; 3 is not
    assert index.assign(4, RETOLD) == 4  # the story's first telling has left the index
    assert index.size == 2
    assert index.assign(5, STORY) == 4  # and the new telling is what later ones join


def test_the_index_never_holds_more_than_max_entries() -> None:
    index = NearDuplicateIndex(max_entries=10)
    index.assign(1, STORY)
    for i in range(2, 40):
        index.assign(i, _distinct(i))
        assert index.size <= 10
    assert index.size == 10
    assert index.assign(100, RETOLD) == 100  # the oldest (the story) was dropped first
    assert index.assign(101, _distinct(39) + " again") == 39  # a recent one is still there


def test_loading_a_long_history_keeps_only_the_newest() -> None:
    index = NearDuplicateIndex(max_entries=5)
    index.load([(i, _distinct(i), None) for i in range(1, 21)] + [(21, STORY, 7)])
    assert index.size == 5
    assert index.assign(30, RETOLD) == 7  # loaded rows keep their stored cluster
    assert index.assign(31, _distinct(2) + " again") == 31


def test_pruned_entries_leave_the_lsh_buckets_too() -> None:
    index = NearDuplicateIndex(max_entries=3)
    for i in range(1, 200):
        index.assign(i, _distinct(i))
    # Every band's table holds only the 3 remaining mentions, not one key per mention ever seen.
    assert index.size == 3
    assert all(len(table.keys()) <= 3 for table in index._lsh.hashtables)


@pytest.mark.parametrize(("window", "cap"), [(0, 10), (60, 0)])
def test_bad_bounds_are_refused(window: float, cap: int) -> None:
    with pytest.raises(ValueError, match="positive window and max_entries"):
        NearDuplicateIndex(window_seconds=window, max_entries=cap)


def test_signatures_match_a_freshly_seeded_minhash() -> None:
    # Signatures stored in the database before the permutations were reused must still compare.
    text = "lumora is down again in europe, sync stuck and 500 errors everywhere since noon"
    fresh = MinHash(num_perm=NUM_PERM, seed=7)
    words = normalise(text)
    fresh.update_batch(
        [s.encode("utf-8") for s in set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}]
    )
    sig = signature(text)
    assert sig is not None and (sig.hashvalues == fresh.hashvalues).all()

"""Near-duplicate detection: retweets, cross-posts and syndicated stories share one cluster.

MinHash signatures over the words and word pairs of the normalised text, with
datasketch's LSH index to find candidates; two texts whose estimated Jaccard
similarity reaches ``THRESHOLD`` are the same story. The index lives in memory
and is rebuilt from recently stored mentions at start.

It is bounded while it runs, not only at warm-up: a mention leaves it once it has been in it
longer than the clustering window, and the oldest leave first once it holds ``max_entries``.
Each entry costs about 4.5 KB (mostly datasketch's LSH buckets), so the cap is what keeps a
high-volume service's memory flat; a story older than what the index holds starts a new cluster.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
from datasketch import MinHash, MinHashLSH

THRESHOLD = 0.6
NUM_PERM = 64
MIN_WORDS = 5
# datasketch's optimal banding for THRESHOLD and NUM_PERM (10 bands of 6 rows).
BANDS, ROWS = 10, 6
# Matches the pipeline's default cluster_window_hours.
DEFAULT_WINDOW_SECONDS = 72 * 3600.0
# About 90 MB of index at ~4.5 KB per entry; at 200 mentions/s that is the last ~100 seconds.
DEFAULT_MAX_ENTRIES = 20_000
_URL = re.compile(r"https?://\S+")
_RT = re.compile(r"^\s*(rt|via|repost(ed)?)\s+@\w+:?\s*", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=7)


def normalise(text: str) -> list[str]:
    """Lowercased words, with URLs and retweet prefixes removed."""
    return [w.lower() for w in _WORD.findall(_RT.sub("", _URL.sub(" ", text)))]


def signature(text: str) -> MinHash | None:
    """The MinHash of ``text``, or None when it is too short to compare fairly."""
    words = normalise(text)
    if len(words) < MIN_WORDS:
        return None
    shingles = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    # Reusing the seed's permutations gives the same values; drawing them each time cost 0.4 ms.
    minhash = MinHash(num_perm=NUM_PERM, seed=7, permutations=_TEMPLATE.permutations, scheme=_TEMPLATE.scheme)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts (0 when either is too short)."""
    sa, sb = signature(a), signature(b)
    return float(sa.jaccard(sb)) if sa is not None and sb is not None else 0.0


class NearDuplicateIndex:
    """Recent mentions' signatures -> cluster ids (the id of each story's first mention)."""

    def __init__(
        self,
        *,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_seconds <= 0 or max_entries < 1:
            raise ValueError("the near-duplicate index needs a positive window and max_entries")
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        # Only the hash values are kept: a whole MinHash also carries its permutations (1 KB).
        self._signatures: dict[int, npt.NDArray[np.uint64]] = {}
        self._clusters: dict[int, int] = {}
        # Insertion order is age order, so pruning only ever looks at the front.
        self._added: OrderedDict[int, float] = OrderedDict()

    @property
    def size(self) -> int:
        """How many mentions the index holds."""
        return len(self._clusters)

    def load(self, rows: Iterable[tuple[int, str, int | None]]) -> None:
        """Add stored (mention id, text, cluster id) rows, oldest first."""
        for mention_id, text, cluster_id in rows:
            sig = signature(text)
            if sig is not None:
                self._insert(mention_id, sig, cluster_id if cluster_id is not None else mention_id)

    def assign(self, mention_id: int, text: str) -> int:
        """Cluster a new mention: join its closest near-duplicate's cluster or start its own."""
        self.prune()
        sig = signature(text)
        if sig is None:
            return mention_id
        best: tuple[float, int] | None = None
        for key in self._lsh.query(sig):
            other = int(key)
            score = float(np.count_nonzero(sig.hashvalues == self._signatures[other])) / NUM_PERM
            if score >= THRESHOLD and (best is None or score > best[0]):
                best = (score, self._clusters[other])
        cluster_id = best[1] if best else mention_id
        self._insert(mention_id, sig, cluster_id)
        return cluster_id

    def prune(self) -> int:
        """Drop entries older than the window, and the oldest beyond ``max_entries``; how many went."""
        horizon = self._clock() - self.window_seconds
        dropped = 0
        while self._added:
            oldest, added_at = next(iter(self._added.items()))
            if added_at >= horizon and len(self._added) <= self.max_entries:
                break
            self._forget(oldest)
            dropped += 1
        return dropped

    def _forget(self, mention_id: int) -> None:
        del self._added[mention_id]
        del self._signatures[mention_id]
        del self._clusters[mention_id]
        self._lsh.remove(mention_id)

    def _insert(self, mention_id: int, sig: MinHash, cluster_id: int) -> None:
        if mention_id in self._clusters:
            return
        self._lsh.insert(mention_id, sig, check_duplication=False)
        self._signatures[mention_id] = sig.hashvalues
        self._clusters[mention_id] = cluster_id
        self._added[mention_id] = self._clock()
        # Loading a long warm-up also respects the cap, not only assigning.
        if len(self._added) > self.max_entries:
            self.prune()


def band_keys(sig: MinHash) -> list[int]:
    """The signature's LSH band keys (the same bands datasketch uses), as signed 64-bit integers.

    Two signatures sharing any key are candidates; the band index is hashed in, so one column of
    keys serves every band. Stored by ``storage.neardup`` to cluster across processes.
    """
    values = np.asarray(sig.hashvalues, dtype=np.uint64)
    keys = []
    for band in range(BANDS):
        chunk = values[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(band.to_bytes(2, "big") + chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return keys


def estimate(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> float:
    """Estimated Jaccard similarity of two signatures' hash values."""
    return float(np.count_nonzero(a == b)) / NUM_PERM

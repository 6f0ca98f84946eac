"""Near-duplicate detection: retweets, cross-posts and syndicated stories share one cluster.

MinHash signatures over the words and word pairs of the normalised text, with
datasketch's LSH index to find candidates; two texts whose estimated Jaccard
similarity reaches ``THRESHOLD`` are the same story. The index lives in memory
and is rebuilt from recently stored mentions at start.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from datasketch import MinHash, MinHashLSH

THRESHOLD = 0.6
NUM_PERM = 64
MIN_WORDS = 5
_URL = re.compile(r"https?://\S+")
_RT = re.compile(r"^\s*(rt|via|repost(ed)?)\s+@\w+:?\s*", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> list[str]:
    """Lowercased words, with URLs and retweet prefixes removed."""
    return [w.lower() for w in _WORD.findall(_RT.sub("", _URL.sub(" ", text)))]


def signature(text: str) -> MinHash | None:
    """The MinHash of ``text``, or None when it is too short to compare fairly."""
    words = normalise(text)
    if len(words) < MIN_WORDS:
        return None
    shingles = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    minhash = MinHash(num_perm=NUM_PERM, seed=7)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts (0 when either is too short)."""
    sa, sb = signature(a), signature(b)
    return float(sa.jaccard(sb)) if sa is not None and sb is not None else 0.0


class NearDuplicateIndex:
    """Recent mentions' signatures -> cluster ids (the id of each story's first mention)."""

    def __init__(self) -> None:
        self._lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        self._signatures: dict[int, MinHash] = {}
        self._clusters: dict[int, int] = {}

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
        sig = signature(text)
        if sig is None:
            return mention_id
        best: tuple[float, int] | None = None
        for key in self._lsh.query(sig):
            other = int(key)
            score = float(sig.jaccard(self._signatures[other]))
            if score >= THRESHOLD and (best is None or score > best[0]):
                best = (score, self._clusters[other])
        cluster_id = best[1] if best else mention_id
        self._insert(mention_id, sig, cluster_id)
        return cluster_id

    def _insert(self, mention_id: int, sig: MinHash, cluster_id: int) -> None:
        if mention_id in self._clusters:
            return
        self._lsh.insert(str(mention_id), sig)
        self._signatures[mention_id] = sig
        self._clusters[mention_id] = cluster_id

"""Near-duplicate clustering in the database, shared by every worker: MinHash signatures and LSH bands.

A stored mention's signature and its band keys (``collectors.neardup.band_keys``) are written in
the transaction that stores it; a new mention looks up the recent mentions sharing a band key,
keeps those whose estimated similarity reaches the threshold, and joins the best one's cluster.
Rows older than the clustering window are deleted, so the tables (not any process's memory) hold
the window, and every worker clusters against what every other worker stored. Functions take a
session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from collectors.neardup import THRESHOLD, band_keys, estimate, signature
from storage.scale_tables import NearDupBandRow, NearDupSignatureRow

# Band keys per candidate query: 10 per mention, so a 50-mention batch takes one query.
_KEYS_PER_QUERY = 1000


def assign(
    session: Session, items: Sequence[tuple[int, str]], *, now: datetime, window: timedelta
) -> dict[int, int]:
    """Cluster newly stored (mention id, text) pairs against the window and each other; id -> cluster.

    One query reads every stored signature sharing a band with the batch, and two bulk INSERTs write
    the batch's rows: a query and a flush per mention made clustering a large part of storing.
    """
    signed = [(mention_id, signature(text)) for mention_id, text in items]
    batch = [(mention_id, sig, band_keys(sig)) for mention_id, sig in signed if sig is not None]
    # What each band key leads to, and each candidate's cluster and hash values.
    by_key, known = _stored_candidates(session, {k for _, _, keys in batch for k in keys}, now - window)
    clusters = {mention_id: mention_id for mention_id, sig in signed if sig is None}
    signatures: list[dict[str, object]] = []
    bands: list[dict[str, object]] = []
    for mention_id, sig, keys in batch:
        values = np.asarray(sig.hashvalues, dtype=np.uint64)
        best: tuple[float, int] | None = None
        # Oldest candidate first, so a tie goes to the story told first.
        for other in sorted(set().union(*(by_key.get(k, set()) for k in keys))):
            cluster_id, stored = known[other]
            score = estimate(values, stored)
            if score >= THRESHOLD and (best is None or score > best[0]):
                best = (score, cluster_id)
        cluster_id = best[1] if best else mention_id
        clusters[mention_id] = cluster_id
        # The batch's later mentions see this one, as they would have seen it stored.
        known[mention_id] = (cluster_id, values)
        for k in keys:
            by_key.setdefault(k, set()).add(mention_id)
        signatures.append(
            {
                "mention_id": mention_id,
                "cluster_id": cluster_id,
                "hashvalues": values.astype("<u8").tobytes(),
                "added_at": now,
            }
        )
        bands += [{"bucket": k, "mention_id": mention_id, "added_at": now} for k in set(keys)]
    # Bulk INSERTs: eleven ORM objects per mention cost more than the rest of clustering.
    if signatures:
        session.execute(insert(NearDupSignatureRow), signatures)
        session.execute(insert(NearDupBandRow), bands)
    return clusters


def _stored_candidates(
    session: Session, keys: set[int], horizon: datetime
) -> tuple[dict[int, set[int]], dict[int, tuple[int, npt.NDArray[np.uint64]]]]:
    by_key: dict[int, set[int]] = {}
    known: dict[int, tuple[int, npt.NDArray[np.uint64]]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _KEYS_PER_QUERY):
        rows = session.execute(
            select(
                NearDupBandRow.bucket,
                NearDupSignatureRow.mention_id,
                NearDupSignatureRow.cluster_id,
                NearDupSignatureRow.hashvalues,
            )
            .join(NearDupBandRow, NearDupBandRow.mention_id == NearDupSignatureRow.mention_id)
            .where(
                NearDupBandRow.bucket.in_(ordered[start : start + _KEYS_PER_QUERY]),
                NearDupSignatureRow.added_at >= horizon,
            )
        )
        for bucket, mention_id, cluster_id, stored in rows:
            by_key.setdefault(bucket, set()).add(mention_id)
            if mention_id not in known:
                known[mention_id] = (cluster_id, np.frombuffer(stored, dtype="<u8").astype(np.uint64))
    return by_key, known


def evict(session: Session, *, now: datetime, window: timedelta) -> int:
    """Delete signatures and bands older than the window; how many signatures went."""
    horizon = now - window
    session.execute(delete(NearDupBandRow).where(NearDupBandRow.added_at < horizon))
    gone = session.execute(delete(NearDupSignatureRow).where(NearDupSignatureRow.added_at < horizon))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def size(session: Session) -> int:
    """How many mentions the shared index holds."""
    return int(session.scalar(select(func.count()).select_from(NearDupSignatureRow)) or 0)

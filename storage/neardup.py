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
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from collectors.neardup import THRESHOLD, band_keys, estimate, signature
from storage.scale_tables import NearDupBandRow, NearDupSignatureRow


def assign(
    session: Session, items: Sequence[tuple[int, str]], *, now: datetime, window: timedelta
) -> dict[int, int]:
    """Cluster newly stored (mention id, text) pairs against the window and each other; id -> cluster."""
    horizon = now - window
    clusters: dict[int, int] = {}
    for mention_id, text in items:
        sig = signature(text)
        if sig is None:
            clusters[mention_id] = mention_id
            continue
        keys = band_keys(sig)
        values = np.asarray(sig.hashvalues, dtype=np.uint64)
        candidates = session.execute(
            select(
                NearDupSignatureRow.mention_id, NearDupSignatureRow.cluster_id, NearDupSignatureRow.hashvalues
            )
            .join(NearDupBandRow, NearDupBandRow.mention_id == NearDupSignatureRow.mention_id)
            .where(NearDupBandRow.bucket.in_(keys), NearDupSignatureRow.added_at >= horizon)
            .distinct()
        ).all()
        best: tuple[float, int] | None = None
        for _other, cluster_id, stored in candidates:
            score = estimate(values, np.frombuffer(stored, dtype="<u8"))
            if score >= THRESHOLD and (best is None or score > best[0]):
                best = (score, cluster_id)
        cluster_id = best[1] if best else mention_id
        clusters[mention_id] = cluster_id
        session.add(
            NearDupSignatureRow(
                mention_id=mention_id,
                cluster_id=cluster_id,
                hashvalues=values.astype("<u8").tobytes(),
                added_at=now,
            )
        )
        session.add_all(NearDupBandRow(bucket=k, mention_id=mention_id, added_at=now) for k in set(keys))
        session.flush()  # the next mention of this batch sees this one
    return clusters


def evict(session: Session, *, now: datetime, window: timedelta) -> int:
    """Delete signatures and bands older than the window; how many signatures went."""
    horizon = now - window
    session.execute(delete(NearDupBandRow).where(NearDupBandRow.added_at < horizon))
    gone = session.execute(delete(NearDupSignatureRow).where(NearDupSignatureRow.added_at < horizon))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


def size(session: Session) -> int:
    """How many mentions the shared index holds."""
    return int(session.scalar(select(func.count()).select_from(NearDupSignatureRow)) or 0)

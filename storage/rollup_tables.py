"""Analytics rollups: mention counts per UTC hour, kept in step with the mentions table.

Hours are integers (hours since the Unix epoch), so day and week buckets are integer
division on every backend and no time-zone arithmetic happens in SQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import AuthorRow, Base, MentionRow

# The category rollup's brand for "every mention, whatever brands it names": counted once each.
ALL_BRANDS = ""


class RollupCountRow(Base):
    """Mentions and stories per hour x brand x sentiment.

    Deliberately narrow: every extra dimension (source, language) multiplies the rows a 30-day
    chart has to sum, and at a million mentions that cost more than the charts may take.
    """

    __tablename__ = "rollup_counts"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand: Mapped[str] = mapped_column(String(128), primary_key=True)
    # 'unclassified' for mentions without a classification (yet).
    sentiment: Mapped[str] = mapped_column(String(16), primary_key=True)
    mentions: Mapped[int] = mapped_column(BigInteger, default=0)
    # Story starts: mentions that are the first of their near-duplicate cluster.
    stories: Mapped[int] = mapped_column(BigInteger, default=0)


class RollupCategoryRow(Base):
    """Classified mentions per hour x brand x category (brand '' counts each mention once)."""

    __tablename__ = "rollup_categories"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand: Mapped[str] = mapped_column(String(128), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    mentions: Mapped[int] = mapped_column(BigInteger, default=0)


# Indexes on the mentions and authors tables that only analytics reads need (migration 0013),
# declared here so the metadata matches the migrated schema. Top authors by reach walk the
# authors by followers and probe each one's mentions of the window (storage.reach).
Index("ix_authors_followers", AuthorRow.followers)
Index("ix_mentions_author_published", MentionRow.author_id, MentionRow.published_at)

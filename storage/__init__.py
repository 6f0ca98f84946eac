"""Storage: SQLAlchemy models, repositories (callers own the transaction), migrations."""

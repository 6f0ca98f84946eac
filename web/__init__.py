"""The REST API and dashboard: reads storage, acts on alerts through alerting.lifecycle."""

from web.app import create_app

__all__ = ["create_app"]

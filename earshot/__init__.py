"""Earshot: social listening and reputation monitoring."""

__version__ = "0.1.0"

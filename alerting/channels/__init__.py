"""Channels: one class per kind of destination, behind the Channel base class."""

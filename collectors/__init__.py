"""Collectors: one module per source, behind the Collector protocol and a registry."""

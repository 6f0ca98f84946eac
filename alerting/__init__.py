"""Alerting: routing rules as data, grouping, escalation, and channels."""

"""Scheduler: the pipeline stages and what runs them (APScheduler, in one process)."""

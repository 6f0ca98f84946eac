"""Scheduler: the pipeline stages and what runs them (APScheduler in-process, NATS distributed)."""

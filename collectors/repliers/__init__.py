"""Repliers: post replies where the customer spoke, one class per source kind."""

"""Benchmarks: `python -m bench` (or `make bench`) runs them all; each prints ratios from one run."""

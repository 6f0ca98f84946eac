"""JSON endpoints under /api, one module per domain."""

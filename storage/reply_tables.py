"""Tables still to be written (placeholder imported by storage/models.py)."""

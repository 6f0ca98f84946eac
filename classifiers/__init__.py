"""Classifiers: sentiment, urgency, categories and language for mentions."""

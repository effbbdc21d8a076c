"""Adapters: ``local`` (folders and SQLite, the embedded default) and ``gcp`` (Google Cloud)."""

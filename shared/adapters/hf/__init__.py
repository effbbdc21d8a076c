"""Hugging Face Hub adapters."""

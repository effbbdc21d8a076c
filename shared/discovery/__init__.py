"""Word-driven video discovery: for each word of a vocabulary list, short movie clips in
which it is spoken and taught well, found through a clip source, judged by language models,
heard by a speech-to-text model, and stored as ``videos`` and ``word_to_video`` documents
that the HTTP API (``/v3/...``) serves.

The surface is light: the settings, the store's names and the upload contract's models."""

from shared.discovery.settings import DiscoverySettings

__all__ = ["DiscoverySettings"]

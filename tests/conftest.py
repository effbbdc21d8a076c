"""Fixtures shared by every test folder."""

from __future__ import annotations

from emulators import (
    emulator_logs,
    firestore_emulator,
    firestore_env,
    gcp_project,
    gcs_emulator,
    gcs_env,
    pubsub_emulator,
    pubsub_env,
)

__all__ = [
    "emulator_logs",
    "firestore_emulator",
    "firestore_env",
    "gcp_project",
    "gcs_emulator",
    "gcs_env",
    "pubsub_emulator",
    "pubsub_env",
]

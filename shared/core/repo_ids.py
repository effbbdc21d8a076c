"""Hugging Face repo ids (OWNER/NAME): what publishing and shard pulls accept."""

from __future__ import annotations

import re

# The Hub's rules for OWNER/NAME: letters, digits, '-', '_', '.'; no '--' or '..'; neither
# part starts or ends with '-' or '.'; at most 96 characters each.
_REPO_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"


REPO_ID_PATTERN = re.compile(rf"^{_REPO_PART}/{_REPO_PART}$")


def check_repo_id(value: str) -> str:
    """``value`` if it is a dataset repo id (OWNER/NAME), else a ValueError saying why."""
    if not REPO_ID_PATTERN.fullmatch(value) or "--" in value or ".." in value:
        raise ValueError(
            f"{value!r} is not a Hugging Face repo id: expected OWNER/NAME with letters, "
            "digits, '-', '_' or '.' (no '--' or '..')"
        )
    return value

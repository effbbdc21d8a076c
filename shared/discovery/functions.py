"""The functions of word discovery: search, score, fetch, review (one topic each).

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.discovery.messages import CANDIDATES, FETCHES, REVIEWS, WORD_SEARCHES
from shared.platform.runtime.catalog import FunctionSpec, TopicTrigger

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="discover_search",
        trigger=TopicTrigger(topic=WORD_SEARCHES.name),
        capability="discovery",
        extras=("models", "media"),
        # A search waits for its turn at the account-wide rate: a few at once keep the
        # source busy, and leave most of the 60 s a caller may wait to the fetches that
        # renew expired links through the same gate (terraform caps it the same).
        max_instances=4,
        description=(
            "Search one word's clips at the source within the account-wide rate limit; send "
            "each clip it finds first to scoring."
        ),
    ),
    FunctionSpec(
        name="discover_score",
        trigger=TopicTrigger(topic=CANDIDATES.name),
        capability="discovery",
        extras=("models", "media"),
        description=(
            "Map one clip to the vocabulary words its transcript says and teaches (candidate "
            "model); check the mappings; send it on to fetching or reject it."
        ),
    ),
    FunctionSpec(
        name="discover_fetch",
        trigger=TopicTrigger(topic=FETCHES.name),
        capability="discovery",
        extras=("models", "media"),
        description=(
            "Download one clip (refreshing an expired link), extract its audio and transcribe "
            "it with word timestamps; send it on to review."
        ),
    ),
    FunctionSpec(
        name="discover_review",
        trigger=TopicTrigger(topic=REVIEWS.name),
        capability="discovery",
        extras=("models", "media"),
        description=(
            "Confirm one clip's words with both transcripts (final model) and store the clip "
            "with its word mappings."
        ),
    ),
)

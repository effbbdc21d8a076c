"""Where a discovery run stands: words done, failed (with the reason) and remaining; clips per
stage; what it cost; its pace and the time left.

A word is done once its search ran and none of the clips it found is still on its way (found,
scored or fetched). The run's word and clip documents are read once per call (a status
view), the ledger once, by the run's label.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from pydantic import BaseModel

from shared.discovery.runs import load_run, run_clips, run_words
from shared.discovery.settings import DiscoverySettings
from shared.llm.ledger import summarize_costs
from shared.platform.context import Context

__all__ = ["DiscoveryStatus", "run_status"]

OPEN = ("found", "scored", "fetched")
_REASON_NUMBERS = re.compile(r"\d+(\.\d+)?")


class DiscoveryStatus(BaseModel):
    """A run's progress (``vidcurate discover status``)."""

    run: str
    source: str
    words: int
    queued: int
    done: int
    failed: int
    remaining: int
    no_clips: int  # words whose search found no clip
    clips: dict[str, int]
    mappings: int
    cost_usd: float
    calls: int
    words_per_minute: float | None
    eta_seconds: float | None
    failures: dict[str, str]
    refusals: dict[str, int]  # why words were not mapped (or clips failed), most common first


def _reason(text: str) -> str:
    """A refusal's reason without its numbers, so the same reason counts once."""
    if text.startswith("relevance "):
        return "relevance under --min-score"
    if text.startswith("final score "):
        return "final score under --min-score"
    return _REASON_NUMBERS.sub("N", text)


def _instant(value: object) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def run_status(services: Context[DiscoverySettings], run: str) -> DiscoveryStatus:
    """The run's progress (see the module docstring)."""
    record = load_run(services, run)
    words = run_words(services, run)
    clips = run_clips(services, run)
    open_by_word: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    mappings = 0
    reasons: Counter[str] = Counter()
    for clip in clips:
        status = str(clip.data.get("status"))
        stages[status] += 1
        if status in OPEN:
            open_by_word[str(clip.data.get("word"))] += 1
        mappings += int(clip.data.get("mappings_created") or 0)
        if status == "failed":
            reasons[f"clip failed: {str(clip.data.get('error') or '')[:120]}"] += 1
        for refused in clip.data.get("refused") or []:
            reasons[_reason(str(refused.get("reason") or ""))] += 1
    done = failed = no_clips = 0
    failures: dict[str, str] = {}
    searched: list[float] = []
    for word in words:
        state = word.data.get("status")
        if state == "failed":
            failed += 1
            failures[str(word.data.get("word"))] = str(word.data.get("error") or "")
        elif state == "searched":
            at = _instant(word.data.get("searched_at"))
            if at is not None:
                searched.append(at)
            if not open_by_word[str(word.data.get("word"))]:
                done += 1
            if not word.data.get("hits"):
                no_clips += 1
    queued = int(record.get("queued") or len(words))
    remaining = max(0, queued - done - failed)
    pace = None
    eta = None
    if len(searched) >= 2 and max(searched) > min(searched):
        pace = (len(searched) - 1) / (max(searched) - min(searched)) * 60
        unsearched = queued - len(searched) - failed
        eta = max(0.0, unsearched / pace * 60) if pace > 0 else None
    costs = summarize_costs(services.documents, run=run)
    return DiscoveryStatus(
        run=run,
        source=str(record.get("source")),
        words=int(record.get("words") or queued),
        queued=queued,
        done=done,
        failed=failed,
        remaining=remaining,
        no_clips=no_clips,
        clips=dict(sorted(stages.items())),
        mappings=mappings,
        cost_usd=costs.cost_usd,
        calls=costs.calls,
        words_per_minute=round(pace, 2) if pace is not None else None,
        eta_seconds=round(eta, 1) if eta is not None else None,
        failures=failures,
        refusals=dict(reasons.most_common(10)),
    )

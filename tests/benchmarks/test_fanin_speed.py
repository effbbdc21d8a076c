"""The critique fan-in's checks at two sizes 10x apart: per item, the cost must stay flat.

Run with ``make bench``. When a run's last items finish, a finisher asks whether anything of
the export is open (one limit-1 query) and, if not, whether all seven types are done for
every reviewed caption (counts by type and status). These run once per finished run, not per
item, so their cost per item of the export must not grow with the export. Measured on the
embedded store with 1,000 and 10,000 reviewed captions (7,000 and 70,000 items); the ratio
of the per-item costs is printed and must stay under 3 (these machines are noisy).
"""

from __future__ import annotations

import time

from shared.adapters.local.documents import SqliteDocumentStore
from shared.critiques.consolidate import CONSOLIDATION
from shared.critiques.store import items_collection, runs_path, waiting_for
from shared.critiques.types import CRITIQUE_TYPES
from shared.platform.fanout import record_items

SIZES = (1_000, 10_000)
MAX_RATIO = 3.0


def _seconds_per_item(tmp_path, captions: int) -> float:
    documents = SqliteDocumentStore(tmp_path / f"docs-{captions}.sqlite")
    try:
        folder = "export_20260101_0000"
        items = [
            (f"v{n:06d}~subject~{name}", {"critique_type": name, "status": "success"})
            for n in range(captions)
            for name in CRITIQUE_TYPES
        ]
        record_items(documents, items_collection(folder), items)
        documents.set(runs_path(folder), {"plan_id": "p1", "captions": captions})
        run = documents.get(runs_path(folder))
        assert run is not None
        started = time.perf_counter()
        assert not CONSOLIDATION.is_open(documents, folder)
        assert CONSOLIDATION.complete is not None
        assert CONSOLIDATION.complete(documents, folder, run.data)
        assert waiting_for(documents, folder, captions) == {}
        elapsed = time.perf_counter() - started
        return elapsed / len(items)
    finally:
        documents.close()


def test_the_fan_in_checks_cost_the_same_per_item_at_ten_times_the_size(tmp_path):
    small, large = (_seconds_per_item(tmp_path, size) for size in SIZES)

    ratio = large / small
    print(
        f"\nfan-in checks: {small * 1e6:.2f} us/item at {SIZES[0] * 7:,} items, "
        f"{large * 1e6:.2f} us/item at {SIZES[1] * 7:,} items: ratio {ratio:.2f} "
        f"(target < {MAX_RATIO})"
    )
    assert ratio < MAX_RATIO

"""Word discovery as terraform deploys it: the Firestore indexes its queries need, the clip
source's key, and instance caps that keep the account-wide search gate from refusing work.

What each discovery function may touch (buckets, topics, secrets, sizing) is listed with the
others in test_terraform_consistency.py (ACCESS); the back-pressure numbers are checked for
every function in test_terraform_empty_project.py.
"""

from __future__ import annotations

import inspect
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, cast

import pytest
from firestore_queries import (
    count_calls,
    discovery_queries,
    discovery_recorder,
    exempt_fields,
    index_fields,
    index_instances,
    indexed_fields,
    query_calls,
    recorded_everywhere,
    served_by_single_field_index,
)
from terraform_config import REPO, Config, by_address, local, variables

from shared.adapters.local.documents import SqliteDocumentStore
from shared.config import Settings
from shared.discovery.runs import RUNS, DiscoveryRequest
from shared.discovery.settings import DiscoverySettings
from shared.discovery.sourcing import REFRESH_PAGES, Searcher
from shared.discovery.store import BUNDLES, WORD_TO_VIDEO, WORDS
from shared.platform.ratelimit import RateGate
from shared.ports import DocumentStore
from shared.ports.clips import ClipHit, ClipPage, ClipQuery, DownloadExpiredError

DISCOVERY = ("discover_search", "discover_score", "discover_fetch", "discover_review")
CLIPCAFE_KEY = "CLIPCAFE_API_KEY"


# --- the queries the code makes -------------------------------------------------------------
# (firestore_queries.py records them; the explorer's are checked in test_terraform_explorer.py,
# and that every composite index serves some query of the code there too)


def discovery_modules() -> list[str]:
    return sorted(
        path.relative_to(REPO).as_posix() for path in (REPO / "shared" / "discovery").rglob("*.py")
    )


def test_every_discovery_query_is_recorded_here():
    """A new query or count query in shared/discovery must be made by discovery_recorder
    (firestore_queries.py), and get its index below if it needs one."""
    recorder = discovery_recorder()
    queries = query_calls(discovery_modules())
    counts = count_calls(discovery_modules())
    recorded, counted = recorder.under(["shared/discovery/"])

    assert recorded_everywhere(queries, recorder.sites) == []
    assert recorded_everywhere(counts, recorder.count_sites) == []
    # Every site recorded there is one of those calls.
    for calls, found in ((queries, recorded), (counts, counted)):
        for query in found:
            assert query.site is not None
            path, line = query.site
            assert any(p == path and line in lines for (p, _), lines in calls.items()), query
    assert discovery_queries() == recorded


def test_the_queries_that_need_a_composite_index_have_one(root):
    needed = [query for query in discovery_queries() if query.needs_composite_index]
    declared = {index.index_key: index.resource for index in index_instances(root)}

    # The code's only composite query: a word's mappings, most relevant first.
    assert [query.collection for query in needed] == [WORD_TO_VIDEO]
    for query in needed:
        assert query.index_key in declared, f"no composite index for {query}"
        index = declared[query.index_key]
        assert index.body["query_scope"] == "COLLECTION"  # the adapter queries one collection
        assert index.body["database"] == "${google_firestore_database.this.name}"
        assert index.body["project"] == "${var.project_id}"
        assert "${google_firestore_database.this}" in index.body["depends_on"]


def test_the_word_index_serves_word_and_language_by_relevance(root):
    index = by_address(root)["google_firestore_index.word_to_video_by_relevance"]

    assert "for_each" not in index.body
    assert index.body["collection"] == WORD_TO_VIDEO
    assert index_fields(index) == [
        {"field_path": "word", "order": "ASCENDING"},
        {"field_path": "language", "order": "ASCENDING"},
        {"field_path": "relevance_score", "order": "DESCENDING"},
    ]


def test_the_other_discovery_queries_use_automatic_indexes(root):
    """A bundle's words (array-contains on one field), the latest runs (one field's order),
    the bundles in id order; the discovery page's counts (a run's words by status, the
    mappings by tenth of relevance_score: a range on one field, and all of them):
    single-field indexes, which no exemption in firestore.tf removes."""
    recorder = discovery_recorder()
    queries, counts = recorder.under(["shared/discovery/"])
    by_collection = {
        query.collection: query for query in queries if not query.needs_composite_index
    }
    exempt = exempt_fields(root)
    indexed = indexed_fields(root)
    exempt_groups = {
        local(root, name)
        for name in (
            "tasks_collection_group",
            "critique_items_collection_group",
            "critique_results_collection_group",
            "model_calls_collection_group",
            "model_spend_days_collection_group",
            "model_spend_hours_collection_group",
            "delivery_failures_collection_group",
        )
    }

    assert set(by_collection) == {WORDS, RUNS, BUNDLES}
    assert by_collection[WORDS].where[0][:2] == ("bundles", "array-contains")
    assert by_collection[RUNS].order_by == (("created_at", "desc"),)
    assert not by_collection[BUNDLES].where
    assert not by_collection[BUNDLES].order_by
    for collection in by_collection:
        assert collection not in exempt_groups, collection
    assert {(q.collection, tuple(f[:2] for f in q.where)) for q in counts} == {
        (f"{RUNS}/discover-20261204-1905/words", (("status", "=="),)),
        (WORD_TO_VIDEO, (("relevance_score", ">="), ("relevance_score", "<"))),
        (WORD_TO_VIDEO, (("relevance_score", ">="), ("relevance_score", "<="))),
        (WORD_TO_VIDEO, ()),
    }
    for query in [*queries, *counts]:
        if not query.needs_composite_index:
            assert query.collection.split("/")[-1] not in exempt_groups, query
            assert served_by_single_field_index(query, exempt, indexed), query


# --- the clip source's key ------------------------------------------------------------------


def test_the_clipcafe_key_is_an_opt_in_secret_the_settings_read(root, monkeypatch):
    secrets = local(root, "secrets")
    declared = variables(root)["api_keys"]
    catalog = local(root, "function_catalog")

    assert secrets[CLIPCAFE_KEY] == "clipcafe-api-key"
    # The settings name the same secret, and read the variable a mounted secret sets.
    description = DiscoverySettings.model_fields["clipcafe_api_key"].description
    assert description is not None
    assert secrets[CLIPCAFE_KEY] in description
    monkeypatch.setenv(CLIPCAFE_KEY, "k-123")
    key = Settings(_env_file=None).clipcafe_api_key
    assert key is not None
    assert key.get_secret_value() == "k-123"
    # Opt-in like every key: listed in var.api_keys once its secret has a version.
    assert CLIPCAFE_KEY in validation_keys(declared)
    assert CLIPCAFE_KEY in declared["description"]
    # The functions that reach ClipCafe (a search, a refreshed download link) mount it;
    # nothing else does.
    mounting = {name for name, entry in catalog.items() if CLIPCAFE_KEY in entry.get("secrets", [])}
    assert mounting == {"discover_search", "discover_fetch"}


def validation_keys(declared: dict[str, Any]) -> set[str]:
    (rule,) = declared["validation"]
    return set(re.findall(r'"([A-Z_]+)"', rule["condition"]))


# --- the search gate ------------------------------------------------------------------------


def gate_callers(root: Config) -> dict[str, int]:
    """The functions that take turns at the clip source's gate (those that hold its key) and
    their instance caps, a variable resolved to its default."""
    catalog = local(root, "function_catalog")
    declared = variables(root)
    callers: dict[str, int] = {}
    for name, entry in catalog.items():
        if CLIPCAFE_KEY not in entry.get("secrets", []):
            continue
        cap = entry["max_instance_count"]
        if isinstance(cap, str):
            match = re.fullmatch(r"\$\{var\.(\w+)\}", cap)
            assert match, cap
            cap = declared[match[1]]["default"]
        callers[name] = int(cap)
    return callers


def gate_interval() -> float:
    per_minute = DiscoverySettings.model_fields["clip_search_per_minute"].default
    return RateGate(cast(DocumentStore, None), "clip-search", per_minute).interval


def max_wait() -> float:
    return DiscoverySettings.model_fields["clip_search_max_wait_seconds"].default


def test_the_searches_leave_the_gate_to_the_refreshes(root):
    """Every search instance holds at most one turn at a time: the searches alone never
    fill the wait the settings allow (none is refused as busy by another search), and they
    keep at most half of it, so the fetches' link refreshes always find turns between
    them. A refresh beyond that is refused as busy and retried later, which costs its
    message a Pub/Sub attempt and nothing else."""
    callers = gate_callers(root)

    assert set(callers) == {"discover_search", "discover_fetch"}
    # More searches would not search faster (the gate sets the pace), only crowd out the
    # refreshes.
    assert callers["discover_search"] == 4
    assert callers["discover_search"] * gate_interval() <= max_wait() / 2


def test_the_fetches_are_capped_as_model_workers_not_by_the_gate(root):
    """A refresh renews the links of every clip of its word (test below), so the refreshes
    are bounded by the words of a run, not by its clips nor by the fetch instances: the
    fetch stage is capped as the other model workers (one transcription in flight each)."""
    catalog = local(root, "function_catalog")

    assert catalog["discover_fetch"]["max_instance_count"] == (
        "${var.critique_worker_max_instances}"
    )
    assert "discover_fetch" in variables(root)["critique_worker_max_instances"]["description"]


@dataclass
class OneWordSource:
    """A rate-limited clip source with ``count`` clips of one word; each search hands out
    links issued at that moment, valid for ``link_seconds``."""

    clock: Callable[[], float]
    count: int
    link_seconds: float
    name: str = "fake"
    requests_per_minute: float | None = 10.0
    searches: int = 0

    def hit(self, index: int, issued: float) -> ClipHit:
        return ClipHit(
            clip_id=f"c{index}", slug=f"c{index}", title="", transcript="serendipity",
            download_url=f"https://clips.example/c{index}?t={issued}",
        )  # fmt: skip

    def search(self, query: ClipQuery) -> ClipPage:
        self.searches += 1
        hits = [self.hit(i, self.clock()) for i in range(self.count)]
        page = hits[query.offset : query.offset + query.size]
        return ClipPage(hits=tuple(page), total=self.count)

    def download(self, hit: ClipHit, out: IO[bytes], *, max_bytes: int) -> int:
        assert hit.download_url
        issued = float(hit.download_url.rpartition("t=")[2])
        if self.clock() - issued >= self.link_seconds:
            raise DownloadExpiredError(hit.clip_id)
        return out.write(b"clip")


@dataclass
class Links:
    """A link book in memory (the stages keep it in the word's search answer)."""

    links: dict[str, tuple[str, float]] = field(default_factory=dict)

    def lookup(self, clip_id: str) -> tuple[str, float] | None:
        return self.links.get(clip_id)

    def remember(self, hits: Sequence[ClipHit], at: float) -> None:
        self.links.update({hit.clip_id: (str(hit.download_url), at) for hit in hits})


def test_one_refresh_search_renews_every_clip_of_the_word(tmp_path):
    """Forty clips of one word, all found long before they are fetched, one after another
    by different deliveries: one refresh search for all of them while its links last, one
    more once they expire; never one per clip."""
    now = [1_000_000.0]
    link_seconds = DiscoverySettings.model_fields["clip_link_seconds"].default
    source = OneWordSource(clock=lambda: now[0], count=40, link_seconds=link_seconds)
    book = Links()
    documents = SqliteDocumentStore(tmp_path / "docs.sqlite")
    searched_at = now[0] - 2 * link_seconds

    def fetch(index: int) -> int:
        searcher = Searcher(
            source=source, documents=documents, max_wait=max_wait(), links=book,
            link_seconds=link_seconds, clock=lambda: now[0], sleep=lambda s: None,
        )  # fmt: skip
        written, searches = searcher.download(
            source.hit(index, searched_at), "serendipity", io.BytesIO(),
            searched_at=searched_at, max_bytes=1 << 20,
        )  # fmt: skip
        assert written == 4
        now[0] += 5  # a download and a transcription
        return searches

    try:
        first = [fetch(i) for i in range(source.count)]
        now[0] += link_seconds  # the renewed links expire
        later = [fetch(i) for i in range(source.count)]
    finally:
        documents.close()

    assert first == [1] + [0] * (source.count - 1)
    assert sum(later) == 1
    assert source.searches == 2


def test_the_gate_paces_the_search_functions(root):
    """A message of a function at the gate may wait for its turn as long as the settings
    allow: its seconds_per_message covers the turn the searches alone keep it waiting, and
    its timeout outlasts every turn it takes."""
    catalog = local(root, "function_catalog")
    callers = gate_callers(root)
    searches_turn = callers["discover_search"] * gate_interval()

    for name in callers:
        entry = catalog[name]
        assert entry["delivery"]["seconds_per_message"] >= searches_turn, name
        assert entry["timeout_seconds"] > max_wait(), name
    # A search message: one page (--max-videos 100, the default), at most the whole wait.
    assert catalog["discover_search"]["delivery"]["seconds_per_message"] >= max_wait()
    # A refresh: REFRESH_PAGES turns, each at most the whole wait, with room for the
    # download and the transcription.
    assert REFRESH_PAGES * max_wait() <= catalog["discover_fetch"]["timeout_seconds"] / 2
    # The longest search: --max-videos at its largest, one turn per page. The searches
    # alone keep each page within their own turns, with room; it could outlast its timeout
    # only if refreshes filled the whole wait for all of its pages (10 x 60 s and more).
    bounds = DiscoveryRequest.model_fields["max_videos"].metadata
    most_videos = max(bound.le for bound in bounds if hasattr(bound, "le"))
    page_size = inspect.signature(Searcher.search).parameters["page_size"].default
    pages = math.ceil(most_videos / page_size)
    assert pages == 10
    assert pages * searches_turn < catalog["discover_search"]["timeout_seconds"] / 2


@pytest.mark.parametrize("name", DISCOVERY)
def test_each_discovery_function_touches_the_discovery_bucket_only(root, name):
    entry = local(root, "function_catalog")[name]

    assert set(entry["buckets"]) == {"discovery"}


def test_the_web_app_reads_the_discovery_bucket_without_the_clipcafe_key(root):
    """The word API serves stored clips and stores uploads (create-only, objectUser); it
    never searches, so it never mounts ClipCafe's key: its secrets are the admin API's
    tokens and analyze_frames' model keys (test_terraform_web.py)."""
    web = by_address(root)["google_cloud_run_v2_service.web"]

    assert local(root, "web_buckets")["discovery"] == "roles/storage.objectUser"
    assert CLIPCAFE_KEY not in str(web.body)
    assert CLIPCAFE_KEY not in str(local(root, "web_secret_keys"))

"""The web app's pages over training sets, learning rounds, discovery, costs and status as
terraform deploys their indexes: each query and count query the pages make (recorded by
running the code against a local store, firestore_queries.py page_recorder) is served by a
composite index firestore.tf declares (the image-sets page filtered by status), or by
single-field indexes no exemption in firestore.tf removes.

The clip explorer's queries are checked in test_terraform_explorer.py (with the check that
every composite index serves some query of the code), the discovery functions' in
test_terraform_discovery.py, the ledger's in test_terraform_consistency.py.
"""

from __future__ import annotations

import pytest
from firestore_queries import (
    PAGE_MODULES,
    Query,
    QueryRecorder,
    count_calls,
    exempt_fields,
    index_fields,
    index_instances,
    indexed_fields,
    page_recorder,
    query_calls,
    recorded_everywhere,
    served_by_single_field_index,
)
from terraform_config import by_address, hcl_list, local

from shared.critiques.store import RUNS as CRITIQUE_RUNS
from shared.discovery.runs import RUNS as DISCOVERY_RUNS
from shared.discovery.store import BUNDLES, WORD_TO_VIDEO
from shared.learning.roundstore import ROUNDS
from shared.media.shards.store import DATASET_SHARDS
from shared.media.store import CLIPS
from shared.trainsets.api import SET_STATUSES
from shared.trainsets.execute import SETS
from shared.vision.store import ANALYSES

INDEX = "google_firestore_index.trainsets_by_status"

# What each page's module asks the store (queries and count queries alike), as shapes: the
# collection (a document id in its path as <id>), the filters (field, op) and the order
# (field, direction). A change here is a change of the indexes the pages need: firestore.tf's
# list of queries says where each is served.
SHAPES: dict[str, set[tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]]] = {
    "shared/trainsets/api.py": {
        # a page of sets: all of them, or those of one status (the composite index), in id
        # order, the first page or after a cursor
        (SETS, (), (("set_id", "asc"),)),
        (SETS, (("set_id", ">"),), (("set_id", "asc"),)),
        (SETS, (("status", "=="),), (("set_id", "asc"),)),
        (SETS, (("status", "=="), ("set_id", ">")), (("set_id", "asc"),)),
        # the counts: all, by status, evaluated and not balanced
        (SETS, (), ()),
        (SETS, (("status", "=="),), ()),
        (SETS, (("status", "=="), ("balanced", "==")), ()),
        # a set's page: its latest changes, and how many it has
        (f"{SETS}/<id>/changes", (), (("id", "desc"),)),
        (f"{SETS}/<id>/changes", (), ()),
    },
    "shared/learning/roundviews.py": {(ROUNDS, (), (("round", "desc"),))},
    "shared/discovery/overview.py": {
        (DISCOVERY_RUNS, (), (("created_at", "desc"),)),
        (f"{DISCOVERY_RUNS}/<id>/words", (("status", "=="),), ()),
        (BUNDLES, (), ()),
        (WORD_TO_VIDEO, (("relevance_score", ">="), ("relevance_score", "<")), ()),
        (WORD_TO_VIDEO, (("relevance_score", ">="), ("relevance_score", "<=")), ()),
        (WORD_TO_VIDEO, (), ()),
    },
    "shared/ops/costs.py": {
        (CRITIQUE_RUNS, (("request.max_cost_usd", ">"),), ()),
        (DISCOVERY_RUNS, (("max_cost_usd", ">"),), ()),
    },
    "shared/ops/status.py": {
        (CLIPS, (("status", "=="),), ()),
        (ANALYSES, (("status", "=="),), ()),
        (DATASET_SHARDS, (("status", "=="),), ()),
        (CRITIQUE_RUNS, (), (("planned_at", "desc"),)),
        (f"{CRITIQUE_RUNS}/<id>/items", (("status", "=="),), ()),
        # documents per collection (those the seeded store holds: the count takes no filter)
        *((name, (), ()) for name in (SETS, ROUNDS, CRITIQUE_RUNS, DISCOVERY_RUNS)),
    },
}


def shape(query: Query) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    parts = query.collection.split("/")
    collection = "/".join("<id>" if i % 2 else part for i, part in enumerate(parts))
    return (
        collection,
        tuple((name, op) for name, op, _value in query.where),
        query.order_by,
    )


@pytest.fixture(scope="module")
def recorder() -> QueryRecorder:
    return page_recorder()


def test_every_page_query_is_recorded_here(recorder):
    """Each ``.query(`` and ``documents.count(`` call of the pages' modules is made by
    page_recorder (firestore_queries.py): a new one must be added to it, and get its index in
    firestore.tf if it needs one. The pages themselves (shared/web/) query nothing directly."""
    queries = query_calls(PAGE_MODULES)
    counts = count_calls(PAGE_MODULES)

    assert {path for path, _line in queries} == {
        "shared/trainsets/api.py",
        "shared/learning/roundviews.py",
        "shared/discovery/overview.py",
        "shared/ops/costs.py",
        "shared/ops/status.py",
    }
    assert {path for path, _line in counts} == {
        "shared/trainsets/api.py",
        "shared/discovery/overview.py",
        "shared/ops/status.py",
    }
    assert recorded_everywhere(queries, recorder.sites) == []
    assert recorded_everywhere(counts, recorder.count_sites) == []


def test_what_each_page_asks_the_store(recorder):
    for module, expected in SHAPES.items():
        queries, counts = recorder.under([module])
        assert {shape(q) for q in [*queries, *counts]} == expected, module


def test_the_filtered_set_pages_have_their_index(root, recorder):
    """The image-sets page filtered by status (status ==, set_id > cursor, order by set_id):
    one composite index, (status, set_id) ascending, serves every status, with and without
    a cursor; the unfiltered pages use set_id's own index."""
    queries, _counts = recorder.under(["shared/trainsets/"])
    needed = [q for q in queries if q.needs_composite_index]
    declared = {index.index_key: index for index in index_instances(root)}

    # Every status, the first page and one after a cursor.
    assert len(needed) == 2 * len(SET_STATUSES)
    assert {value for q in needed for name, _op, value in q.where if name == "status"} == set(
        SET_STATUSES
    )
    for query in needed:
        assert query.collection == SETS
        assert query.where[0][:2] == ("status", "==")
        assert query.order_by == (("set_id", "asc"),)
        assert query.index_key in declared, f"no composite index for {query}"
        assert declared[query.index_key].resource.address == INDEX
    assert {q.index_key for q in needed} == {
        (SETS, (str({"field_path": "status", "order": "ASCENDING"}),
                str({"field_path": "set_id", "order": "ASCENDING"})))
    }  # fmt: skip
    # Without a status: set_id's range and order, one field.
    unfiltered = [q for q in queries if q.collection == SETS and not q.needs_composite_index]
    assert unfiltered
    assert all(q.fields == {"set_id"} for q in unfiltered)


def test_the_trainsets_index(root):
    index = by_address(root)[INDEX]

    assert index_fields(index) == [
        {"field_path": "status", "order": "ASCENDING"},
        {"field_path": "set_id", "order": "ASCENDING"},
    ]
    assert index.body["collection"] == SETS
    assert index.body["query_scope"] == "COLLECTION"  # the adapter queries one collection
    assert index.body["database"] == "${google_firestore_database.this.name}"
    assert index.body["project"] == "${var.project_id}"
    assert "${google_firestore_database.this}" in index.body["depends_on"]
    # Not gated on the web app's image: `vidcurate web` on a laptop pages with it too.
    assert "for_each" not in index.body
    assert "count" not in index.body


def test_the_set_counts_merge_single_field_indexes(root, recorder):
    """The counts by status, and of the evaluated sets not balanced (status == and
    balanced ==): equalities only, which Firestore answers by merging single-field indexes."""
    _queries, counts = recorder.under(["shared/trainsets/"])
    exempt = exempt_fields(root)
    indexed = indexed_fields(root)

    assert (("status", "=="), ("balanced", "==")) in {shape(q)[1] for q in counts}
    for query in counts:
        assert not query.needs_composite_index, query
        assert served_by_single_field_index(query, exempt, indexed), query


def test_every_other_page_query_is_served_by_a_single_field_index(root, recorder):
    """Every query and count query the pages make (those of other packages on the way
    included: a run's costs, the spend totals, the critique counts), but the filtered set
    pages: single-field indexes, which no exemption in firestore.tf removes (ranges on
    relevance_score, max_cost_usd and request.max_cost_usd; orders by round, planned_at and
    created_at; status == on discovery_runs/<run>/words, dataset_shards, frame_analyses,
    clips and critique_runs/<folder>/items, whose other fields are exempt)."""
    exempt = exempt_fields(root)
    indexed = indexed_fields(root)
    simple = [q for q in [*recorder.queries, *recorder.counts] if not q.needs_composite_index]

    assert {q.collection for q in [*recorder.queries, *recorder.counts]} >= {
        SETS,
        ROUNDS,
        WORD_TO_VIDEO,
        CRITIQUE_RUNS,
        DISCOVERY_RUNS,
        DATASET_SHARDS,
    }
    for query in simple:
        assert served_by_single_field_index(query, exempt, indexed), query
    # The status page's failed items: the items' status stays indexed while other fields of
    # theirs are exempt; the same check fails were it exempt too.
    (failed,) = {q for q in recorder.under(["shared/ops/status.py"])[0] if "items" in q.collection}
    assert "status" not in hcl_list(local(root, "critique_items_unindexed_fields"))
    assert served_by_single_field_index(failed, exempt, indexed)
    items_group = local(root, "critique_items_collection_group")
    assert not served_by_single_field_index(failed, exempt | {(items_group, "status")}, indexed)

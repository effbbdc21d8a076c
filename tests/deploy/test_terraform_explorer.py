"""The web app's clip explorer (shared/web/explorer.py) as terraform deploys it: the Firestore
indexes its queries need (a composite index per searchable metadata field,
var.explorer_metadata_fields), and read-only access for the web app's account to the
buckets it plays clips and shows frames from.

The web account's roles as a whole are checked in test_terraform_web.py; the discovery
queries' indexes in test_terraform_discovery.py, the other pages' (training sets, rounds,
costs, status) in test_terraform_pages.py. Every composite index firestore.tf declares must
serve a query of one of them (below).
"""

from __future__ import annotations

import ast
import re
import typing

from firestore_queries import (
    EXPLORER_MODULES,
    discovery_queries,
    exempt_fields,
    explorer_queries,
    explorer_recorder,
    for_each_variable,
    index_instances,
    page_recorder,
    query_calls,
)
from terraform_config import (
    REPO,
    assert_accepts_only,
    by_address,
    hcl_regex,
    local,
    local_set,
    resources,
    validation_condition,
    variables,
)

from shared.media.store import CLIPS
from shared.vision.api import IN_LIMIT
from shared.vision.store import ANALYSES
from shared.web.explorer import FieldQuery

SEARCHABLE = "explorer_metadata_fields"
INDEX = "google_firestore_index.clips_by_metadata"
FIRESTORE_IN_LIMIT = 30  # values one "in" filter may take

# Object permissions of the predefined Cloud Storage roles a bucket grant may use
# (https://cloud.google.com/storage/docs/access-control/iam-roles), the folder and project
# permissions left out.
OBJECT_PERMISSIONS = {
    "roles/storage.objectViewer": {"storage.objects.get", "storage.objects.list"},
    "roles/storage.objectCreator": {"storage.objects.create"},
    "roles/storage.objectUser": {
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.restore",
        "storage.objects.update",
    },
    "roles/storage.objectAdmin": {
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.getIamPolicy",
        "storage.objects.list",
        "storage.objects.restore",
        "storage.objects.setIamPolicy",
        "storage.objects.update",
    },
}
WRITES = {
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.restore",
    "storage.objects.update",
    "storage.objects.setIamPolicy",
}
# BlobStore's methods that only read (shared/ports/blobstore.py).
BLOB_READS = {"read", "open_read", "stat", "exists", "list"}


def searchable(root) -> list[str]:
    return variables(root)[SEARCHABLE]["default"]


# --- the queries ----------------------------------------------------------------------------


def test_every_explorer_query_is_recorded_here():
    """Each .query( call of the explorer's modules is made by explorer_recorder
    (firestore_queries.py): a new query there must be added to it, and get its index in
    firestore.tf if it needs one. The pages themselves query nothing directly."""
    recorder = explorer_recorder()
    calls = query_calls(EXPLORER_MODULES)

    assert {path for path, _line in calls} == {"shared/media/api.py", "shared/vision/api.py"}
    for (path, first), lines in calls.items():
        assert any(p == path and line in lines for p, line in recorder.sites), (path, first)
    for path, line in recorder.sites:
        assert any(p == path and line in lines for (p, _), lines in calls.items()), (path, line)


def test_every_searchable_field_has_its_index(root):
    """A page of clips searched by metadata.<field> == value, with or without the name
    prefix's range and the page's cursor, ordered by name: one composite index per field of
    var.explorer_metadata_fields, (metadata.<field>, name) ascending."""
    fields = searchable(root)
    declared = {index.index_key: index for index in index_instances(root)}
    needed = [query for query in explorer_queries(fields) if query.needs_composite_index]

    assert fields == ["factory_id", "worker_id"]
    # Two prefixes x two cursors per field, every one a clips query by name.
    assert len(needed) == 4 * len(fields)
    for query in needed:
        assert query.collection == CLIPS
        assert query.order_by == (("name", "asc"),)
        (field,) = query.fields - {"name"}
        assert field.removeprefix("metadata.") in fields
        assert query.index_key in declared, f"no composite index for {query}"
        assert declared[query.index_key].resource.address == INDEX
    assert {query.index_key for query in needed} == {
        (CLIPS, (str({"field_path": f"metadata.{f}", "order": "ASCENDING"}),
                 str({"field_path": "name", "order": "ASCENDING"})))
        for f in fields
    }  # fmt: skip


def test_the_metadata_index_is_one_per_listed_field(root):
    index = by_address(root)[INDEX]

    assert index.body["for_each"] == f"${{toset(var.{SEARCHABLE})}}"
    assert for_each_variable(index) == SEARCHABLE
    assert index.body["collection"] == CLIPS
    assert index.body["query_scope"] == "COLLECTION"  # the adapter queries one collection
    assert index.body["database"] == "${google_firestore_database.this.name}"
    assert index.body["project"] == "${var.project_id}"
    assert "${google_firestore_database.this}" in index.body["depends_on"]
    # Not gated on the web app's image: `vidcurate web` on a laptop searches with it too.
    assert "count" not in index.body
    assert "web_enabled" not in index.body["for_each"]


def test_another_field_is_searchable_once_listed(root):
    """A field not listed has no index (Firestore answers FAILED_PRECONDITION, as the
    variable's description says); listing it declares the index its searches need."""
    queries = [q for q in explorer_queries(["camera_id"]) if q.needs_composite_index]

    assert queries
    default = {index.index_key for index in index_instances(root)}
    listed = {
        index.index_key
        for index in index_instances(root, {SEARCHABLE: [*searchable(root), "camera_id"]})
    }
    for query in queries:
        assert query.index_key not in default
        assert query.index_key in listed
    assert listed - default == {query.index_key for query in queries}


def test_the_searchable_fields_variable(root):
    declared = variables(root)[SEARCHABLE]
    condition = validation_condition(root, SEARCHABLE)
    pattern = hcl_regex(condition, "field")
    (meta,) = typing.get_args(FieldQuery)[1].metadata
    explorer_pattern = meta.pattern

    assert declared["type"] == "${list(string)}"
    assert declared["nullable"] is False
    description = declared["description"]
    assert "FAILED_PRECONDITION" in description
    assert "add it to this list" in description
    assert "metadata.<field>" in description
    # Plain names, which a field path needs no backticks for and the index names as they are.
    good = ("factory_id", "worker_id", "_x", "Camera2", "a" * 64)
    assert_accepts_only(
        pattern,
        good=good,
        bad=("", "1st", "worker-id", "a.b", "a b", "metadata.x", "a" * 65, "`x`"),
    )
    assert '!can(regex("^__.*__$", field))' in condition  # __name__ and the like: reserved
    # Every name the variable takes, the explorer's form takes too.
    for name in (*good, *declared["default"]):
        assert re.fullmatch(explorer_pattern, name), name


def test_the_other_explorer_queries_use_automatic_indexes(root):
    """A page by name alone (the prefix's range, the cursor, the order: one field), a clip's
    analyses (clip ==) and a page's summaries (clip in [at most 30]): single-field indexes,
    which no exemption in firestore.tf removes."""
    simple = [q for q in explorer_queries(searchable(root)) if not q.needs_composite_index]
    exempt = exempt_fields(root)

    assert {q.collection for q in simple} == {CLIPS, ANALYSES}
    for query in simple:
        assert query.fields == ({"name"} if query.collection == CLIPS else {"clip"}), query
    # 31 names: two queries, each within Firestore's limit on an "in" list.
    lists = [value for q in simple for _name, op, value in q.where if op == "in"]
    assert [len(value) for value in lists] == [IN_LIMIT, 1]
    assert IN_LIMIT <= FIRESTORE_IN_LIMIT
    # Nothing of either collection is exempt from indexing (metadata's subfields included).
    assert not {(c, f) for c, f in exempt if c in {CLIPS, ANALYSES}}


def test_every_composite_index_serves_a_query_of_the_code(root):
    """No index that no query uses (each costs a write per document), none declared twice."""
    pages = page_recorder()
    queries = [
        *discovery_queries(),
        *explorer_queries(searchable(root)),
        *pages.queries,
        *pages.counts,
    ]
    needed = {q.index_key for q in queries if q.needs_composite_index}
    instances = index_instances(root)

    assert len({index.index_key for index in instances}) == len(instances)
    assert {index.index_key for index in instances} == needed


# --- the buckets ----------------------------------------------------------------------------


def blob_calls(path: str) -> set[str]:
    """The BlobStore methods ``path`` calls (``<...>.blobs.<method>(`` or ``blobs.<method>(``)."""
    found = set()
    for node in ast.walk(ast.parse((REPO / path).read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if (isinstance(owner, ast.Attribute) and owner.attr == "blobs") or (
            isinstance(owner, ast.Name) and owner.id == "blobs"
        ):
            found.add(node.func.attr)
    return found


def test_the_explorer_only_reads_objects():
    """It streams a clip (stat, then ranged reads) and reads frame JPEGs: storage.objects.get
    on the videos and frames buckets is all it needs."""
    calls = set().union(*(blob_calls(path) for path in EXPLORER_MODULES))

    assert {"stat", "open_read", "read"} <= calls
    assert calls <= BLOB_READS


def test_the_web_account_reads_the_videos_and_frames_buckets_but_cannot_write_them(root):
    buckets = local(root, "web_buckets")
    grant = by_address(root)["google_storage_bucket_iam_member.web"]

    for bucket in ("videos", "frames"):
        assert bucket in local_set(root, "data_buckets")
        permissions = OBJECT_PERMISSIONS[buckets[bucket]]
        assert "storage.objects.get" in permissions, bucket
        assert not permissions & WRITES, bucket
    assert buckets["videos"] == buckets["frames"] == "roles/storage.objectViewer"
    # One grant per entry of web_buckets, on that bucket, to the web account.
    assert grant.body["bucket"] == "${google_storage_bucket.data[each.key].name}"
    assert grant.body["role"] == "${each.value}"
    assert grant.body["member"] == "serviceAccount:${google_service_account.web[0].email}"
    assert "local.web_buckets" in grant.body["for_each"]
    # No other Cloud Storage grant to it, on a bucket or on the project.
    storage_grants = [
        r.address
        for r in resources(root, "")
        if "google_service_account.web" in str(r.body)
        and (r.type.startswith("google_storage_") or "roles/storage." in str(r.body))
    ]
    assert storage_grants == ["google_storage_bucket_iam_member.web"]
    # The app finds the buckets by the settings the functions get (VIDCURATE_<ROLE>_BUCKET).
    assert local(root, "web_environment").startswith("${merge(local.function_environment,")
    environment = local(root, "function_environment")
    assert 'VIDCURATE_${upper(role)}_BUCKET" => bucket.name' in environment
    assert "google_storage_bucket.data" in environment

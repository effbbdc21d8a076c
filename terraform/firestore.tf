# The document store (Settings.firestore_database): item status, idempotency claims, cost
# ledger. Native mode, point-in-time recovery, protected from deletion.

resource "google_firestore_database" "this" {
  project     = var.project_id
  name        = var.firestore_database
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"

  # Server client libraries lock what a transaction reads: claims under contention queue
  # instead of retrying each other out.
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# Indexes: none to declare. Every query of the code (shared/adapters/gcp/firestore.py queries
# one collection, never a collection group) is served by the single-field indexes Firestore
# keeps automatically for each field at collection scope:
#   caption_configs/<config>/tasks          task == and status ==; has_edge_cases == (counts)
#   caption_configs/<config>/video_sources  list_id ==
#   quarantine                              config_type ==
#   exports                                 order by folder desc (limit)
#   hub_uploads                             reads by document id only
# Equality filters on several fields are answered by merging those single-field indexes, and
# a single-field order needs nothing more; a composite index (google_firestore_index) is only
# required for a range or inequality filter, or an order, combined with filters on other
# fields. A collection-group query (collection_group("tasks")) would need collection-group
# scope single-field indexes (google_firestore_field); add them here if one is introduced.

# Single-field index exemptions for the (video, task) documents, caption_configs/<config>/
# tasks/<video>~<task> (collection group "tasks", every config). Firestore indexes every
# field, and every element of arrays and maps, of every document by default; these fields
# are never filtered or ordered on (queries filter on task, status and has_edge_cases only):
#   files, history, transitions, edge_cases, quarantined_files
#       large, nested values: each write would update an index entry per nested value
#       (write cost and latency, the 40,000 index entries per document limit)
#   updated_at
#       a server timestamp, monotonically increasing: an index on it concentrates the
#       writes of a batch on one tablet (sequential index hotspot, ~500 writes/s)
# An empty index_config removes every single-field index of the field (collection and
# collection-group scope, ascending, descending, array-contains); ttl_config is left out,
# so no TTL policy. video_sources documents are small and need no exemption. Before
# filtering or ordering on one of these fields, remove it from this list.
locals {
  tasks_collection_group = "tasks"
  tasks_unindexed_fields = ["files", "history", "transitions", "edge_cases", "quarantined_files", "updated_at"]
}

resource "google_firestore_field" "tasks_unindexed" {
  for_each = toset(local.tasks_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.tasks_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

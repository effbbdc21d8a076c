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

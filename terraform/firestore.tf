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

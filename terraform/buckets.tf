# Every bucket: uniform bucket-level access (IAM only, no ACLs), public access prevention
# enforced, versioning with old versions expiring; access logs to one log bucket when
# var.access_logs is on.

locals {
  bucket_prefix   = coalesce(var.bucket_prefix, "${var.project_id}-vidcurate")
  bucket_location = upper(coalesce(var.bucket_location, var.region))

  # Bucket roles of shared/platform/settings.py (BUCKET_ROLES) -> bucket names (Settings.<role>_bucket).
  data_buckets = {
    for role in ["annotations", "exports", "videos", "frames", "sets", "evaluations", "models", "features", "discovery"] : role => "${local.bucket_prefix}-${role}"
  }

  # shared/platform/settings.py VERSIONS_NOT_KEPT: objects rewritten so often (a training
  # job's resume checkpoint, every epoch) that their replaced versions are only cost.
  versions_not_kept = {
    models = ["_last.pt"]
  }
}

resource "google_storage_bucket" "access_logs" {
  # checkov:skip=CKV_GCP_62: this is the access-log bucket; logging it into itself would loop.
  count = var.access_logs ? 1 : 0

  name     = "${local.bucket_prefix}-access-logs"
  project  = var.project_id
  location = local.bucket_location

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.access_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Cloud Storage writes usage logs as this Google group (documented for access logging). A
# domain-restricted organisation refuses the grant: hence var.access_logs.
resource "google_storage_bucket_iam_member" "access_log_writer" {
  count = var.access_logs ? 1 : 0

  bucket = google_storage_bucket.access_logs[0].name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# Deployments from before var.access_logs had one log bucket; they keep it with
# access_logs = true (with false, terraform deletes it).
moved {
  from = google_storage_bucket.access_logs
  to   = google_storage_bucket.access_logs[0]
}

moved {
  from = google_storage_bucket_iam_member.access_log_writer
  to   = google_storage_bucket_iam_member.access_log_writer[0]
}

resource "google_storage_bucket" "data" {
  for_each = local.data_buckets

  name     = each.value
  project  = var.project_id
  location = local.bucket_location

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  # Annotation files are edited in place by the tools that upload them; a previous version is
  # how an overwrite by mistake is undone. Functions key their work on object generations,
  # which exist with or without versioning.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Replaced versions of the objects in local.versions_not_kept go at the next lifecycle pass.
  dynamic "lifecycle_rule" {
    for_each = contains(keys(local.versions_not_kept), each.key) ? [local.versions_not_kept[each.key]] : []
    content {
      condition {
        with_state         = "ARCHIVED"
        num_newer_versions = 1
        matches_suffix     = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  # Access logs only with var.access_logs (their writer group is refused by
  # domain-restricted organisations, and a deploy must succeed there too).
  dynamic "logging" {
    for_each = google_storage_bucket.access_logs
    content {
      log_bucket        = logging.value.name
      log_object_prefix = each.key
    }
  }

  # With access logs on, the group may write before the first request is logged; with them
  # off, the grant does not exist and nothing waits.
  depends_on = [
    google_project_service.enabled,
    google_storage_bucket_iam_member.access_log_writer,
  ]
}

# Source archives of the functions, named by content hash (modules/event_function).
resource "google_storage_bucket" "function_sources" {
  name     = "${local.bucket_prefix}-function-sources"
  project  = var.project_id
  location = local.bucket_location

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "logging" {
    for_each = google_storage_bucket.access_logs
    content {
      log_bucket        = logging.value.name
      log_object_prefix = "function-sources"
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_storage_bucket_iam_member.access_log_writer,
  ]
}

# Cloud Build reads the archives as the functions' build service account (terraform/bootstrap
# grants it the rest of what a build needs: logs, images, Cloud Functions' own copy of the
# sources).
resource "google_storage_bucket_iam_member" "function_sources_builder" {
  count = var.build_service_account == null ? 0 : 1

  bucket = google_storage_bucket.function_sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${regex("serviceAccounts/(.+)$", var.build_service_account)[0]}"
}

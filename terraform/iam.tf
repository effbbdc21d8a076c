# Least privilege for the functions' own identities: one service account per function, with
# exactly what its catalogue entry in functions.tf declares: bucket-level roles on the buckets
# it touches, publisher on the topics it publishes to. They are created here rather than in
# modules/event_function so that the grants exist before the function and its subscription
# (the first pushed event must not fail for want of a role). The push identities, the
# dead-letter grants and secret access are in the module.

locals {
  function_bucket_roles = merge([
    for name, f in local.functions : {
      for role_name, iam_role in f.buckets : "${name}/${role_name}" => {
        function = name
        bucket   = role_name
        role     = iam_role
      }
    }
  ]...)

  function_publishes = merge([
    for name, f in local.functions : {
      for topic in f.publishes : "${name}/${topic}" => {
        function = name
        topic    = topic
      }
    }
  ]...)
}

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "fn-${replace(each.key, "_", "-")}"
  display_name = "vidcurate function ${each.key}"
  description  = "Runtime identity of the ${each.key} Cloud Function; holds only what it touches."

  depends_on = [google_project_service.enabled]
}

# Every function reads and writes documents (status, idempotency claims, the failures of its
# deliveries). Firestore grants data access per project; the functions' project holds only
# vidcurate's database. This is the only project-level role granted here: the deployer may
# grant no other (terraform/bootstrap, deployer_grantable_roles).
resource "google_project_iam_member" "function_datastore_user" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = local.function_bucket_roles

  bucket = google_storage_bucket.data[each.value.bucket].name
  role   = each.value.role
  member = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.function_publishes

  project = var.project_id
  topic   = google_pubsub_topic.events[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Topics. Each function's own subscription, dead-letter topic and hold subscription live in
# modules/event_function; here are the topics functions are triggered by or publish to, and
# the buckets' notification topics.

locals {
  # A storage trigger reads its bucket's notification topic (catalog.storage_topic).
  storage_topics = {
    for role, bucket in local.data_buckets : role => "gcs-notifications-${bucket}"
  }

  event_topics = setunion(
    [for f in local.functions : f.trigger_topic if f.trigger_topic != null],
    flatten([for f in local.functions : f.publishes]),
  )

  watched_buckets = toset([for f in local.functions : f.trigger_bucket if f.trigger_bucket != null])

  # Watched bucket -> every event type one of its functions handles; each function's
  # subscription then filters out the types it does not (modules/event_function).
  notification_event_types = {
    for role in local.watched_buckets : role => sort(distinct(flatten([
      for f in local.functions : f.trigger_events if f.trigger_bucket == role
    ])))
  }

  # Topic name -> name, through the resources, so that subscriptions depend on their topic.
  source_topics = merge(
    { for name, topic in google_pubsub_topic.events : name => topic.name },
    { for role, topic in google_pubsub_topic.gcs_notifications : topic.name => topic.name },
  )
}

resource "google_pubsub_topic" "events" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption at rest; messages carry ids and object references, not annotation content, and a customer-managed key would add a KMS dependency to every publish.
  for_each = local.event_topics

  project = var.project_id
  name    = each.key

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "gcs_notifications" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption at rest; notifications carry object metadata (name, size, hashes), not content.
  for_each = local.watched_buckets

  project = var.project_id
  name    = local.storage_topics[each.key]

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "gcs_notifications_publisher" {
  for_each = local.watched_buckets

  project = var.project_id
  topic   = google_pubsub_topic.gcs_notifications[each.key].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${local.storage_service_agent}"
}

# Object events of a watched bucket -> its notification topic, in the JSON_API_V1 format the
# local runtime emits too (shared/platform/runtime/dispatch.py reads it the same way). The data buckets
# keep versions: deleting (or overwriting) a live object makes it noncurrent and arrives as
# OBJECT_ARCHIVE; OBJECT_DELETE means a version is gone for good (a noncurrent one deleted by
# hand or by the lifecycle rule, or any delete if versioning were off). A function that
# tracks objects therefore asks for both.
resource "google_storage_notification" "object_events" {
  for_each = local.watched_buckets

  bucket         = google_storage_bucket.data[each.key].name
  topic          = google_pubsub_topic.gcs_notifications[each.key].id
  payload_format = "JSON_API_V1"
  event_types    = local.notification_event_types[each.key]

  # Notification configs cannot be updated: a change of event types replaces this one. The
  # new config is created first, so no object event goes unnotified meanwhile; the few
  # published twice are absorbed by the functions' idempotency (object generations).
  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_pubsub_topic_iam_member.gcs_notifications_publisher]
}

# Formerly OBJECT_FINALIZE only, under this name.
moved {
  from = google_storage_notification.finalized
  to   = google_storage_notification.object_events
}

/*
  An event-driven Cloud Function (2nd gen) with an explicit retry and dead-letter contract.

  Why no `event_trigger` (Eventarc) block:
  a function deployed with `event_trigger` gets its events through a Pub/Sub subscription
  that Eventarc creates and owns. `retry_policy = "RETRY_POLICY_RETRY"` makes that
  subscription retry failures, but terraform cannot give it a dead-letter policy: the
  subscription is not a resource of this configuration, its name is only known after the
  trigger exists, and Eventarc may recreate it. A poison event would then be retried until
  the topic's retention expires and be dropped silently. Our contract (DESIGN.md section 3)
  is that every retried delivery ends in a dead-letter topic, so this module owns the
  delivery path instead:

    source topic --> google_pubsub_subscription "<name>" (push, OIDC) --> function URL
                        | retry_policy: exponential backoff between attempts
                        | dead_letter_policy: after max_delivery_attempts
                        v
                     topic "<name>-dead-letter" --> pull subscription "<name>-dead-letter-hold"

  - Topic triggers: the subscription reads the topic itself. functions-framework turns the
    raw push body into the same `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent
    Eventarc would send (event_conversion.py); the push URL ends in
    projects/<p>/topics/<t>, so the event's source names the topic.
  - Storage triggers: the root module sends the bucket's object notifications (JSON_API_V1;
    the union of the event types its functions handle) to topic gcs-notifications-<bucket>
    and this subscription reads them, filtered on bucketId and on the event types in
    trigger.storage_events. The function receives the notification as a messagePublished
    event whose data is the object resource.
  - Names match the local runtime (shared/catalog.py): subscription <name>, dead
    letter topic <name>-dead-letter, hold subscription <name>-dead-letter-hold, so
    `vidcurate dlq` works the same against the cloud.
  - A handler that raises answers 500: Pub/Sub retries with backoff. The entry point counts
    its handler's failures per message (Firestore, delivery_failures) and, after the root's
    max_delivery_attempts of them, publishes the message to the dead-letter topic itself,
    with its error, and acknowledges it (the runtime service account publishes there). A
    handler that returns (PermanentError included) acknowledges.
  - Back-pressure: a function at its instance cap refuses pushes (429) before our code
    runs, and Pub/Sub counts each refusal as an attempt. The subscription's own
    delivery.max_delivery_attempts and retention are therefore sized for the function's
    expected burst (shared/platform/backpressure.py; preconditions on the subscription).
    Past them the Pub/Sub service agent forwards the message to the dead-letter topic (it
    needs publisher there and subscriber on the source subscription).
  - The function accepts only internal traffic and authenticated calls: Pub/Sub signs each
    push with an OIDC token of the push service account, which may invoke this function
    and nothing else.
  - The entry point is a `@functions_framework.cloud_event` function, so the framework
    serves it with the CloudEvent signature although, without event_trigger, Cloud
    Functions deploys it as an HTTP function.
*/

locals {
  # Cloud Run service names allow '-' but not '_'.
  stem          = replace(var.name, "_", "-")
  function_name = local.stem

  runtime_sa_email = var.service_account.create ? one(google_service_account.runtime[*].email) : var.service_account.email
  push_sa_email    = var.push_service_account.create ? one(google_service_account.push[*].email) : var.push_service_account.email

  source_topic_id = "projects/${var.project_id}/topics/${var.trigger.topic}"

  # Push requests time out at the ack deadline: never before the function does.
  ack_deadline_seconds = coalesce(var.delivery.ack_deadline_seconds, max(10, var.service.timeout_seconds))

  # Storage triggers take only their bucket's notifications of the event types they handle
  # (what a google.cloud.storage.object.v1.<event> trigger would deliver), e.g.
  #   (attributes.eventType = "OBJECT_DELETE" OR attributes.eventType = "OBJECT_FINALIZE")
  #   AND attributes.bucketId = "<bucket>"
  # Pub/Sub needs the parentheses to mix OR and AND, and keeps a filter to 256 bytes (checked
  # on the subscription). Sorted, and one type without parentheses, so the same set of types
  # always renders the same filter: a subscription's filter cannot be changed in place.
  storage_event_filters = [
    for event in sort(distinct(var.trigger.storage_events)) : "attributes.eventType = \"${event}\""
  ]
  subscription_filter = (
    var.trigger.storage_bucket == null
    ? null
    : format(
      "%s AND attributes.bucketId = \"%s\"",
      length(local.storage_event_filters) == 1 ? local.storage_event_filters[0] : "(${join(" OR ", local.storage_event_filters)})",
      var.trigger.storage_bucket,
    )
  )

  # The back-pressure rule of shared/platform/backpressure.py, checked on the subscription:
  # a burst loses a healthy message to the dead letters once in 1/dead_letter_odds bursts,
  # and drains before Pub/Sub drops what is left (retention).
  dead_letter_odds    = 0.001
  window_utilisation  = 0.5
  concurrent_requests = var.service.max_instance_count * var.service.max_instance_request_concurrency
  required_attempts   = max(5, ceil(log(var.delivery.expected_burst / local.dead_letter_odds, 2)))
  drain_seconds       = var.delivery.expected_burst * var.delivery.seconds_per_message / (local.concurrent_requests * local.window_utilisation)
  retention_seconds   = tonumber(trimsuffix(var.delivery.message_retention_duration, "s"))
  max_retention       = 2678400 # 31 days, Pub/Sub's longest

  # One accessor binding per secret, however many variables read it.
  secret_accessors = {
    for env, ref in var.secret_environment_variables :
    "${coalesce(ref.project_id, var.project_id)}/${ref.secret}" => {
      project_id = coalesce(ref.project_id, var.project_id)
      secret     = ref.secret
    }...
  }
}

# --- identities -------------------------------------------------------------------------

resource "google_service_account" "runtime" {
  count = var.service_account.create ? 1 : 0

  project      = var.project_id
  account_id   = "fn-${local.stem}"
  display_name = "vidcurate function ${var.name}"
  description  = "Runtime identity of the ${var.name} Cloud Function; holds only what it touches."
}

resource "google_service_account" "push" {
  count = var.push_service_account.create ? 1 : 0

  project      = var.project_id
  account_id   = "push-${local.stem}"
  display_name = "vidcurate push to ${var.name}"
  description  = "Pub/Sub push identity: may invoke the ${var.name} function and nothing else."
}

# Pub/Sub mints the push OIDC tokens as the push service account (required for projects
# created before 2021-04-08, harmless after). Only on an account this module owns: a shared
# account's bindings belong to whoever created it.
resource "google_service_account_iam_member" "push_token_creator" {
  count = var.push_service_account.create ? 1 : 0

  service_account_id = google_service_account.push[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${var.pubsub_service_agent}"
}

resource "google_cloud_run_service_iam_member" "push_invoker" {
  project  = var.project_id
  location = google_cloudfunctions2_function.this.location
  service  = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${local.push_sa_email}"
}

resource "google_secret_manager_secret_iam_member" "runtime" {
  for_each = local.secret_accessors

  project   = each.value[0].project_id
  secret_id = each.value[0].secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${local.runtime_sa_email}"
}

# --- the function -----------------------------------------------------------------------

resource "google_storage_bucket_object" "source" {
  bucket       = var.source_archive.bucket
  name         = "${var.name}/${var.source_archive.md5}.zip"
  source       = var.source_archive.path
  content_type = "application/zip"
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = local.function_name
  description = var.description
  labels      = var.labels

  build_config {
    runtime         = var.runtime
    entry_point     = coalesce(var.entry_point, var.name)
    service_account = var.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    timeout_seconds                  = var.service.timeout_seconds
    available_memory                 = var.service.available_memory
    available_cpu                    = var.service.available_cpu
    min_instance_count               = var.service.min_instance_count
    max_instance_count               = var.service.max_instance_count
    max_instance_request_concurrency = var.service.max_instance_request_concurrency
    # Only the push subscription calls the function, and Pub/Sub push counts as internal.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = local.runtime_sa_email
    environment_variables          = var.environment_variables

    dynamic "secret_environment_variables" {
      for_each = var.secret_environment_variables
      content {
        key        = secret_environment_variables.key
        project_id = coalesce(secret_environment_variables.value.project_id, var.project_id)
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }

  # A revision that cannot read its secrets fails to start.
  depends_on = [google_secret_manager_secret_iam_member.runtime]
}

# --- delivery: subscription, retries, dead letters --------------------------------------

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption at rest, like the topics it receives from; a customer-managed key would add a KMS dependency to dead-lettering, the path that must not fail.
  project = var.project_id
  name    = "${var.name}-dead-letter"
  labels  = var.labels

  # Dead letters stay seekable even if the hold subscription is recreated.
  message_retention_duration = var.delivery.dead_letter_retention
}

# Messages published to a topic without subscriptions are lost: this one keeps dead letters
# until an operator lists or replays them (`vidcurate dlq`). It is pulled by hand, never
# pushed, so nothing retries it and it needs no dead-letter policy of its own.
resource "google_pubsub_subscription" "dead_letter_hold" {
  project = var.project_id
  name    = "${var.name}-dead-letter-hold"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = var.labels

  ack_deadline_seconds       = 60
  message_retention_duration = var.delivery.dead_letter_retention

  expiration_policy {
    ttl = "" # never expires, however long nothing fails
  }
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.pubsub_service_agent}"
}

# The entry point forwards a message whose handler failed max_delivery_attempts times to this
# topic itself, as the function: publisher here, and on no other dead-letter topic.
resource "google_pubsub_topic_iam_member" "dead_letter_runtime_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${local.runtime_sa_email}"
}

resource "google_pubsub_subscription" "delivery" {
  project = var.project_id
  name    = var.name
  topic   = local.source_topic_id
  labels  = var.labels
  # Pub/Sub cannot change a subscription's filter: a change of trigger.storage_events (or
  # bucket) forces terraform to replace the subscription, and messages still unacknowledged
  # on the old one are lost with it. Replay them from the bucket (or the dead-letter hold)
  # if the replacement happens while events are in flight.
  filter = local.subscription_filter

  ack_deadline_seconds       = local.ack_deadline_seconds
  message_retention_duration = var.delivery.message_retention_duration

  expiration_policy {
    ttl = "" # an idle function keeps its subscription
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.this.service_config[0].uri}/${local.source_topic_id}"

    oidc_token {
      service_account_email = local.push_sa_email
      audience              = google_cloudfunctions2_function.this.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${var.delivery.minimum_backoff_seconds}s"
    maximum_backoff = "${var.delivery.maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.delivery.max_delivery_attempts
  }

  lifecycle {
    precondition {
      condition     = length(local.subscription_filter == null ? "" : local.subscription_filter) <= 256
      error_message = "The subscription filter of ${var.name} is longer than the 256 bytes Pub/Sub accepts: use fewer trigger.storage_events or a shorter bucket name."
    }

    # Back-pressure (shared/platform/backpressure.py): refusals alone must not dead-letter a
    # healthy message, nor outlast the retention.
    precondition {
      condition     = var.delivery.max_delivery_attempts >= local.required_attempts
      error_message = "${var.name}: a burst of ${var.delivery.expected_burst} messages needs max_delivery_attempts >= ${local.required_attempts} (ceil(log2(burst / ${local.dead_letter_odds}))), not ${var.delivery.max_delivery_attempts}: pushes refused at the instance cap count as attempts."
    }

    precondition {
      condition     = local.drain_seconds <= local.max_retention
      error_message = "${var.name}: a burst of ${var.delivery.expected_burst} messages of ${var.delivery.seconds_per_message} s drains from ${local.concurrent_requests} concurrent requests in ${ceil(local.drain_seconds / 86400)} days, longer than Pub/Sub keeps a message (31): raise the instance cap."
    }

    precondition {
      condition     = local.retention_seconds >= local.drain_seconds
      error_message = "${var.name}: a burst of ${var.delivery.expected_burst} messages of ${var.delivery.seconds_per_message} s drains from ${local.concurrent_requests} concurrent requests in ${ceil(local.drain_seconds)} s (2 * burst * seconds / requests): message_retention_duration ${var.delivery.message_retention_duration} would drop the rest; keep them for at least ${ceil(local.drain_seconds / 86400)} days."
    }

    precondition {
      condition = (
        10 <= var.delivery.minimum_backoff_seconds
        && var.delivery.minimum_backoff_seconds <= var.delivery.maximum_backoff_seconds
        && var.delivery.maximum_backoff_seconds <= 600
      )
      error_message = "${var.name}: backoff ${var.delivery.minimum_backoff_seconds}-${var.delivery.maximum_backoff_seconds} s; a refused push must wait at least 10 s (10 <= minimum <= maximum <= 600)."
    }
  }

  # Deliveries start as soon as the subscription exists: let them succeed (invoker, token
  # creator) and let failures reach the dead-letter topic from the first one, whether the
  # Pub/Sub service agent (publisher) or the entry point (runtime publisher) forwards them.
  depends_on = [
    google_cloud_run_service_iam_member.push_invoker,
    google_service_account_iam_member.push_token_creator,
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_pubsub_topic_iam_member.dead_letter_runtime_publisher,
  ]
}

# The service agent acknowledges a message on this subscription when it forwards it.
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.delivery.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent}"
}

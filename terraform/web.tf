# The web app (shared/web: labelling, clip explorer, dashboards, the /v3 API) as one Cloud Run
# service behind Identity-Aware Proxy, enabled on the service itself: no load balancer, the
# run.app URL is protected, and IAP signs every request it lets through
# (x-goog-iap-jwt-assertion, audience local.web_iap_audience), which the app verifies.
#
#   browser --> IAP (roles/iap.httpsResourceAccessor: var.web_users, var.web_admins)
#           --> Cloud Run IAM (roles/run.invoker: the IAP service agent only)
#           --> vidcurate-web, running as its own service account
#
# The image is built and pushed by cloudbuild.yaml (infra/web/Dockerfile) into the Artifact
# Registry repository terraform/bootstrap creates, before this configuration is planned, and
# named here by var.web_image. Without an image (var.web_image = null, the default) nothing
# here is created, so a plan without one (the tests, a first look) still works.
#
# Known limits of IAP on Cloud Run (https://cloud.google.com/run/docs/securing/identity-aware-proxy-cloud-run):
# the project belongs to an organization and the users are of that organization (others need
# an OAuth client configured by hand), and IAP cannot also be enabled on a load balancer in
# front of the service.
#
# The admin API (POST /v3/admin/videos/batch-upload, shared/web/words_api.py) is behind IAP
# too, and also wants one of the bearer tokens of VIDCURATE_DISCOVERY_API_TOKENS, mounted
# from the secret discovery-api-tokens once var.api_keys lists it (secrets.tf). A program
# calling it is a principal of var.web_users (serviceAccount:...) and sends its Google ID
# token for IAP in Proxy-Authorization, which IAP reads first, and the admin token in
# Authorization, which IAP passes on to the app.
#
# Provider: `iap_enabled` is in the google provider since 6.30 and
# google_iap_web_cloud_run_service_iam_member since 6.31 (versions.tf requires 6.47), GA, so
# neither needs google-beta nor launch_stage = "BETA". Only the IAP service agent's identity
# is generated with google-beta (google_project_service_identity, as Pub/Sub's in main.tf).

locals {
  web_enabled      = var.web_image != null
  web_service_name = "vidcurate-web"

  # The audience of the JWT IAP signs for a Cloud Run service (VIDCURATE_WEB_IAP_AUDIENCE): the
  # app accepts requests signed for this service only. var.project_number, not a lookup: the
  # same reason as everywhere else (main.tf).
  web_iap_audience = "/projects/${var.project_number}/locations/${var.region}/services/${local.web_service_name}"

  # What the web app may touch, in the shape of a function's catalogue entry (functions.tf):
  # it reads the sampled frames it shows annotators and the clips the explorer plays; the
  # word API (/v3) serves the stored discovery clips (videos/ of the discovery bucket) and
  # stores batch uploads there, create-only: objectUser. Labels, queues, statuses, words,
  # mappings and operator_actions/<id> (who started an analysis or replayed a dead letter)
  # are documents (datastore.user, below). What it publishes and pulls: web_publishes and
  # web_dead_letter_holds.
  web_buckets = {
    frames    = "roles/storage.objectViewer"
    videos    = "roles/storage.objectViewer"
    discovery = "roles/storage.objectUser"
  }

  # The secrets it reads, each when listed in var.api_keys (secrets.tf) and the app is
  # deployed, mounted as the functions mount theirs. Environment variable -> secret id.
  #   - VIDCURATE_DISCOVERY_API_TOKENS: the admin API's tokens (words_api.py).
  #   - OPENAI_API_KEY, GEMINI_API_KEY: analyze_frames' keys (functions.tf). The clip
  #     explorer's estimate (GET /api/clips/{id}/estimate, shared/vision/api.py
  #     estimate_clip) asks the model client which provider would answer, and the analysis
  #     ids are keyed by it: without the keys analyze_frames holds it would answer "offline,
  #     $0". In the cloud the app calls no model with them (POST /api/clips/{id}/analyze
  #     publishes the job; only the embedded default describes frames in process).
  # Never CLIPCAFE_API_KEY (it never searches) nor HF_TOKEN (it never uploads).
  web_secret_keys = ["VIDCURATE_DISCOVERY_API_TOKENS", "OPENAI_API_KEY", "GEMINI_API_KEY"]
  web_secrets = {
    for env, secret in local.api_key_secrets : env => secret
    if local.web_enabled && contains(local.web_secret_keys, env)
  }

  # The topics it publishes to, each by name (publisher on each, nothing project-wide):
  #   - frame-analysis: the clip explorer's analyses (POST /api/clips/{id}/analyze,
  #     shared/vision/api.py request_analysis: one message of FRAME_ANALYSIS for
  #     analyze_frames).
  #   - every function's source topic (its trigger topic, or gcs-notifications-<bucket> for
  #     a storage trigger): the status page's replay (POST /api/status/replay) publishes a
  #     dead letter back there, as `vidcurate dlq replay` does (shared/platform/
  #     deadletters.py replay_dead_letters, spec.source_topic). That call runs as this
  #     account, not as the operator: the app lets admins alone replay, from the page
  #     (its anti-forgery header), and records who asked in operator_actions. The CLI runs
  #     with whoever's credentials run it; nothing reserves replays to those.
  #     The status page's "run again" of a critique run (POST /api/status/critiques/retry,
  #     shared/critiques/status.py request_rerun) publishes one CritiqueRequest to
  #     critique-requests, critique_fanout's source topic: the same grant.
  # frame-analysis is analyze_frames' source topic too: one set, one grant per topic.
  web_publishes = toset(local.web_enabled ? concat(
    ["frame-analysis"],
    [for f in local.functions : f.source_topic],
  ) : [])

  # The functions whose dead-letter hold subscription (<function>-dead-letter-hold,
  # modules/event_function) the status page lists and replays from: it pulls, releases the
  # leases it does not replay (modifyAckDeadline 0) and acks those it replays
  # (roles/pubsub.subscriber), and looks each subscription up for its topic first
  # (shared/adapters/gcp/pubsub.py PubSubSubscriber.topic_of: subscriptions.get, which
  # roles/pubsub.subscriber lacks: roles/pubsub.viewer on the subscription). Every function
  # has one; the report's queue counts (pending, in flight, retrying) are "n/a" in the cloud
  # (the Pub/Sub bus has no stats), so nothing reads the functions' own subscriptions.
  web_dead_letter_holds = toset(local.web_enabled ? keys(local.functions) : [])

  # The functions' Settings (one schema for every process), plus the web app's own
  # (shared/learning/settings.py): with an audience set, every request must carry IAP's
  # signed header; the admins see the admin pages.
  web_environment = merge(local.function_environment, {
    VIDCURATE_WEB_IAP_AUDIENCE = local.web_iap_audience
    VIDCURATE_WEB_ADMINS       = jsonencode(var.web_admins)
  })

  # Who gets past IAP: var.web_users, and every admin (an admin IAP refuses could not use
  # the admin pages either).
  web_accessors = toset(local.web_enabled ? concat(var.web_users, [for email in var.web_admins : "user:${email}"]) : [])
}

# --- identities -------------------------------------------------------------------------

resource "google_service_account" "web" {
  count = local.web_enabled ? 1 : 0

  project      = var.project_id
  account_id   = local.web_service_name
  display_name = "vidcurate web app"
  description  = "Runtime identity of the vidcurate-web Cloud Run service; holds only what the web app touches."

  depends_on = [google_project_service.enabled]
}

# IAP calls the service as its service agent, service-<number>@gcp-sa-iap.iam.gserviceaccount.com,
# which is created lazily: generating its identity creates it before it is granted run.invoker.
resource "google_project_service_identity" "iap" {
  provider = google-beta
  count    = local.web_enabled ? 1 : 0

  project = var.project_id
  service = "iap.googleapis.com"

  depends_on = [google_project_service.enabled]
}

# --- the web app's roles ----------------------------------------------------------------

# Label documents, queues, statuses: Firestore grants data access per project, and has no
# narrower predefined role that writes. The one project-level role, as for the functions (iam.tf);
# the deployer may grant no other (terraform/bootstrap, deployer_grantable_roles).
resource "google_project_iam_member" "web_datastore_user" {
  count = local.web_enabled ? 1 : 0

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.web[0].email}"
}

resource "google_storage_bucket_iam_member" "web" {
  for_each = { for bucket, iam_role in local.web_buckets : bucket => iam_role if local.web_enabled }

  bucket = google_storage_bucket.data[each.key].name
  role   = each.value
  member = "serviceAccount:${google_service_account.web[0].email}"
}

# secretAccessor on the secrets it mounts (local.web_secrets: the admin API's tokens and
# analyze_frames' model keys, each only when listed in var.api_keys), and no other.
resource "google_secret_manager_secret_iam_member" "web" {
  for_each = local.web_secrets

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.web[0].email}"
}

# Publisher on each topic of local.web_publishes, by name: frame-analysis and the functions'
# source topics (through local.source_topics, so that each grant waits for its topic).
resource "google_pubsub_topic_iam_member" "web_publisher" {
  for_each = local.web_publishes

  project = var.project_id
  topic   = local.source_topics[each.key]
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.web[0].email}"
}

# The dead letters: subscriber (pull, release, ack) and viewer (its topic) on each function's
# hold subscription only; never on the functions' own subscriptions, whose messages belong
# to their push deliveries.
resource "google_pubsub_subscription_iam_member" "web_dead_letter_subscriber" {
  for_each = local.web_dead_letter_holds

  project      = var.project_id
  subscription = module.function[each.key].dead_letter_hold_subscription
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.web[0].email}"
}

resource "google_pubsub_subscription_iam_member" "web_dead_letter_viewer" {
  for_each = local.web_dead_letter_holds

  project      = var.project_id
  subscription = module.function[each.key].dead_letter_hold_subscription
  role         = "roles/pubsub.viewer"
  member       = "serviceAccount:${google_service_account.web[0].email}"
}

# --- the service ------------------------------------------------------------------------

resource "google_cloud_run_v2_service" "web" {
  count = local.web_enabled ? 1 : 0

  project     = var.project_id
  name        = local.web_service_name
  location    = var.region
  description = "vidcurate web app (shared/web), behind Identity-Aware Proxy."

  # Reachable from the internet, but only through IAP: IAP checks every request first, then
  # Cloud Run's own IAM check admits the IAP service agent alone (invoker_iam_disabled false:
  # no unauthenticated call reaches the container).
  ingress              = "INGRESS_TRAFFIC_ALL"
  iap_enabled          = true
  invoker_iam_disabled = false

  # The service keeps no state (documents and objects live elsewhere): terraform may replace
  # or destroy it, as it does the functions.
  deletion_protection = false

  template {
    service_account = google_service_account.web[0].email
    # An annotator's clicks go to the instance that holds their queue and labels in memory.
    session_affinity = true

    scaling {
      max_instance_count = var.web_max_instances
    }

    containers {
      # Built from infra/web/Dockerfile; its command serves on $PORT, which Cloud Run sets to
      # the container port below.
      image = var.web_image

      ports {
        container_port = 8080
      }

      # The frame index and each active annotator's queue are held in memory: about 135 MB
      # and 70 MB a million frames (shared/learning/frames.py).
      resources {
        limits = {
          cpu    = "2"
          memory = "2Gi"
        }
      }

      dynamic "env" {
        for_each = local.web_environment
        content {
          name  = env.key
          value = env.value
        }
      }

      # The version the plan found (secrets.tf): a new version deploys a new revision.
      dynamic "env" {
        for_each = local.web_secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = data.google_secret_manager_secret_version.api[env.key].version
            }
          }
        }
      }
    }
  }

  # The first request must find the app's roles in place; a revision that cannot read its
  # secret fails to start.
  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.web_datastore_user,
    google_storage_bucket_iam_member.web,
    google_secret_manager_secret_iam_member.web,
    google_pubsub_topic_iam_member.web_publisher,
    google_pubsub_subscription_iam_member.web_dead_letter_subscriber,
    google_pubsub_subscription_iam_member.web_dead_letter_viewer,
  ]
}

# --- who may call it --------------------------------------------------------------------

# Cloud Run's IAM check: IAP, having admitted a user, calls the service as its service agent.
resource "google_cloud_run_v2_service_iam_member" "web_iap_invoker" {
  count = local.web_enabled ? 1 : 0

  project  = var.project_id
  location = google_cloud_run_v2_service.web[0].location
  name     = google_cloud_run_v2_service.web[0].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_project_service_identity.iap[0].email}"
}

# IAP's check: the people (and groups) who may open the app.
resource "google_iap_web_cloud_run_service_iam_member" "web_users" {
  for_each = local.web_accessors

  project                = var.project_id
  location               = google_cloud_run_v2_service.web[0].location
  cloud_run_service_name = google_cloud_run_v2_service.web[0].name
  role                   = "roles/iap.httpsResourceAccessor"
  member                 = each.key
}

output "buckets" {
  description = "Bucket role -> bucket name (VIDCURATE_<ROLE>_BUCKET)."
  value       = { for role, bucket in google_storage_bucket.data : role => bucket.name }
}

output "function_sources_bucket" {
  description = "Bucket that holds the functions' source archives."
  value       = google_storage_bucket.function_sources.name
}

output "firestore_database" {
  description = "Firestore database id (VIDCURATE_FIRESTORE_DATABASE)."
  value       = google_firestore_database.this.name
}

output "topics" {
  description = "Topics functions are triggered by or publish to."
  value       = sort([for topic in google_pubsub_topic.events : topic.name])
}

output "notification_topics" {
  description = "Bucket role -> topic that carries the bucket's object notifications."
  value       = { for role, topic in google_pubsub_topic.gcs_notifications : role => topic.name }
}

output "notification_event_types" {
  description = "Bucket role -> GCS event types its notification publishes (the union of what its functions handle)."
  value       = local.notification_event_types
}

output "exports_bucket" {
  description = "Bucket export_snapshot writes export folders to and hub_upload reads them from (VIDCURATE_EXPORTS_BUCKET)."
  value       = google_storage_bucket.data["exports"].name
}

output "export_requests_topic" {
  description = "Topic to publish an export request on (JSON body of shared/captions/messages.py ExportRequest), e.g. gcloud pubsub topics publish <topic> --message='{\"config_type\": \"default\"}'."
  value       = google_pubsub_topic.events["export-requests"].name
}

output "export_schedule" {
  description = "Cloud Scheduler job that requests exports, or null when var.export_schedule is null."
  value       = one(google_cloud_scheduler_job.export[*].id)
}

output "functions" {
  description = "Per function: URI, runtime and push identities, subscription, dead-letter topic and hold subscription."
  value = {
    for name, fn in module.function : name => {
      uri                           = fn.uri
      service_account               = fn.service_account_email
      push_service_account          = fn.push_service_account_email
      subscription                  = fn.subscription
      dead_letter_topic             = fn.dead_letter_topic
      dead_letter_hold_subscription = fn.dead_letter_hold_subscription
      source_object                 = fn.source_object
    }
  }
}

output "secrets" {
  description = "API key (var.api_keys) -> the Secret Manager secret the functions (or, for VIDCURATE_DISCOVERY_API_TOKENS, the web app) read it from and the version they mount (secrets.tf: how to add or rotate one)."
  value = {
    for env, version in data.google_secret_manager_secret_version.api : env => {
      secret  = version.secret
      version = version.version
    }
  }
}

output "web_url" {
  description = "URL of the web app (behind Identity-Aware Proxy: var.web_users and var.web_admins sign in with their Google account), or null when var.web_image is null."
  value       = one(google_cloud_run_v2_service.web[*].uri)
}

output "web_iap_audience" {
  description = "Audience of the JWT IAP signs for the web app (VIDCURATE_WEB_IAP_AUDIENCE: /projects/<number>/locations/<region>/services/vidcurate-web), or null when var.web_image is null."
  value       = local.web_enabled ? local.web_iap_audience : null
}

output "learn_job" {
  description = "Full name of the active-learning Cloud Run job (projects/<project>/locations/<region>/jobs/vidcurate-active-learning: what `vidcurate learn round --where cloud` runs), or null when var.learn_image is null."
  value       = one(google_cloud_run_v2_job.learn[*].id)
}

output "features_job" {
  description = "Full name of the feature-extraction Cloud Run job (projects/<project>/locations/<region>/jobs/vidcurate-features: what `vidcurate features run --where cloud` runs), or null when var.learn_image is null."
  value       = one(google_cloud_run_v2_job.features[*].id)
}

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
  description = "Bucket role -> topic that carries the bucket's OBJECT_FINALIZE notifications."
  value       = { for role, topic in google_pubsub_topic.gcs_notifications : role => topic.name }
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
  description = "Environment variable -> Secret Manager secret id (add versions out of band)."
  value       = { for env, secret in google_secret_manager_secret.api : env => secret.secret_id }
}

output "function_name" {
  description = "Deployed name of the function (the catalogue name with '-' for '_', as Cloud Run requires)."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "HTTPS endpoint of the function's service (push subscriptions post here)."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service_account_email" {
  description = "Identity the function runs as; grant it what the function touches."
  value       = local.runtime_sa_email
}

output "push_service_account_email" {
  description = "Identity that signs push requests to the function."
  value       = local.push_sa_email
}

output "subscription" {
  description = "Subscription that delivers the function's events (named after the function)."
  value       = google_pubsub_subscription.delivery.name
}

output "dead_letter_topic" {
  description = "Topic that receives events that failed every delivery attempt."
  value       = google_pubsub_topic.dead_letter.name
}

output "dead_letter_hold_subscription" {
  description = "Pull subscription that keeps dead letters for inspection and replay (vidcurate dlq)."
  value       = google_pubsub_subscription.dead_letter_hold.name
}

output "source_object" {
  description = "gs:// path of the deployed source archive."
  value       = "gs://${google_storage_bucket_object.source.bucket}/${google_storage_bucket_object.source.name}"
}

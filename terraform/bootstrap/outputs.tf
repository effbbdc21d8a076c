output "state_bucket" {
  description = "Bucket that holds the main configuration's state (cloudbuild.yaml _STATE_BUCKET)."
  value       = google_storage_bucket.state.name
}

output "deployer_service_account" {
  description = "Email of the account Cloud Build deploys as (cloudbuild.yaml _DEPLOYER)."
  value       = google_service_account.deployer.email
}

output "build_service_account" {
  description = "The account Cloud Build builds the functions as, in the form the main configuration's var.build_service_account takes: projects/<project>/serviceAccounts/<email> (cloudbuild.yaml _BUILD_SERVICE_ACCOUNT)."
  value       = google_service_account.builder.name
}

output "image_repository" {
  description = "Artifact Registry repository the deploy pushes the web app's image to (cloudbuild.yaml: <this>/web:<build id>, the main configuration's var.web_image)."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${google_artifact_registry_repository.images.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "project_number" {
  description = "Number of the project (the main configuration's var.project_number; cloudbuild.yaml _PROJECT_NUMBER)."
  value       = data.google_project.this.number
}

output "next_command" {
  description = "The first deploy, run from the repository root: tests, archives, terraform init, plan and apply, as the deployer. Later deploys are the same command; list API keys in _API_KEYS once their secrets have a version (terraform/secrets.tf), e.g. _API_KEYS='[\"OPENAI_API_KEY\"]' with gcloud's ^;^ delimiter for several (gcloud topic escaping)."
  value = format(
    "gcloud builds submit --project=%s --config=cloudbuild.yaml --substitutions='%s'",
    var.project_id,
    join(",", [for name, value in local.substitutions : "${name}=${value}"]),
  )
}

terraform {
  # `removed` blocks (secrets.tf) need 1.7; cloudbuild.yaml runs the version it pins.
  required_version = ">= 1.7"

  required_providers {
    # 6.47 is the first release with the Cloud Run GPU job arguments (node_selector,
    # gpu_zonal_redundancy_disabled on google_cloud_run_v2_job, both GA) the active-learning
    # job uses (learn.tf); 8.0 may break what this configuration relies on.
    google = {
      source  = "hashicorp/google"
      version = ">= 6.47, < 8.0"
    }
    # google_project_service_identity (main.tf) exists in the beta provider only.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.47, < 8.0"
    }
    external = {
      source  = "hashicorp/external"
      version = ">= 2.3, < 3.0"
    }
  }

  # State lives in the GCS bucket terraform/bootstrap creates, chosen at init time:
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=vidcurate"
  # (`terraform init -backend=false` for fmt/validate without one). The provider lock file,
  # terraform/.terraform.lock.hcl, is committed once generated (cloudbuild.yaml says how).
  backend "gcs" {}
}

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    external = {
      source  = "hashicorp/external"
      version = ">= 2.3, < 3.0"
    }
  }

  # State lives in a GCS bucket chosen at init time:
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=vidcurate"
  # (`terraform init -backend=false` for fmt/validate without one).
  backend "gcs" {}
}

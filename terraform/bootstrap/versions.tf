terraform {
  required_version = ">= 1.7"

  required_providers {
    # The same range as the main configuration (terraform/versions.tf).
    google = {
      source  = "hashicorp/google"
      version = ">= 6.47, < 8.0"
    }
  }

  # Local state, on purpose: this configuration creates the bucket every later state lives
  # in. Its terraform.tfstate holds names and emails only (git ignores it); keep it to
  # change the bootstrap later, or copy it next to the main state:
  #   gcloud storage cp terraform.tfstate gs://<state bucket>/bootstrap/terraform.tfstate
  # `init` writes terraform/bootstrap/.terraform.lock.hcl: commit it, as the main one.
}

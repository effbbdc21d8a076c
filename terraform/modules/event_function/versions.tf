terraform {
  required_version = ">= 1.7"

  required_providers {
    # The same range as the root module (terraform/versions.tf).
    google = {
      source  = "hashicorp/google"
      version = ">= 6.47, < 8.0"
    }
  }
}

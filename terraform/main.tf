# vidcurate on Google Cloud: buckets, topics, Firestore, secrets and one event-driven Cloud
# Function per entry of shared/catalog.py (functions.tf). Deployed by cloudbuild.yaml:
#   terraform init -backend-config="bucket=<state bucket>"
#   terraform apply -var project_id=<project> -var region=<region>

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = var.labels
}

data "google_project" "this" {
  project_id = var.project_id
}

# Google-managed identities that act on our behalf.
data "google_storage_project_service_account" "this" {
  project = var.project_id
}

locals {
  # Publishes GCS notifications, forwards dead letters, signs push requests.
  pubsub_service_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # Publishes the buckets' object notifications.
  storage_service_agent = data.google_storage_project_service_account.this.email_address

  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com", # scheduled exports (scheduler.tf), even while off
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.apis

  project = var.project_id
  service = each.key

  # Other workloads of the project may use these APIs too.
  disable_on_destroy = false
}

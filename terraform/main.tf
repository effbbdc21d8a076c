# vidcurate on Google Cloud: buckets, topics, Firestore, secrets, one event-driven Cloud
# Function per entry of shared/catalog.py (functions.tf), the web app on Cloud Run behind
# Identity-Aware Proxy (web.tf) and the active-learning Cloud Run job with one NVIDIA L4 GPU
# (learn.tf). Deployed by cloudbuild.yaml, as the deployer service account terraform/bootstrap
# creates:
#   terraform init -backend-config="bucket=<state bucket>"
#   terraform plan -out=tfplan -var project_id=<project> -var project_number=<number> ...
#   terraform apply tfplan
#
# An empty project: terraform/bootstrap (run once by an Owner) enables the APIs this
# configuration needs before its first plan, among them Cloud Resource Manager and Service
# Usage, which terraform itself calls. Nothing here reads the project through Resource
# Manager at plan time (hence var.project_number), and every resource that calls an API
# waits for google_project_service.enabled, so the same apply works on an empty project and
# on a deployed one (tests/deploy/test_terraform_empty_project.py walks the graph).

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = var.labels
}

provider "google-beta" {
  project = var.project_id
  region  = var.region

  default_labels = var.labels
}

# Google-managed identities that act on our behalf. Reading or generating them calls their
# service's API, which must be enabled first.
data "google_storage_project_service_account" "this" {
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

# The Pub/Sub service agent is created lazily, on the first use of a feature that needs it:
# granting it roles before then fails ("service account does not exist"). Generating its
# identity creates it up front.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  lifecycle {
    postcondition {
      condition     = self.email == "service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
      error_message = "var.project_number (${var.project_number}) is not the number of project ${var.project_id}: its Pub/Sub service agent is ${self.email}. `terraform -chdir=terraform/bootstrap output project_number` prints it."
    }
  }

  depends_on = [google_project_service.enabled]
}

locals {
  # Publishes GCS notifications, forwards dead letters, signs push requests.
  pubsub_service_agent = google_project_service_identity.pubsub.email
  # Publishes the buckets' object notifications.
  storage_service_agent = data.google_storage_project_service_account.this.email_address

  # What this configuration calls. terraform/bootstrap enables these before the first plan
  # (plus Cloud Resource Manager and Service Usage); they are declared here too so that a
  # new API is enabled by the same apply that starts using it.
  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com", # scheduled exports (scheduler.tf), even while off
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "iap.googleapis.com", # the web app's Identity-Aware Proxy (web.tf)
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

# What the main configuration (terraform/) needs before its first plan, in an empty project:
# its APIs, the bucket its state lives in, the service account Cloud Build deploys as, the
# one Cloud Build builds the functions as, and the Artifact Registry repository the deploy
# pushes the web app's and the active-learning job's images to (cloudbuild.yaml pushes them
# before terraform plans the service and the job that run them). Run once, by a person with Owner rights, and again after a change here:
#
#   terraform -chdir=terraform/bootstrap init
#   terraform -chdir=terraform/bootstrap apply -var project_id=<project>
#   $(terraform -chdir=terraform/bootstrap output -raw next_command)   # from the repository root
#
# The person's own credentials are used (gcloud auth application-default login); their calls
# are billed to their client's quota project, so the APIs below need not be on yet. If the
# plan still reports "Cloud Resource Manager API has not been used in project", enable it
# and Service Usage by hand once:
#   gcloud services enable cloudresourcemanager.googleapis.com serviceusage.googleapis.com --project <project>
#
# Running `gcloud builds submit` as the deployer needs iam.serviceAccounts.actAs on it (an
# Owner has it) and cloudbuild.builds.create.

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = var.labels
}

locals {
  # The main configuration's local.apis, and the two terraform itself calls at plan time:
  # Cloud Resource Manager (project IAM policy) and Service Usage (enabling the others,
  # generating service agents).
  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "iap.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
  ])

  state_bucket = coalesce(var.state_bucket, "${var.project_id}-tfstate")

  # What the deployer (cloudbuild.yaml's build, running `terraform apply` of terraform/) is
  # granted on the project, each for what the main configuration creates:
  deployer_roles = toset([
    # The functions (google_cloudfunctions2_function): create, update, delete. Not .admin:
    # nothing sets a function's own IAM policy (invokers are granted on the Cloud Run
    # service, below).
    "roles/cloudfunctions.developer",
    # run.invoker for each function's push identity on the function's Cloud Run service
    # (google_cloud_run_service_iam_member): run.services.setIamPolicy is in Admin only. The
    # web app's Cloud Run service, IAP enabled on it, and the IAP service agent's run.invoker.
    # The active-learning Cloud Run job and its operators' roles on it (run.jobs.setIamPolicy).
    "roles/run.admin",
    # Who may pass the web app's Identity-Aware Proxy (roles/iap.httpsResourceAccessor on the
    # service, google_iap_web_cloud_run_service_iam_member): the IAP policy setIamPolicy is in
    # IAP Policy Admin only, the role the Cloud Run documentation names for it.
    "roles/iap.admin",
    # The functions', the web app's and the active-learning job's runtime service accounts, the
    # push service accounts, and the token-creator binding of the Pub/Sub service agent on each
    # push account.
    "roles/iam.serviceAccountAdmin",
    # actAs: deploying a function, the web app or the job as its runtime account and building a
    # function as the builder below, and naming a push account in a subscription's OIDC
    # token. Project-wide because those accounts are created by the same apply
    # (serviceAccountAdmin could grant this on each of them anyway).
    "roles/iam.serviceAccountUser",
    # datastore.user for each function's account, the web app's and the job's, the only
    # project-level grant of the main configuration: limited to that role by the condition
    # below.
    "roles/resourcemanager.projectIamAdmin",
    # The buckets, their IAM bindings and notifications, the source archives; the terraform
    # state in the state bucket; the build's own source upload and artifacts.
    "roles/storage.admin",
    # Topics, subscriptions (dead-letter policies) and their IAM bindings.
    "roles/pubsub.admin",
    # secretAccessor bindings on the API key secrets (setIamPolicy is in Admin only) and the
    # plan-time read of their versions' metadata (secrets.tf).
    "roles/secretmanager.admin",
    # The Firestore database, its single-field index exemptions and TTL policy.
    "roles/datastore.owner",
    # The scheduled export's job.
    "roles/cloudscheduler.admin",
    # google_project_service (the main configuration re-declares its APIs) and generating
    # the Pub/Sub and IAP service agents (google_project_service_identity).
    "roles/serviceusage.serviceUsageAdmin",
    # The build's logs: a build running as a user-specified account must log to Cloud
    # Logging (cloudbuild.yaml, options.logging) and write them itself.
    "roles/logging.logWriter",
  ])
  # Pushing the images is granted on their repository only (deployer_images, below).

  # The project-level roles the deployer may grant (terraform/iam.tf): with
  # projectIamAdmin alone it could grant itself Owner.
  deployer_grantable_roles = ["roles/datastore.user"]

  # What Cloud Build needs to build a function as the builder: write the build's logs and
  # push its image to Artifact Registry (gcf-artifacts, created by Cloud Functions). Reading
  # the sources is granted per bucket: below, and in the main configuration.
  builder_roles = toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
  ])

  # The cloudbuild.yaml substitutions of this project's deploy.
  substitutions = {
    _DEPLOYER              = google_service_account.deployer.email
    _PROJECT_NUMBER        = data.google_project.this.number
    _BUILD_SERVICE_ACCOUNT = google_service_account.builder.name
    _API_KEYS              = "[]"
    _STATE_BUCKET          = google_storage_bucket.state.name
    _REGION                = var.region
  }
}

resource "google_project_service" "enabled" {
  for_each = local.apis

  project = var.project_id
  service = each.key

  # Other workloads of the project may use these APIs too.
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.enabled]
}

# --- the state bucket ---------------------------------------------------------------------

resource "google_storage_bucket" "state" {
  # checkov:skip=CKV_GCP_62: access logs would need a second bucket and a grant to the cloud-storage-analytics@google.com group, which domain-restricted organisations refuse; only the deployer and the project's Owners read this bucket, and Cloud Audit Logs record its data access when enabled.
  name     = local.state_bucket
  project  = var.project_id
  location = upper(coalesce(var.state_bucket_location, var.region))

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Every apply replaces the state object: the noncurrent versions are the way back.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.state_noncurrent_version_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Losing the state orphans every deployed resource.
  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.enabled]
}

# --- the deployer -------------------------------------------------------------------------

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "vidcurate-deployer"
  display_name = "vidcurate deployer"
  description  = "Cloud Build runs cloudbuild.yaml (terraform apply of terraform/) as this account."

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "deployer" {
  # checkov:skip=CKV_GCP_41: the deployer deploys functions as, and builds them as, accounts the same apply creates: actAs on the project (serviceAccountAdmin could grant it per account anyway).
  # checkov:skip=CKV_GCP_49: managing service accounts is what it deploys (one per function, one push identity per function); it is a deployment identity, not a workload's.
  for_each = local.deployer_roles

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.deployer.email}"

  # Project IAM admin for the listed roles only (iam.googleapis.com/modifiedGrantsByRole).
  dynamic "condition" {
    for_each = each.key == "roles/resourcemanager.projectIamAdmin" ? [local.deployer_grantable_roles] : []
    content {
      title       = "vidcurate-grantable-roles"
      description = "May grant and revoke only the project roles terraform/iam.tf grants."
      expression  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(${jsonencode(condition.value)})"
    }
  }
}

# --- the images ---------------------------------------------------------------------------

# cloudbuild.yaml builds infra/web/Dockerfile and infra/learn/Dockerfile and pushes
# <region>-docker.pkg.dev/<project>/vidcurate/web:<build id> and .../learn:<build id> here
# before terraform plans the Cloud Run service and job that run them: the repository must
# exist before the main configuration's first plan, so it is created here rather than there.
# Cloud Run pulls from it as its own service agent (same project: no grant needed).
resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: the images hold the project's open-source code and its public dependencies, nothing secret; Google-managed encryption is enough, and a customer-managed key would be one more thing an empty project must create and the deploy must be granted.
  project       = var.project_id
  location      = var.region
  repository_id = "vidcurate"
  format        = "DOCKER"
  description   = "vidcurate container images (cloudbuild.yaml pushes the web app's, one per deploy)."

  # A tag (the build's id) names one image for good: the plan deploys exactly what the build
  # pushed, and nothing can be pushed over it later.
  docker_config {
    immutable_tags = true
  }

  # One image of each per deploy: the newest are kept (the one running among them), older
  # ones are deleted after var.image_retention_days.
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.images_kept
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.image_retention_days * 86400}s"
    }
  }

  depends_on = [google_project_service.enabled]
}

# The build runs as the deployer and pushes the images itself: write access to this
# repository only (which includes the read access creating a Cloud Run service from one of
# its images needs).
resource "google_artifact_registry_repository_iam_member" "deployer_images" {
  project    = google_artifact_registry_repository.images.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer.email}"
}

# --- the functions' builder ---------------------------------------------------------------

resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "vidcurate-builder"
  display_name = "vidcurate function builder"
  description  = "Cloud Build builds the functions' images as this account (the main configuration's build_service_account)."

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "builder" {
  for_each = local.builder_roles

  project = var.project_id
  role    = each.key
  member  = "serviceAccount:${google_service_account.builder.email}"
}

# Cloud Functions copies each source archive into its own bucket,
# gcf-v2-sources-<project number>-<region>, created on the first deploy, and the build
# fetches it from there: read access to those buckets only.
resource "google_project_iam_member" "builder_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.builder.email}"

  condition {
    title       = "vidcurate-function-sources"
    description = "Cloud Functions' copies of the function sources only."
    expression  = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${data.google_project.this.number}-\")"
  }
}

# The active-learning rounds (issue 17: train, evaluate, score the unlabelled frames, feed the
# labelling queue) as one Cloud Run job with one NVIDIA L4 GPU. An execution runs one round:
#
#   vidcurate learn round --where cloud  (var.learn_operators: run.jobsExecutorWithOverrides)
#     --> execution of vidcurate-active-learning, its arguments (`--round 3 --top-k 50
#         --epochs 30`) given per execution as a container override
#     --> python /app/jobs/active_learning/main.py, as its own service account:
#           Firestore   label documents, label_queues/current, learning_rounds/*  (datastore.user)
#           frames      the sampled frames it trains on and scores                (objectViewer)
#           models      rounds/round_NN/: splits, checkpoints, metrics, queue     (objectUser)
#
# The image is built and pushed by cloudbuild.yaml (infra/learn/Dockerfile: torch and
# torchvision built for CUDA 12, which the L4 machines' driver runs) into the Artifact
# Registry repository terraform/bootstrap creates, before this configuration is planned, and
# named here by var.learn_image. Without an image (var.learn_image = null, the default) nothing
# here is created, so a plan without one (the tests, a first look) still works.
#
# GPUs on Cloud Run (https://cloud.google.com/run/docs/configuring/jobs/gpu): one L4 per
# instance, at least 4 CPU and 16 GiB of memory, in a few regions only (local.learn_gpu_regions,
# checked before anything is created), and no quota in a new project: README, deploy step 3.
# Zonal redundancy off: jobs are billed at that rate, and its quota is the one to request.
# GPU tasks are not live-migrated: maintenance stops them, and the retry resumes from the
# last checkpoint (the job checkpoints every epoch).
#
# Provider: node_selector and gpu_zonal_redundancy_disabled on google_cloud_run_v2_job are in
# the GA google provider since 6.47 (node_selector was promoted to GA before, the zonal
# redundancy flag was added in 6.47), which versions.tf requires; no google-beta.

locals {
  learn_enabled  = var.learn_image != null
  learn_job_name = "vidcurate-active-learning"

  # Regions whose Cloud Run jobs offer the NVIDIA L4 (the Cloud Run documentation, "Configure
  # GPUs for Cloud Run jobs"; asia-south1 by invitation only). Extend it when Google adds one.
  learn_gpu_regions = ["asia-south1", "asia-southeast1", "europe-west1", "europe-west4", "us-central1"]

  # The longest task timeout Cloud Run offers GPU jobs in general availability; up to 12 hours
  # is in preview, which the job must declare (launch stage BETA).
  learn_ga_timeout_seconds = 3600

  # What the job may touch, in the shape of a function's catalogue entry (functions.tf): it
  # reads the sampled frames, and reads and writes its rounds (objectUser: a resumed round
  # overwrites its last checkpoint) in the models bucket, where the team's base weights are
  # uploaded too. Labels, queues and rounds' documents are in Firestore (datastore.user,
  # below). It publishes nothing and reads no secret.
  learn_buckets = {
    frames = "roles/storage.objectViewer"
    models = "roles/storage.objectUser"
  }

  # The functions' Settings (one schema for every process: project, region, database, every
  # bucket, VIDCURATE_MODELS_BUCKET among them), nothing of its own: a round's parameters are
  # its arguments.
  learn_environment = local.function_environment

  # Who may start executions with their own arguments and follow them: each principal gets
  # each role, on this job only.
  learn_operator_roles = ["roles/run.jobsExecutorWithOverrides", "roles/run.viewer"]
  learn_operator_grants = {
    for pair in setproduct(toset(var.learn_operators), local.learn_operator_roles) :
    "${pair[1]} ${pair[0]}" => { member = pair[0], role = pair[1] } if local.learn_enabled
  }
}

# --- identity -----------------------------------------------------------------------------

resource "google_service_account" "learn" {
  count = local.learn_enabled ? 1 : 0

  project      = var.project_id
  account_id   = "vidcurate-learn"
  display_name = "vidcurate active learning"
  description  = "Runtime identity of the vidcurate-active-learning Cloud Run job; holds only what a round touches."

  depends_on = [google_project_service.enabled]
}

# --- the job's roles ----------------------------------------------------------------------

# Labels, the live queue and the rounds' documents: Firestore grants data access per project,
# and has no narrower predefined role that writes. The one project-level role, as for the
# functions (iam.tf) and the web app; the deployer may grant no other (terraform/bootstrap,
# deployer_grantable_roles).
resource "google_project_iam_member" "learn_datastore_user" {
  count = local.learn_enabled ? 1 : 0

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.learn[0].email}"
}

resource "google_storage_bucket_iam_member" "learn" {
  for_each = { for bucket, iam_role in local.learn_buckets : bucket => iam_role if local.learn_enabled }

  bucket = google_storage_bucket.data[each.key].name
  role   = each.value
  member = "serviceAccount:${google_service_account.learn[0].email}"
}

# --- the job ------------------------------------------------------------------------------

resource "google_cloud_run_v2_job" "learn" {
  count = local.learn_enabled ? 1 : 0

  project  = var.project_id
  name     = local.learn_job_name
  location = var.region

  # Up to an hour per task attempt is GA; longer is a preview feature, which Cloud Run accepts
  # only from a job that declares the BETA launch stage. null otherwise: the API reports the
  # stage the job's features need, and terraform keeps what it reads.
  launch_stage = var.learn_task_timeout_seconds > local.learn_ga_timeout_seconds ? "BETA" : null

  # The job keeps no state (rounds live in the models bucket and Firestore): terraform may
  # replace or destroy it, as it does the functions and the web app.
  deletion_protection = false

  template {
    # One round is one task on one GPU; rounds run one after another (round N starts from
    # round N-1's best checkpoint).
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.learn[0].email
      # Per attempt; a retried attempt resumes from the last epoch's checkpoint.
      timeout     = "${var.learn_task_timeout_seconds}s"
      max_retries = var.learn_max_retries

      # One NVIDIA L4, without zonal redundancy: a job's retries already absorb a zone's
      # failure, and this is the GPU quota a project is given (README, deploy step 3).
      gpu_zonal_redundancy_disabled = true
      node_selector {
        accelerator = "nvidia-l4"
      }

      containers {
        # Built from infra/learn/Dockerfile; its ENTRYPOINT runs
        # /app/jobs/active_learning/main.py, and each execution's container override gives
        # the arguments. None here: a job's own args would be replaced by an override anyway.
        image = var.learn_image

        # The minimum Cloud Run pairs with an L4 (4 CPU, 16 GiB): the DataLoader workers
        # decode frames on the CPUs, and the frame cache lives in this memory (Cloud Run's
        # filesystem is in memory).
        resources {
          limits = {
            cpu              = "4"
            memory           = "16Gi"
            "nvidia.com/gpu" = "1"
          }
        }

        dynamic "env" {
          for_each = local.learn_environment
          content {
            name  = env.key
            value = env.value
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = contains(local.learn_gpu_regions, var.region)
      error_message = "The active-learning job needs an NVIDIA L4 GPU, which Cloud Run jobs do not offer in ${var.region}: deploy to one of ${join(", ", local.learn_gpu_regions)} (var.region, cloudbuild.yaml's _REGION), or leave learn_image null to deploy without the job."
    }
  }

  # The first execution must find the job's roles in place.
  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.learn_datastore_user,
    google_storage_bucket_iam_member.learn,
  ]
}

# --- who may run it -----------------------------------------------------------------------

# Starting an execution with per-execution arguments needs run.jobs.runWithOverrides, which
# roles/run.jobsExecutorWithOverrides holds (with run.jobs.run and run.executions.cancel);
# following it (executions, tasks, their state) needs roles/run.viewer. Both on this job only.
resource "google_cloud_run_v2_job_iam_member" "learn_operators" {
  for_each = local.learn_operator_grants

  project  = var.project_id
  location = google_cloud_run_v2_job.learn[0].location
  name     = google_cloud_run_v2_job.learn[0].name
  role     = each.value.role
  member   = each.value.member
}

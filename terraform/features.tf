# Feature extraction (issue 18: one decode per video feeding the extractors, a result object
# per (video, extractor, version), Parquet tables) as one Cloud Run job whose executions run
# N tasks side by side, each on one NVIDIA L4 GPU (var.features_gpu). An execution runs one
# extraction run:
#
#   vidcurate features run --where cloud --tasks N   (var.features_operators, from their machine)
#     --> lists the selection in the videos bucket and freezes it as the run's manifest in
#         the features bucket                   (objectViewer on videos, objectUser on features)
#     --> starts an execution of vidcurate-features with N tasks (the task count is
#         overridden per execution: var.features_task_count is only the default) and the
#         run's arguments (`--run RUN_ID [--extractors a,b]`) as a container override
#                                                (run.jobsExecutorWithOverrides on the job)
#           task i of n (CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT, set by Cloud Run):
#           python /app/jobs/features/main.py --run RUN_ID ..., as the job's own account,
#           on its deterministic slice of the manifest:
#             videos    the videos it decodes                                  (objectViewer)
#             features  the manifest; a result object per (video, extractor,
#                       version) and failures; what is there is skipped         (objectUser)
#     --> follows it (run.viewer on the job), then writes the run's Parquet tables to the
#         features bucket, as `vidcurate features export` does again; `status` reads it.
#
# The image is the active-learning job's (infra/learn/Dockerfile: torch's CUDA 12 libraries,
# onnxruntime-gpu for the text extractor, OpenCV, PySceneDetect, RapidOCR, pyarrow), built and
# pushed by cloudbuild.yaml and named by var.learn_image: its ENTRYPOINT runs the learning
# round, so this job sets the container's command to the feature-extraction entry point, a
# second command of the same image. Without an image (var.learn_image = null, the default)
# nothing here is created either.
#
# A task killed or out of time (var.features_task_timeout_seconds; GPU tasks are not
# live-migrated: maintenance stops them) is retried (var.features_max_retries) and resumes:
# what it already wrote to the features bucket is skipped. No Firestore, no Pub/Sub, no
# secret.
#
# GPUs as for the active-learning job (learn.tf): one L4 per task with at least 4 CPU and
# 16 GiB, zonal redundancy off, in local.learn_gpu_regions only (checked before anything is
# created). var.features_parallelism tasks hold an L4 each at once: the project's L4 quota
# (without zonal redundancy, in var.region; README, deploy step 3) must cover them, plus the
# active-learning job's one while a round runs. var.features_gpu = false runs the tasks on
# 4 CPU and 8 GiB, anywhere, with the text extractor on onnxruntime's CPU provider.
#
# Provider: node_selector and gpu_zonal_redundancy_disabled as in learn.tf (versions.tf).

locals {
  # The same image as the active-learning job: deployed with it.
  features_enabled  = local.learn_enabled
  features_job_name = "vidcurate-features"

  # What the job may touch, in the shape of a function's catalogue entry (functions.tf): it
  # reads the videos it decodes, and reads and writes the features bucket (objectUser: it
  # reads the manifest and what earlier attempts wrote, and deletes a failure record when the
  # video is retried and succeeds). Nothing in Firestore, no topic, no secret.
  features_buckets = {
    videos   = "roles/storage.objectViewer"
    features = "roles/storage.objectUser"
  }

  # The functions' Settings (one schema for every process: project, region, every bucket,
  # VIDCURATE_FEATURES_BUCKET among them), nothing of its own: a run's parameters are its
  # arguments, a task's slice is Cloud Run's CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT.
  features_environment = local.function_environment

  # A task's machine: with a GPU, the minimum Cloud Run pairs with an L4 (the decode and the
  # CPU extractors use the 4 CPUs; Cloud Run's filesystem is in memory, so a video being
  # decoded counts against it); without one, the CPUs do all of it. (Objects of strings
  # only: the conditional that picks one, below, makes it a map of strings.)
  features_gpu_limits = {
    cpu              = "4"
    memory           = "16Gi"
    "nvidia.com/gpu" = "1"
  }
  features_cpu_limits = {
    cpu    = "4"
    memory = "8Gi"
  }

  # Who may start runs with their own arguments and task count and follow them: each
  # principal gets each role, on this job only.
  features_operator_roles = ["roles/run.jobsExecutorWithOverrides", "roles/run.viewer"]
  features_operator_grants = {
    for pair in setproduct(toset(var.features_operators), local.features_operator_roles) :
    "${pair[1]} ${pair[0]}" => { member = pair[0], role = pair[1] } if local.features_enabled
  }

  # What `vidcurate features run` does on the operator's machine around the execution
  # (shared/cli/features.py): it lists the selection in the videos bucket, writes the run's
  # manifest and record to the features bucket before the tasks start, and writes (rewrites,
  # on a resumed run) the run's Parquet tables there once they are done, as `export` does;
  # `status` reads it. objectUser: the tables are overwritten.
  features_operator_buckets = {
    videos   = "roles/storage.objectViewer"
    features = "roles/storage.objectUser"
  }
  features_operator_bucket_grants = {
    for pair in setproduct(toset(var.features_operators), keys(local.features_operator_buckets)) :
    "${pair[1]} ${pair[0]}" => { member = pair[0], bucket = pair[1] } if local.features_enabled
  }
}

# --- identity -----------------------------------------------------------------------------

resource "google_service_account" "features" {
  count = local.features_enabled ? 1 : 0

  project      = var.project_id
  account_id   = "vidcurate-features"
  display_name = "vidcurate feature extraction"
  description  = "Runtime identity of the vidcurate-features Cloud Run job; reads the videos, reads and writes the features bucket, nothing else."

  depends_on = [google_project_service.enabled]
}

# --- the job's roles ----------------------------------------------------------------------

# Two buckets, and no project-level role: the job keeps its state in the features bucket.
resource "google_storage_bucket_iam_member" "features" {
  for_each = { for bucket, iam_role in local.features_buckets : bucket => iam_role if local.features_enabled }

  bucket = google_storage_bucket.data[each.key].name
  role   = each.value
  member = "serviceAccount:${google_service_account.features[0].email}"
}

# --- the job ------------------------------------------------------------------------------

resource "google_cloud_run_v2_job" "features" {
  count = local.features_enabled ? 1 : 0

  project  = var.project_id
  name     = local.features_job_name
  location = var.region

  # A GPU task may run up to an hour in general availability; longer is a preview feature,
  # which Cloud Run accepts only from a job that declares the BETA launch stage. Without a GPU
  # the limit is 24 hours, beyond what the variable allows. null otherwise, as in learn.tf.
  launch_stage = var.features_gpu && var.features_task_timeout_seconds > local.learn_ga_timeout_seconds ? "BETA" : null

  # The job keeps no state (a run lives in the features bucket): terraform may replace or
  # destroy it.
  deletion_protection = false

  template {
    # The default of an execution that does not set its own; `vidcurate features run --tasks
    # N` overrides the task count per execution (parallelism cannot be overridden: it stays
    # the cap on tasks, so on GPUs, running at once).
    task_count  = var.features_task_count
    parallelism = var.features_parallelism

    template {
      service_account = google_service_account.features[0].email
      # Per attempt; a retried attempt skips the results already written.
      timeout     = "${var.features_task_timeout_seconds}s"
      max_retries = var.features_max_retries

      # One NVIDIA L4 per task, without zonal redundancy (as learn.tf); neither without a GPU.
      gpu_zonal_redundancy_disabled = var.features_gpu ? true : null
      dynamic "node_selector" {
        for_each = var.features_gpu ? ["nvidia-l4"] : []
        content {
          accelerator = node_selector.value
        }
      }

      containers {
        # infra/learn/Dockerfile's image; its ENTRYPOINT runs the active-learning round, which
        # this command replaces. Each execution's container override gives the arguments
        # (`--run RUN_ID [--extractors a,b]`), which follow it. None here: a job's own args
        # would be replaced by an override anyway.
        image   = var.learn_image
        command = ["python", "/app/jobs/features/main.py"]

        resources {
          limits = var.features_gpu ? local.features_gpu_limits : local.features_cpu_limits
        }

        dynamic "env" {
          for_each = local.features_environment
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
      condition     = !var.features_gpu || contains(local.learn_gpu_regions, var.region)
      error_message = "The feature-extraction job runs each task on an NVIDIA L4 GPU (var.features_gpu), which Cloud Run jobs do not offer in ${var.region}: deploy to one of ${join(", ", local.learn_gpu_regions)} (var.region, cloudbuild.yaml's _REGION), set features_gpu = false, or leave learn_image null to deploy without the job."
    }
    # Across two variables, which a variable's own validation cannot compare before
    # terraform 1.9 (versions.tf accepts 1.7).
    precondition {
      condition     = var.features_parallelism <= var.features_task_count
      error_message = "features_parallelism (${var.features_parallelism}) must not exceed features_task_count (${var.features_task_count}): Cloud Run runs at most as many tasks at once as a job has."
    }
  }

  # The first execution must find the job's roles in place.
  depends_on = [
    google_project_service.enabled,
    google_storage_bucket_iam_member.features,
  ]
}

# --- who may run it -----------------------------------------------------------------------

# Starting an execution with its own arguments and task count needs run.jobs.runWithOverrides,
# which roles/run.jobsExecutorWithOverrides holds (with run.jobs.run and
# run.executions.cancel); following it (executions, tasks, their state) needs
# roles/run.viewer. Both on this job only.
resource "google_cloud_run_v2_job_iam_member" "features_operators" {
  for_each = local.features_operator_grants

  project  = var.project_id
  location = google_cloud_run_v2_job.features[0].location
  name     = google_cloud_run_v2_job.features[0].name
  role     = each.value.role
  member   = each.value.member
}

# The buckets `vidcurate features run`, `status` and `export` touch from the operator's
# machine (local.features_operator_buckets).
resource "google_storage_bucket_iam_member" "features_operators" {
  for_each = local.features_operator_bucket_grants

  bucket = google_storage_bucket.data[each.value.bucket].name
  role   = local.features_operator_buckets[each.value.bucket]
  member = each.value.member
}

# One event-driven Cloud Function per entry of the catalogue (shared/catalog.py).
# tests/deploy/test_terraform_consistency.py checks that `function_catalog` lists exactly the
# folders under functions/ with the catalogue's triggers.

locals {
  # name -> what triggers it, plus what it may touch: `buckets` (bucket role -> IAM role on
  # that bucket), `publishes` (topics), `secrets` (environment variables from secrets.tf,
  # mounted when listed in var.api_keys), its CPU and optional service limits, and the
  # `delivery` its push subscription must absorb. A trigger is a `topic`, or a `bucket` role
  # with the GCS notification `events` the function handles (default ["OBJECT_FINALIZE"];
  # the data buckets are versioned, so deleting a live object arrives as OBJECT_ARCHIVE).
  #
  # available_cpu: explicit for every function (Cloud Run allows at most 4 GiB of memory
  # per CPU); 2 where a function holds GiBs in memory or decodes video.
  #
  # delivery: back-pressure (shared/platform/backpressure.py). A function at its instance
  # cap refuses pushes (429), and Pub/Sub counts each refusal as a delivery attempt; the
  # entry point dead-letters real failures itself after var.max_delivery_attempts, so the
  # subscription's attempts are sized for refusals alone:
  #   expected_burst         the most messages published to it at once
  #   seconds_per_message    how long one takes, on average
  #   max_delivery_attempts  required_attempts(expected_burst) = ceil(log2(burst / 0.001)):
  #                          a burst dead-letters a healthy message once in 1000 bursts
  #   retention_days         >= max(7, drain days), drain = 2 * burst * seconds / instances
  #                          (the push window holds half the cap); at most 31
  # modules/event_function checks the same rule at plan time: raising a burst or lowering
  # an instance cap without raising these fails the plan with the numbers it needs.
  function_catalog = {
    ping = {
      description   = "Echo a Pub/Sub message into the document store (health check, demo)."
      trigger       = { topic = "ping" }
      available_cpu = "1"
      # A load test publishes a thousand pings at once.
      delivery = {
        expected_burst        = 1000
        seconds_per_message   = 1
        max_delivery_attempts = 20
        retention_days        = 7
      }
    }
    ingest_feedback = {
      description = "Record each annotation file on its (video, task), derive the status, quarantine bad files."
      trigger = {
        bucket = "annotations"
        events = ["OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE"]
      }
      buckets = { annotations = "roles/storage.objectViewer" }
      # A videos/*.jsonl list of ~100k lines is registered in batched commits within one
      # invocation.
      timeout_seconds  = 540
      available_memory = "1Gi"
      available_cpu    = "1"
      # A bulk annotation upload (gcloud storage cp -r of a labelling round) finalizes up to
      # ~100k files at once, one notification each.
      delivery = {
        expected_burst        = 100000
        seconds_per_message   = 2
        max_delivery_attempts = 27
        retention_days        = 7
      }
    }
    export_snapshot = {
      description = "Write an export folder (videos, reviewed, not completed, statistics) to the exports bucket; queue its Hub upload."
      trigger     = { topic = "export-requests" }
      # Creates each file with ifGenerationMatch=0; a redelivery of the same request
      # replaces its own earlier file (ifGenerationMatch=<generation>), and replacing an
      # object needs storage.objects.delete, which objectCreator (+ objectViewer) lacks.
      # objectUser is create/get/list/update/delete on objects only: the least role that
      # allows it (objectAdmin would add object IAM and retention control it never uses).
      buckets   = { exports = "roles/storage.objectUser" }
      publishes = ["hub-uploads"]
      # Snapshots of ~10k videos: reading every task document and rendering the files.
      timeout_seconds  = 540
      available_memory = "1Gi"
      available_cpu    = "1"
      # Requests come from people and the daily schedule; a script asking for one export per
      # config type sends at most ~100.
      delivery = {
        expected_burst        = 100
        seconds_per_message   = 300
        max_delivery_attempts = 17
        retention_days        = 7
      }
    }
    hub_upload = {
      description     = "Publish a finished export folder from the exports bucket to a Hugging Face dataset repo."
      trigger         = { topic = "hub-uploads" }
      buckets         = { exports = "roles/storage.objectViewer" }
      secrets         = ["HF_TOKEN"]
      timeout_seconds = 540
      available_cpu   = "1"
      # One upload per export or consolidation: as many as export_snapshot's burst.
      delivery = {
        expected_burst        = 100
        seconds_per_message   = 300
        max_delivery_attempts = 17
        retention_days        = 7
      }
    }
    critique_fanout = {
      description = "Plan the critique items of an export (skip unchanged and perfect ones) and publish them to critique-jobs in batches."
      trigger     = { topic = "critique-requests" }
      # Reads the export's files; its plan and items are Firestore documents (datastore user,
      # as every function). The API keys tell it which provider answers each model: that is
      # part of every item's key (an offline answer is redone once a key is configured); it
      # never calls a model. A plan with nothing left to generate asks for its consolidation.
      buckets   = { exports = "roles/storage.objectViewer" }
      publishes = ["critique-jobs", "critique-consolidations"]
      secrets   = ["OPENAI_API_KEY", "GEMINI_API_KEY"]
      # Plans of ~350k items: reading the export and every earlier item, batched writes.
      timeout_seconds  = 540
      available_memory = "1Gi"
      available_cpu    = "1"
      # One request per export to critique: ~100 at once at most.
      delivery = {
        expected_burst        = 100
        seconds_per_message   = 300
        max_delivery_attempts = 17
        retention_days        = 7
      }
    }
    critique_worker = {
      description = "Generate one critique item with the models and record its cost; ask for the consolidation when nothing is left open."
      trigger     = { topic = "critique-jobs" }
      # Writes output_critiques/... files, which a regeneration overwrites
      # (storage.objects.delete): objectUser, as export_snapshot. Reads clips from the videos
      # bucket for the video critique. An item ends within VIDCURATE_JOB_DEADLINE_SECONDS
      # (480 s by default), below this timeout.
      buckets            = { exports = "roles/storage.objectUser", videos = "roles/storage.objectViewer" }
      publishes          = ["critique-consolidations"]
      secrets            = ["OPENAI_API_KEY", "GEMINI_API_KEY"]
      timeout_seconds    = 540
      max_instance_count = var.critique_worker_max_instances
      available_cpu      = "1"
      # A critique fan-out publishes every item of a plan at once: ~350k. They drain from
      # var.critique_worker_max_instances (20) workers in 2 * 350000 * 30 / 20 s = 12.2 days:
      # kept two weeks. Fewer workers need longer (the plan says how long).
      delivery = {
        expected_burst        = 350000
        seconds_per_message   = 30
        max_delivery_attempts = 29
        retention_days        = 14
      }
    }
    critique_consolidate = {
      description = "Write a finished critique run's consolidated file exactly once and queue its Hub upload."
      trigger     = { topic = "critique-consolidations" }
      # Reads the export and every item's record (a projection) and writes
      # all_videos_with_captions_and_critiques_<ts>.json, overwritten by a later plan's
      # consolidation: objectUser. Runs of ~350k items hold the export and every record in
      # memory at once, hence the memory; few instances, as there is one per finished run.
      buckets            = { exports = "roles/storage.objectUser" }
      publishes          = ["hub-uploads"]
      timeout_seconds    = 540
      available_memory   = "4Gi"
      available_cpu      = "2"
      max_instance_count = 2
      # One message per finished plan, and a plan's last workers may each ask (~100).
      delivery = {
        expected_burst        = 100
        seconds_per_message   = 300
        max_delivery_attempts = 17
        retention_days        = 7
      }
    }
    pull_dataset_shard = {
      description = "Download one WebDataset tar shard of a Hugging Face dataset and stream its clips and their JSON into the videos bucket, each once."
      trigger     = { topic = "dataset-shards" }
      # Writes <OWNER--NAME>/<key>.mp4 and .json; a changed sample replaces its object under
      # a generation precondition (storage.objects.delete): objectUser on videos.
      buckets = { videos = "roles/storage.objectUser" }
      secrets = ["HF_TOKEN"]
      # The shard is downloaded whole to /tmp, which is memory in Cloud Functions: shards of
      # ~1 GB plus the sample being stored. Larger shards belong in a Cloud Run job.
      timeout_seconds    = 540
      available_memory   = "4Gi"
      available_cpu      = "2"
      max_instance_count = 4
      # `vidcurate videos pull` publishes one message per shard of a dataset at once: ~2000
      # for the largest.
      delivery = {
        expected_burst        = 2000
        seconds_per_message   = 300
        max_delivery_attempts = 21
        retention_days        = 7
      }
    }
    extract_frames = {
      description = "Sample the frames of every clip finalized in the videos bucket into the frames bucket, and index them."
      trigger     = { bucket = "videos" }
      # Reads the clip in ranged chunks (never whole); writes <video key>/<ms>.jpg, which a
      # redelivery or a replaced clip overwrites and a replaced clip's stale frames are
      # deleted (storage.objects.delete): objectUser on frames.
      buckets = { videos = "roles/storage.objectViewer", frames = "roles/storage.objectUser" }
      # Decoding 1080p/4K clips: frames are decoded one at a time, but the decoder's threads
      # and reference frames need room, and the decoder uses a second CPU.
      timeout_seconds  = 540
      available_memory = "2Gi"
      available_cpu    = "2"
      # Pulling a dataset lands ~100k clips in the videos bucket, one notification each.
      delivery = {
        expected_burst        = 100000
        seconds_per_message   = 20
        max_delivery_attempts = 27
        retention_days        = 7
      }
    }
    analyze_frames = {
      description = "Describe a clip's sampled frames with the vision model, each frame once, and record what each call cost."
      trigger     = { topic = "frame-analysis" }
      # Reads the frames it describes; results and the cost ledger are documents.
      buckets         = { frames = "roles/storage.objectViewer" }
      secrets         = ["OPENAI_API_KEY", "GEMINI_API_KEY"]
      timeout_seconds = 540
      # Each instance paces its own calls to the per-model limits (model_limits).
      max_instance_count = var.critique_worker_max_instances
      available_cpu      = "1"
      # `vidcurate frames analyze` publishes one job per clip at once: ~10k.
      delivery = {
        expected_burst        = 10000
        seconds_per_message   = 30
        max_delivery_attempts = 24
        retention_days        = 7
      }
    }
    register_set_image = {
      description = "List an image finalized in a set's folder of the sets bucket in the set's manifest."
      trigger     = { bucket = "sets" }
      # Reads whether the image is still there; rewrites <set id>/manifest.json under a
      # generation precondition (replacing it needs storage.objects.delete): objectUser.
      buckets       = { sets = "roles/storage.objectUser" }
      available_cpu = "1"
      # `vidcurate sets add` for a thousand sets of 20 images at once.
      delivery = {
        expected_burst        = 20000
        seconds_per_message   = 1
        max_delivery_attempts = 25
        retention_days        = 7
      }
    }
    evaluate_set = {
      description = "Classify a training set's images on numbered sheets with the vision model, compare the mix with the target and write the evaluation and its plan."
      trigger     = { topic = "set-evaluations" }
      # Reads the set's manifest and images; with --execute deletes images (after a copy to
      # the trash in the evaluations bucket), writes generated ones and the manifest:
      # objectUser on sets. Writes its sheets and evaluation, which the next one
      # overwrites (storage.objects.delete): objectUser on evaluations.
      buckets         = { sets = "roles/storage.objectUser", evaluations = "roles/storage.objectUser" }
      secrets         = ["OPENAI_API_KEY", "GEMINI_API_KEY"]
      timeout_seconds = 540
      # Up to 25 full-size images decoded for one sheet.
      available_memory = "2Gi"
      available_cpu    = "1"
      # Model calls share the critique workers' quota and cap.
      max_instance_count = var.critique_worker_max_instances
      # `vidcurate sets evaluate --all`: one message per set, thousands.
      delivery = {
        expected_burst        = 10000
        seconds_per_message   = 20
        max_delivery_attempts = 24
        retention_days        = 7
      }
    }
    echo_object = {
      description   = "Record the latest generation of every object finalized in a bucket."
      trigger       = { bucket = "annotations" }
      available_cpu = "1"
      # Every object of a bulk annotation upload, as ingest_feedback.
      delivery = {
        expected_burst        = 100000
        seconds_per_message   = 1
        max_delivery_attempts = 27
        retention_days        = 7
      }
    }
  }

  functions = {
    for name, spec in local.function_catalog : name => {
      description    = spec.description
      trigger_topic  = try(spec.trigger.topic, null)
      trigger_bucket = try(spec.trigger.bucket, null)
      trigger_events = try(spec.trigger.bucket, null) == null ? null : tolist(try(spec.trigger.events, ["OBJECT_FINALIZE"]))
      source_topic   = try(spec.trigger.topic, local.storage_topics[spec.trigger.bucket])
      buckets        = try(spec.buckets, {})
      publishes      = try(spec.publishes, [])
      # Mounted: the keys it uses that have a secret (secrets.tf).
      secrets            = [for env in try(spec.secrets, []) : env if contains(var.api_keys, env)]
      timeout_seconds    = try(spec.timeout_seconds, 60)
      available_memory   = try(spec.available_memory, "512Mi")
      available_cpu      = spec.available_cpu
      max_instance_count = try(spec.max_instance_count, 10)
      delivery           = spec.delivery
    }
  }

  # The Settings every function reads (VIDCURATE_*), the same schema as a laptop's.
  function_environment = merge(
    {
      VIDCURATE_BACKEND               = "gcp"
      VIDCURATE_PROJECT               = var.project_id
      VIDCURATE_REGION                = var.region
      VIDCURATE_FIRESTORE_DATABASE    = google_firestore_database.this.name
      VIDCURATE_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      # The entry point dead-letters a message after max_delivery_attempts failures of its
      # handler (modules/event_function lets it publish there): the subscriptions' own
      # attempts are spent on back-pressure.
      VIDCURATE_HANDLER_DEAD_LETTERS  = "true"
      VIDCURATE_MIN_BACKOFF_SECONDS   = tostring(var.min_backoff_seconds)
      VIDCURATE_MAX_BACKOFF_SECONDS   = tostring(var.max_backoff_seconds)
      VIDCURATE_MAX_EVENT_AGE_SECONDS = tostring(var.max_event_age_seconds)
      VIDCURATE_LOG_LEVEL             = var.log_level
      # pull_dataset_shard downloads a shard into its in-memory /tmp (4 GiB): refuse larger
      # shards at once, with the reason, rather than being killed for memory on every retry.
      VIDCURATE_MAX_SHARD_BYTES = tostring(2 * 1024 * 1024 * 1024)
    },
    { for role, bucket in google_storage_bucket.data : "VIDCURATE_${upper(role)}_BUCKET" => bucket.name },
    # Optional settings, only when set (otherwise the code's defaults): where exports are
    # published unless a request names a repo; the caption task sets by config type (JSON,
    # merged over the built-in 'default' set); the largest annotation file ingested; the
    # critique models by type, and model quotas and prices (JSON, merged over the defaults).
    {
      for env, value in {
        VIDCURATE_HF_DATASET           = var.hf_dataset
        VIDCURATE_TASK_SETS            = length(var.task_sets) == 0 ? null : jsonencode(var.task_sets)
        VIDCURATE_MAX_ANNOTATION_BYTES = var.max_annotation_bytes == null ? null : tostring(var.max_annotation_bytes)
        VIDCURATE_CRITIQUE_MODELS      = length(var.critique_models) == 0 ? null : jsonencode(var.critique_models)
        VIDCURATE_MODEL_LIMITS         = length(var.model_limits) == 0 ? null : jsonencode(var.model_limits)
        VIDCURATE_MODEL_PRICES         = length(var.model_prices) == 0 ? null : jsonencode(var.model_prices)
      } : env => value if value != null
    },
  )
}

# Build each function's archive at plan time (deterministic: same content, same MD5, no
# redeploy). The Python must have the project's dependencies installed: their versions are
# pinned into the archive's requirements.txt.
data "external" "archive" {
  for_each = local.functions

  program = [var.python_executable, abspath("${path.module}/../infra/build_function.py"), "--terraform"]
  query = {
    name    = each.key
    out_dir = abspath("${path.module}/../build/functions")
  }
}

module "function" {
  source   = "./modules/event_function"
  for_each = local.functions

  project_id  = var.project_id
  region      = var.region
  name        = each.key
  description = each.value.description

  source_archive = {
    bucket = google_storage_bucket.function_sources.name
    path   = data.external.archive[each.key].result.path
    md5    = data.external.archive[each.key].result.md5
  }

  trigger = {
    topic          = local.source_topics[each.value.source_topic]
    storage_bucket = try(google_storage_bucket.data[each.value.trigger_bucket].name, null)
    storage_events = each.value.trigger_events
  }

  delivery = {
    expected_burst             = each.value.delivery.expected_burst
    seconds_per_message        = each.value.delivery.seconds_per_message
    max_delivery_attempts      = each.value.delivery.max_delivery_attempts
    message_retention_duration = "${each.value.delivery.retention_days * 86400}s"
    minimum_backoff_seconds    = var.min_backoff_seconds
    maximum_backoff_seconds    = var.max_backoff_seconds
  }

  service = {
    timeout_seconds    = each.value.timeout_seconds
    available_memory   = each.value.available_memory
    available_cpu      = each.value.available_cpu
    max_instance_count = each.value.max_instance_count
  }

  environment_variables = local.function_environment
  # The version the plan found (secrets.tf): a new version deploys a new revision. The id
  # comes from local.secrets, known at plan time even when the read waits for an API
  # enablement (the module's grants are keyed by it).
  secret_environment_variables = {
    for env in each.value.secrets : env => {
      secret  = local.secrets[env]
      version = data.google_secret_manager_secret_version.api[env].version
    }
  }

  service_account = {
    create = false
    email  = google_service_account.function[each.key].email
  }

  pubsub_service_agent  = local.pubsub_service_agent
  build_service_account = var.build_service_account
  labels                = var.labels

  # The function must hold its roles before its subscription pushes the first event, and
  # its build must be able to read its source.
  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_datastore_user,
    google_storage_bucket_iam_member.function,
    google_storage_bucket_iam_member.function_sources_builder,
    google_pubsub_topic_iam_member.function_publisher,
    google_storage_notification.object_events,
  ]
}

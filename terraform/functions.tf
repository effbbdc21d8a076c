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
    # Word discovery (shared/discovery): word-searches -> discover_search -> clip-candidates ->
    # discover_score -> clip-fetches -> discover_fetch -> clip-reviews -> discover_review.
    # The clip source allows 10 searches a minute for the whole account: every search page,
    # and every refresh of expired download links (discover_fetch), reserves a turn at one
    # gate in Firestore (shared/platform/ratelimit.py), 6.12 s apart, and waits for it at most
    # VIDCURATE_CLIP_SEARCH_MAX_WAIT_SECONDS (60 s). A caller whose turn would come later is
    # refused as busy (nothing reserved) and its message is delivered again after the
    # backoff; a refusal is no failure of the message (the entry point never dead-letters
    # it), and costs one Pub/Sub delivery attempt, like a refusal at the instance cap.
    #   - discover_search holds at most 4 turns (one per instance): 4 x 6.12 = 24.5 s, so the
    #     searches alone never fill the wait, and leave more than half of it to refreshes.
    #   - discover_fetch refreshes per word, not per clip: one refresh search renews the
    #     links of every clip of the word it lists, kept with the word's search answer in
    #     the discovery bucket, and the word's other clips download with them for the
    #     links' 5 minutes. So its cap is that of the other model workers, not the gate's; a
    #     fetch that finds the gate full is refused as busy and, by its retry, usually finds
    #     its link renewed by another fetch of the word.
    discover_search = {
      description = "Search one word's clips at the source within the account-wide rate limit; send each clip it finds first to scoring."
      trigger     = { topic = "word-searches" }
      # Keeps each word's search answer under searches/ of the discovery bucket, which a
      # later search for more clips replaces (storage.objects.delete): objectUser. The
      # run's words and clips are documents. Searches need the ClipCafe key.
      buckets   = { discovery = "roles/storage.objectUser" }
      publishes = ["clip-candidates"]
      secrets   = ["CLIPCAFE_API_KEY"]
      # Each page of a search takes a turn at the gate, up to 60 s away: a search of 10
      # pages (--max-videos 1000) needs up to 10 x 60 s and its requests, so the longest
      # timeout there is (the push's ack deadline can be no longer). Such a search outlasts
      # it only while refreshes keep the gate full for all of its pages.
      timeout_seconds = 600
      available_cpu   = "1"
      # More instances would not search faster (the gate sets the pace), only queue longer
      # at it and crowd out the refreshes: see above. The same cap as its FunctionSpec
      # (shared/discovery/functions.py: max_instances), which the local runtime keeps.
      max_instance_count = 4
      # `vidcurate discover run` publishes one message per word at once: 4,889 for the
      # whole vocabulary. A message (one page, --max-videos 100) waits at most a minute for
      # its turn while refreshes share the gate. It drains in 2 * 5000 * 60 / 4 s = 1.7 days.
      delivery = {
        expected_burst        = 5000
        seconds_per_message   = 60
        max_delivery_attempts = 23
        retention_days        = 7
      }
    }
    discover_score = {
      description = "Map one clip to the vocabulary words its transcript says and teaches (candidate model); check the mappings; send it on to fetching or reject it."
      trigger     = { topic = "clip-candidates" }
      # Reads the run's vocabulary (runs/<run>/vocabulary.json); its answers, cached by
      # inputs, and the clip's status are documents.
      buckets            = { discovery = "roles/storage.objectViewer" }
      publishes          = ["clip-fetches"]
      secrets            = ["OPENAI_API_KEY", "GEMINI_API_KEY"]
      timeout_seconds    = 540
      available_cpu      = "1"
      max_instance_count = var.critique_worker_max_instances
      # Each word's search sends up to 100 clips (--max-videos) at once, 10 words a minute,
      # faster than the model scores them: the backlog can reach a whole run, 4,889 x 100.
      # 2 * 500000 * 10 / 20 s = 5.8 days from 20 instances.
      delivery = {
        expected_burst        = 500000
        seconds_per_message   = 10
        max_delivery_attempts = 29
        retention_days        = 7
      }
    }
    discover_fetch = {
      description = "Download one clip (refreshing an expired link), extract its audio and transcribe it with word timestamps; send it on to review."
      trigger     = { topic = "clip-fetches" }
      # Keeps the download in scratch/ of the discovery bucket (create-only, read back by a
      # redelivery and by review) and the links a refresh renews in the word's search
      # answer under searches/ (rewritten): objectUser. The transcript is a document.
      # Transcription calls OpenAI; a link older than the source's 5 minutes is refreshed
      # by searching again, with the ClipCafe key.
      buckets   = { discovery = "roles/storage.objectUser" }
      publishes = ["clip-reviews"]
      secrets   = ["OPENAI_API_KEY", "CLIPCAFE_API_KEY"]
      # Holds the clip (up to VIDCURATE_CLIP_MAX_BYTES, 200 MiB) in its in-memory /tmp and
      # in memory while storing it, and decodes its audio with PyAV. A refresh searches up
      # to 3 pages, each a turn at the gate (at most 60 s away): well within the timeout.
      timeout_seconds  = 540
      available_memory = "2Gi"
      available_cpu    = "2"
      # One transcription in flight per instance, paced per instance to the model's limits
      # (transcription_limits), as the other model workers; refreshes are bounded by words,
      # not by this cap: see above.
      max_instance_count = var.critique_worker_max_instances
      # Every clip that passed scoring: sized for 100,000 at once (a fifth of discover_score's
      # burst). A clip of at most 15 s: its download, audio and transcription, plus its
      # share of its word's refresh (turns at the gate, shared by the word's clips): about
      # half a minute. From var.critique_worker_max_instances (20) instances it drains in
      # 2 * 100000 * 30 / 20 s = 3.5 days: kept the least, a week.
      delivery = {
        expected_burst        = 100000
        seconds_per_message   = 30
        max_delivery_attempts = 27
        retention_days        = 7
      }
    }
    discover_review = {
      description = "Confirm one clip's words with both transcripts (final model) and store the clip with its word mappings."
      trigger     = { topic = "clip-reviews" }
      # Reads the clip from scratch/, stores it as videos/<id>.<format> (create-only), then
      # deletes the scratch copy: objectUser. The video, its word mappings and the counts of
      # its words are documents. It ends the pipeline: it publishes nothing.
      buckets         = { discovery = "roles/storage.objectUser" }
      secrets         = ["OPENAI_API_KEY", "GEMINI_API_KEY"]
      timeout_seconds = 540
      # The clip (up to 200 MiB) is held in memory while it is stored.
      available_memory   = "1Gi"
      available_cpu      = "1"
      max_instance_count = var.critique_worker_max_instances
      # What discover_fetch sends on: at most its own burst.
      delivery = {
        expected_burst        = 100000
        seconds_per_message   = 20
        max_delivery_attempts = 27
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

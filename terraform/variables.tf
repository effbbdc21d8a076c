variable "project_id" {
  description = "Google Cloud project that hosts vidcurate."
  type        = string
}

variable "project_number" {
  description = "Number of var.project_id (`terraform -chdir=terraform/bootstrap output project_number`, or `gcloud projects describe <project> --format='value(projectNumber)'`). Given rather than looked up: reading the project needs the Cloud Resource Manager API at plan time, which an empty project lacks."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number must be the project's number (digits only), not its id."
  }
}

variable "region" {
  description = "Region of the functions, buckets and Pub/Sub-pushed services."
  type        = string
  default     = "europe-west1"
}

variable "firestore_location" {
  description = "Firestore location (a region such as europe-west1, or a multi-region such as eur3); null uses var.region."
  type        = string
  default     = null
}

variable "firestore_database" {
  description = "Firestore database id (Settings.firestore_database)."
  type        = string
  default     = "(default)"
}

variable "bucket_prefix" {
  description = "Prefix of every bucket name (bucket names are global); null uses \"<project_id>-vidcurate\". Buckets are <prefix>-annotations, -exports, -videos, -frames, -function-sources and -access-logs."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_prefix == null ? true : can(regex("^[a-z0-9][a-z0-9-]{1,40}$", var.bucket_prefix))
    error_message = "bucket_prefix must be 2 to 41 lowercase letters, digits or hyphens."
  }
}

variable "bucket_location" {
  description = "Location of the buckets; null uses var.region (notifications and functions in one region)."
  type        = string
  default     = null
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept in a versioned bucket before it is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "access_logs" {
  description = "Log every request to the buckets into a <prefix>-access-logs bucket. Cloud Storage writes usage logs as the Google group cloud-storage-analytics@google.com, which organisations that restrict IAM members to their own domain (the iam.allowedPolicyMemberDomains policy) refuse: off by default so that a deploy succeeds there too; Cloud Audit Logs record data access either way when enabled."
  type        = bool
  default     = false
  nullable    = false
}

variable "access_log_retention_days" {
  description = "Days bucket access logs are kept."
  type        = number
  default     = 90
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete non-empty buckets (test projects only)."
  type        = bool
  default     = false
}

variable "max_delivery_attempts" {
  description = "Failures of a function's own handler before the entry point forwards the event to the function's dead-letter topic itself (VIDCURATE_MAX_DELIVERY_ATTEMPTS; Settings.max_delivery_attempts, 5 to 100). Refused deliveries (a function at its instance cap) do not count; the push subscriptions' own attempts are sized for back-pressure per function (functions.tf, `delivery`)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (a Pub/Sub limit)."
  }
}

variable "min_backoff_seconds" {
  description = "First retry delay of a failed delivery (exponential backoff; Settings.min_backoff_seconds). At least 10: a push refused by a function at its instance cap is not retried sooner (shared/platform/backpressure.py)."
  type        = number
  default     = 10

  validation {
    condition     = var.min_backoff_seconds >= 10 && var.min_backoff_seconds <= 600
    error_message = "min_backoff_seconds must be between 10 and 600."
  }
}

variable "max_backoff_seconds" {
  description = "Longest retry delay of a failed delivery (at most 600; Settings.max_backoff_seconds)."
  type        = number
  default     = 600

  validation {
    condition     = var.max_backoff_seconds <= 600
    error_message = "max_backoff_seconds must be at most 600 (a Pub/Sub limit)."
  }
}

variable "max_event_age_seconds" {
  description = "Events older than this are acknowledged and logged instead of retried (Settings.max_event_age_seconds)."
  type        = number
  default     = 604800
}

variable "log_level" {
  description = "Log level of the functions (Settings.log_level)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "python_executable" {
  description = "Python that runs infra/build_function.py at plan time; it must have the project's dependencies installed (their versions are pinned into each archive)."
  type        = string
  default     = "python3"
}

variable "build_service_account" {
  description = "Service account Cloud Build uses to build the functions (projects/<project>/serviceAccounts/<email>: `terraform -chdir=terraform/bootstrap output build_service_account`); it is granted read access to the function sources bucket. null uses the project's default, which new projects no longer grant what a build needs."
  type        = string
  default     = null

  validation {
    condition     = var.build_service_account == null ? true : can(regex("^projects/[^/]+/serviceAccounts/[^/@]+@[^/]+$", var.build_service_account))
    error_message = "build_service_account must read projects/<project>/serviceAccounts/<email>."
  }
}

variable "api_keys" {
  description = "The API keys whose Secret Manager secret exists and has a version (secrets.tf says how to add one): OPENAI_API_KEY, GEMINI_API_KEY, HF_TOKEN, CLIPCAFE_API_KEY, and VIDCURATE_DISCOVERY_API_TOKENS (the web app's admin API tokens, a JSON list). A function mounts the keys it uses that are listed here, the web app its tokens and analyze_frames' model keys (OPENAI_API_KEY, GEMINI_API_KEY: its cost estimates name the provider that function answers with); without a key a function answers offline (no model call, no Hub upload), word discovery cannot search ClipCafe, and without the tokens the admin API refuses every call. [] (the default): no secret is read, nothing waits for one."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(setsubtract(var.api_keys, ["OPENAI_API_KEY", "GEMINI_API_KEY", "HF_TOKEN", "CLIPCAFE_API_KEY", "VIDCURATE_DISCOVERY_API_TOKENS"])) == 0
    error_message = "api_keys may list OPENAI_API_KEY, GEMINI_API_KEY, HF_TOKEN, CLIPCAFE_API_KEY and VIDCURATE_DISCOVERY_API_TOKENS only."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = { app = "vidcurate" }
}

variable "hf_dataset" {
  description = "Default Hugging Face dataset repo (OWNER/NAME) exports are published to (VIDCURATE_HF_DATASET; Settings.hf_dataset); null: every publishing request must name its repo."
  type        = string
  default     = null

  validation {
    condition     = var.hf_dataset == null ? true : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", var.hf_dataset))
    error_message = "hf_dataset must be a dataset repo id OWNER/NAME."
  }
}

variable "export_schedule" {
  description = "Cron schedule of the scheduled export (Cloud Scheduler, e.g. \"0 3 * * *\" for 03:00 every day in export_time_zone); null: no scheduled export."
  type        = string
  default     = null
}

variable "export_time_zone" {
  description = "Time zone (tz database name) export_schedule is read in."
  type        = string
  default     = "Etc/UTC"
}

variable "export_request" {
  description = "Body of the scheduled export-requests message (shared/captions/messages.py ExportRequest): config type, strictness, and whether to publish to the Hub (to hf_dataset, or var.hf_dataset)."
  type = object({
    config_type   = optional(string, "default")
    only_reviewed = optional(bool, false)
    ignore_errors = optional(bool, false)
    with_history  = optional(bool, false)
    hf_dataset    = optional(string)
    publish       = optional(bool, false)
  })
  default = {
    config_type   = "default"
    ignore_errors = true
    publish       = true
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", var.export_request.config_type))
    error_message = "export_request.config_type must be a config type name."
  }

  validation {
    condition     = var.export_request.hf_dataset == null ? true : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", var.export_request.hf_dataset))
    error_message = "export_request.hf_dataset must be a dataset repo id OWNER/NAME."
  }
}

variable "task_sets" {
  description = "Caption task sets by config type, {config_type = {task = long name}} (VIDCURATE_TASK_SETS as JSON; Settings.task_sets). Merged over the built-in 'default' set, which an entry named \"default\" replaces; {} (the default): the built-in set only. Names are 1 to 64 letters, digits, '_' or '-' (not \"videos\")."
  type        = map(map(string))
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for config_type in keys(var.task_sets) : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", config_type)) && config_type != "videos"])
    error_message = "task_sets: every config type must be a name of 1 to 64 letters, digits, '_' or '-' (starting with a letter or digit), and not \"videos\"."
  }

  validation {
    condition     = alltrue([for tasks in values(var.task_sets) : length(tasks) > 0])
    error_message = "task_sets: every config type needs at least one task."
  }

  validation {
    condition = alltrue(flatten([
      for tasks in values(var.task_sets) : [
        for task, long_name in tasks : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", task)) && task != "videos" && long_name != ""
      ]
    ]))
    error_message = "task_sets: every task must be a name of 1 to 64 letters, digits, '_' or '-' (not \"videos\") with a non-empty long name."
  }
}

variable "max_annotation_bytes" {
  description = "Largest feedback/review file ingested; bigger ones are quarantined (VIDCURATE_MAX_ANNOTATION_BYTES; Settings.max_annotation_bytes). null: the code's default."
  type        = number
  default     = null

  validation {
    condition     = var.max_annotation_bytes == null ? true : try(var.max_annotation_bytes >= 1 && floor(var.max_annotation_bytes) == var.max_annotation_bytes, false)
    error_message = "max_annotation_bytes must be a positive whole number of bytes."
  }
}

variable "critique_worker_max_instances" {
  description = "Most instances of critique_worker (and of analyze_frames, evaluate_set, discover_score, discover_fetch and discover_review, which are bounded by the same value). Each instance handles one critique-jobs item at a time (one model call in flight) and paces its own calls to the per-model rate limits (model_limits) in memory, so together they bound model concurrency: at most this many calls run at once in each of these functions, and one model gets at most this many times its per-minute limits from each. Lower it when the workers share a provider quota that this product would exceed. A critique fan-out or a discovery run then drains more slowly: each function's delivery.retention_days (functions.tf) must cover the longer drain, and the plan fails until it does."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.critique_worker_max_instances >= 1 && floor(var.critique_worker_max_instances) == var.critique_worker_max_instances
    error_message = "critique_worker_max_instances must be a whole number of at least 1."
  }
}

variable "critique_models" {
  description = "Model per critique type, and \"revision\" for the rewrite step, {type = model} (VIDCURATE_CRITIQUE_MODELS as JSON; Settings.critique_models). Unlisted types use their defaults (gpt-4.1, gemini-2.5-pro; revision gpt-4o); {} (the default): the defaults only."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = alltrue([
      for critique_type, model in var.critique_models : contains([
        "insertion_error_critique",
        "replacement_error_critique",
        "deletion_error_critique",
        "nonconstructive_critique",
        "video_model_critique",
        "blind_model_critique",
        "worst_caption_generation",
        "revision",
      ], critique_type) && trimspace(model) != ""
    ])
    error_message = "critique_models: every key must be a critique type (shared/critiques/types.py) or \"revision\", with a non-empty model name."
  }
}

variable "model_limits" {
  description = "Provider quotas by model, {model = {requests_per_minute, tokens_per_minute}} (VIDCURATE_MODEL_LIMITS as JSON; Settings.model_limits), merged over the built-in first-tier quotas; every worker paces its calls to them. {} (the default): the built-in quotas only."
  type = map(object({
    requests_per_minute = number
    tokens_per_minute   = number
  }))
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for limit in values(var.model_limits) :
      limit.requests_per_minute >= 1 && floor(limit.requests_per_minute) == limit.requests_per_minute
      && limit.tokens_per_minute >= 1 && floor(limit.tokens_per_minute) == limit.tokens_per_minute
    ])
    error_message = "model_limits: requests_per_minute and tokens_per_minute must be whole numbers of at least 1."
  }
}

variable "model_prices" {
  description = "US dollars per million tokens by model, {model = {input_per_million, output_per_million}} (VIDCURATE_MODEL_PRICES as JSON; Settings.model_prices), merged over the built-in list prices; the cost ledger and max_cost_usd budgets use them. {} (the default): the built-in prices only."
  type = map(object({
    input_per_million  = number
    output_per_million = number
  }))
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for price in values(var.model_prices) : price.input_per_million >= 0 && price.output_per_million >= 0
    ])
    error_message = "model_prices: input_per_million and output_per_million must be at least 0."
  }
}

variable "web_image" {
  description = "Container image of the web app (infra/web/Dockerfile), e.g. <region>-docker.pkg.dev/<project>/vidcurate/web:<tag>; cloudbuild.yaml builds and pushes one per deploy, into the repository terraform/bootstrap creates, and passes it here. null (the default): the web app is not deployed (no service, service account or grants), so a plan needs no image."
  type        = string
  default     = null

  validation {
    condition     = var.web_image == null ? true : can(regex("^[a-z0-9][a-z0-9.:-]*(/[A-Za-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.web_image))
    error_message = "web_image must be a full image reference with a tag or digest, e.g. europe-west1-docker.pkg.dev/<project>/vidcurate/web:<tag>."
  }
}

variable "web_users" {
  description = "Who may open the web app through Identity-Aware Proxy (roles/iap.httpsResourceAccessor on the service): IAM principals such as \"user:a@example.com\", \"group:annotators@example.com\" or \"domain:example.com\", of the project's organization. var.web_admins are let in too. [] (the default): admins only."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for member in var.web_users : can(regex("^(user|group|domain|serviceAccount):[^\\s:]+$", member))])
    error_message = "web_users: every entry must be user:<email>, group:<email>, domain:<domain> or serviceAccount:<email> (never allUsers or allAuthenticatedUsers: the app is behind IAP to be private)."
  }
}

variable "web_admins" {
  description = "E-mails of the web app's admins (VIDCURATE_WEB_ADMINS as JSON; LabelSettings.web_admins): the identities IAP signs for them. Each is also let through IAP as user:<email>."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for email in var.web_admins : can(regex("^[^@\\s:]+@[^@\\s:]+\\.[^@\\s:]+$", email))])
    error_message = "web_admins: every entry must be a plain e-mail address (no user: prefix)."
  }
}

variable "web_max_instances" {
  description = "Most instances of the web app's Cloud Run service."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.web_max_instances >= 1 && floor(var.web_max_instances) == var.web_max_instances
    error_message = "web_max_instances must be a whole number of at least 1."
  }
}

variable "explorer_metadata_fields" {
  description = "Metadata fields the web app's clip explorer can search clips by (GET /clips?field=<field>&value=<value>, shared/media/api.py): a Firestore composite index (metadata.<field> ascending, name ascending) on the clips collection for each (firestore.tf). A search by a field not listed here fails: Firestore answers FAILED_PRECONDITION with a link to create the missing index; to make another field searchable, add it to this list (its index takes some minutes to build). Plain field names only (letters, digits and underscores, not starting with a digit). Each index costs a write per clip written; [] makes metadata unsearchable. The default lists the fields the old Streamlit page showed."
  type        = list(string)
  default     = ["factory_id", "worker_id"]
  nullable    = false

  validation {
    condition     = alltrue([for field in var.explorer_metadata_fields : can(regex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", field)) && !can(regex("^__.*__$", field))])
    error_message = "explorer_metadata_fields: every entry must be a plain field name of at most 64 letters, digits and underscores, not starting with a digit and not __reserved__ (the explorer searches metadata.<field>)."
  }
}

variable "learn_image" {
  description = "Container image of the active-learning job (infra/learn/Dockerfile), which the feature-extraction job (features.tf) runs too, with its own command, e.g. <region>-docker.pkg.dev/<project>/vidcurate/learn:<tag>; cloudbuild.yaml builds and pushes one per deploy, into the repository terraform/bootstrap creates, and passes it here. null (the default): neither job is deployed (no job, service account or grants), so a plan needs no image."
  type        = string
  default     = null

  validation {
    condition     = var.learn_image == null ? true : can(regex("^[a-z0-9][a-z0-9.:-]*(/[A-Za-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.learn_image))
    error_message = "learn_image must be a full image reference with a tag or digest, e.g. europe-west1-docker.pkg.dev/<project>/vidcurate/learn:<tag>."
  }
}

variable "learn_operators" {
  description = "Who may start the active-learning job, with per-execution arguments (`vidcurate learn round --where cloud`), and follow its executions: IAM principals such as \"user:a@example.com\" or \"group:ml@example.com\", granted roles/run.jobsExecutorWithOverrides and roles/run.viewer on the job only. [] (the default): nobody but the project's Owners and Cloud Run admins."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for member in var.learn_operators : can(regex("^(user|group|domain|serviceAccount):[^\\s:]+$", member))])
    error_message = "learn_operators: every entry must be user:<email>, group:<email>, domain:<domain> or serviceAccount:<email> (never allUsers or allAuthenticatedUsers)."
  }
}

variable "learn_task_timeout_seconds" {
  description = "Longest one attempt of the active-learning job's task may run, in seconds; a round that takes longer resumes from its last epoch checkpoint on the next attempt (learn_max_retries). Cloud Run allows GPU tasks 3600 s in general availability and up to 43200 s (12 h) in preview: above 3600 the job is deployed with launch stage BETA."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.learn_task_timeout_seconds >= 60 && var.learn_task_timeout_seconds <= 43200 && floor(var.learn_task_timeout_seconds) == var.learn_task_timeout_seconds
    error_message = "learn_task_timeout_seconds must be a whole number of seconds from 60 to 43200 (12 hours, Cloud Run's longest for a task with a GPU)."
  }
}

variable "learn_max_retries" {
  description = "Attempts of the active-learning job's task after a failed one (a timeout, an infrastructure interruption: GPU tasks are not live-migrated, maintenance stops them) before the execution fails; each attempt resumes from the last checkpoint."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.learn_max_retries >= 0 && var.learn_max_retries <= 10 && floor(var.learn_max_retries) == var.learn_max_retries
    error_message = "learn_max_retries must be a whole number from 0 to 10 (a Cloud Run limit)."
  }
}

variable "features_operators" {
  description = "Who may run feature extraction in the cloud (`vidcurate features run --where cloud --tasks N`: freeze a selection of the videos as a run, start the job with per-execution arguments and task count, follow it, write the run's tables; `vidcurate features status`, `export`): IAM principals such as \"user:a@example.com\" or \"group:ml@example.com\", granted roles/run.jobsExecutorWithOverrides and roles/run.viewer on the job only, roles/storage.objectViewer on the videos bucket and roles/storage.objectUser on the features bucket. [] (the default): nobody but the project's Owners and Cloud Run admins."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for member in var.features_operators : can(regex("^(user|group|domain|serviceAccount):[^\\s:]+$", member))])
    error_message = "features_operators: every entry must be user:<email>, group:<email>, domain:<domain> or serviceAccount:<email> (never allUsers or allAuthenticatedUsers)."
  }
}

variable "features_gpu" {
  description = "Whether each task of the feature-extraction job runs on one NVIDIA L4 GPU (4 CPU, 16 GiB; the text extractor's OCR on onnxruntime's CUDA provider), in the regions that offer L4s to Cloud Run jobs, within the project's L4 quota; false: 4 CPU and 8 GiB, no GPU, any region."
  type        = bool
  default     = true
  nullable    = false
}

variable "features_task_count" {
  description = "Tasks of a feature-extraction execution that does not choose its own (`vidcurate features run --where cloud --tasks N` overrides it per execution); task i of n extracts the i-th slice of the run's videos."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.features_task_count >= 1 && var.features_task_count <= 10000 && floor(var.features_task_count) == var.features_task_count
    error_message = "features_task_count must be a whole number from 1 to 10000 (Cloud Run's most tasks in one execution)."
  }
}

variable "features_parallelism" {
  description = "Most tasks of a feature-extraction execution running at once, so with features_gpu the most L4 GPUs it holds at once: the project's L4 quota in the region must cover it (and the active-learning job's one). At most features_task_count, which a variable's validation cannot check (it may refer to no other variable before terraform 1.9): a precondition on the job does (features.tf). An execution that overrides its task count below this runs all of its tasks at once."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.features_parallelism >= 1 && var.features_parallelism <= 10000 && floor(var.features_parallelism) == var.features_parallelism
    error_message = "features_parallelism must be a whole number from 1 to 10000 (and at most features_task_count)."
  }
}

variable "features_task_timeout_seconds" {
  description = "Longest one attempt of a feature-extraction task may run, in seconds; a task that takes longer is retried (features_max_retries) and skips the results it already wrote. Cloud Run allows GPU tasks 3600 s in general availability and up to 43200 s (12 h) in preview: above 3600, with features_gpu, the job is deployed with launch stage BETA."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.features_task_timeout_seconds >= 60 && var.features_task_timeout_seconds <= 43200 && floor(var.features_task_timeout_seconds) == var.features_task_timeout_seconds
    error_message = "features_task_timeout_seconds must be a whole number of seconds from 60 to 43200 (12 hours, Cloud Run's longest for a task with a GPU)."
  }
}

variable "features_max_retries" {
  description = "Attempts of a feature-extraction task after a failed one (a timeout, an infrastructure interruption: GPU tasks are not live-migrated, maintenance stops them) before its execution fails; each attempt resumes where the last one stopped."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.features_max_retries >= 0 && var.features_max_retries <= 10 && floor(var.features_max_retries) == var.features_max_retries
    error_message = "features_max_retries must be a whole number from 0 to 10 (a Cloud Run limit)."
  }
}

variable "project_id" {
  description = "Project that hosts the function, its subscription and its dead-letter topic."
  type        = string
}

variable "region" {
  description = "Region of the function (Cloud Run service)."
  type        = string
}

variable "name" {
  description = "Catalogue name of the function (shared/catalog.py): folder functions/<name>/, entry point <name>, subscription <name>, dead-letter topic <name>-dead-letter."
  type        = string

  validation {
    # Service account ids are at most 30 characters and get a 5-character prefix.
    condition     = can(regex("^[a-z][a-z0-9_]{1,23}[a-z0-9]$", var.name))
    error_message = "name must be snake_case, 3 to 25 characters, starting with a letter."
  }
}

variable "description" {
  description = "What the function does (shown in the console)."
  type        = string
  default     = ""
}

variable "entry_point" {
  description = "Python function to run; defaults to the catalogue name."
  type        = string
  default     = null
}

variable "runtime" {
  description = "Cloud Functions runtime."
  type        = string
  default     = "python311"
}

variable "source_archive" {
  description = "The built source archive (infra/build_function.py) and the bucket it is uploaded to. The object is named after the archive's MD5, so a new build deploys a new revision and an unchanged one deploys nothing."
  type = object({
    bucket = string
    path   = string
    md5    = string
  })
}

variable "trigger" {
  description = "What delivers events: the Pub/Sub topic the function's push subscription reads. For a storage trigger the topic is the bucket's GCS notification topic (gcs-notifications-<bucket>), storage_bucket names the bucket and storage_events lists the GCS notification event types the function handles (OBJECT_FINALIZE, OBJECT_METADATA_UPDATE, OBJECT_DELETE, OBJECT_ARCHIVE; default OBJECT_FINALIZE): the subscription filters on both, so only that bucket's notifications of those types are delivered. storage_events is ignored without storage_bucket. Changing the filter replaces the subscription (Pub/Sub filters are immutable)."
  type = object({
    topic          = string
    storage_bucket = optional(string)
    storage_events = optional(list(string), ["OBJECT_FINALIZE"])
  })

  validation {
    condition = (
      length(var.trigger.storage_events) > 0
      && alltrue([
        for event in var.trigger.storage_events :
        contains(["OBJECT_FINALIZE", "OBJECT_METADATA_UPDATE", "OBJECT_DELETE", "OBJECT_ARCHIVE"], event)
      ])
    )
    error_message = "trigger.storage_events must list one or more of OBJECT_FINALIZE, OBJECT_METADATA_UPDATE, OBJECT_DELETE and OBJECT_ARCHIVE."
  }
}

variable "delivery" {
  description = "Retry contract of the function's subscription, sized for back-pressure (shared/platform/backpressure.py): expected_burst messages published at once, taking seconds_per_message each, reach the function through a push window that halves on every refusal of a function at its instance cap, and Pub/Sub counts each refusal as an attempt. max_delivery_attempts (Pub/Sub accepts 5 to 100) and message_retention_duration (at most 31 days) must absorb that: checked at plan time on the subscription. Exponential backoff between attempts, then the dead-letter topic. ack_deadline_seconds is also the push request timeout; it defaults to the function timeout."
  type = object({
    expected_burst             = number
    seconds_per_message        = number
    max_delivery_attempts      = number
    minimum_backoff_seconds    = optional(number, 10)
    maximum_backoff_seconds    = optional(number, 600)
    ack_deadline_seconds       = optional(number)
    message_retention_duration = optional(string, "604800s")
    dead_letter_retention      = optional(string, "604800s")
  })

  validation {
    condition     = var.delivery.expected_burst >= 1 && var.delivery.seconds_per_message > 0
    error_message = "delivery.expected_burst must be at least 1 and delivery.seconds_per_message above 0."
  }

  validation {
    condition     = var.delivery.max_delivery_attempts >= 5 && var.delivery.max_delivery_attempts <= 100
    error_message = "delivery.max_delivery_attempts must be between 5 and 100 (a Pub/Sub limit)."
  }

  validation {
    condition = (
      var.delivery.minimum_backoff_seconds >= 0
      && var.delivery.minimum_backoff_seconds <= var.delivery.maximum_backoff_seconds
      && var.delivery.maximum_backoff_seconds <= 600
    )
    error_message = "delivery backoff must satisfy 0 <= minimum <= maximum <= 600 seconds."
  }

  validation {
    condition = (
      var.delivery.ack_deadline_seconds == null
      ? true
      : var.delivery.ack_deadline_seconds >= 10 && var.delivery.ack_deadline_seconds <= 600
    )
    error_message = "delivery.ack_deadline_seconds must be between 10 and 600."
  }

  validation {
    # Pub/Sub keeps a message from 10 minutes to 31 days.
    condition = alltrue([
      for duration in [var.delivery.message_retention_duration, var.delivery.dead_letter_retention] :
      can(regex("^[0-9]+s$", duration)) && try(tonumber(trimsuffix(duration, "s")) >= 600 && tonumber(trimsuffix(duration, "s")) <= 2678400, false)
    ])
    error_message = "delivery.message_retention_duration and dead_letter_retention must be \"<seconds>s\", from 600s to 2678400s (31 days)."
  }
}

variable "service" {
  description = "Runtime limits of the function's service. available_cpu is required: \"1\", \"2\", \"4\", \"6\" or \"8\", with at most 4 GiB of available_memory (\"<n>Mi\" or \"<n>Gi\") per CPU, and at least 2 GiB for 4 CPUs, 4 GiB for 6 or 8 (Cloud Run's rule)."
  type = object({
    timeout_seconds                  = optional(number, 60)
    available_memory                 = optional(string, "512Mi")
    available_cpu                    = string
    min_instance_count               = optional(number, 0)
    max_instance_count               = optional(number, 10)
    max_instance_request_concurrency = optional(number, 1)
  })

  validation {
    # A push request cannot outlive the subscription's ack deadline (600 s at most).
    condition     = var.service.timeout_seconds >= 1 && var.service.timeout_seconds <= 600
    error_message = "service.timeout_seconds must be between 1 and 600."
  }

  validation {
    condition     = var.service.max_instance_count >= 1 && var.service.min_instance_count <= var.service.max_instance_count
    error_message = "service.max_instance_count must be >= 1 and >= min_instance_count."
  }

  validation {
    # Below 1 CPU, Cloud Run adds further limits (at most 1 GiB, concurrency 1, first
    # generation execution environment): whole CPUs only.
    condition     = contains(["1", "2", "4", "6", "8"], var.service.available_cpu)
    error_message = "service.available_cpu must be \"1\", \"2\", \"4\", \"6\" or \"8\"."
  }

  validation {
    # Cloud Run: at most 4 GiB per CPU; 4 CPUs need at least 2 GiB, 6 and 8 at least 4 GiB.
    condition = can(regex("^[0-9]+(Mi|Gi)$", var.service.available_memory)) && try(alltrue([
      for mib in [tonumber(regex("^[0-9]+", var.service.available_memory)) * (endswith(var.service.available_memory, "Gi") ? 1024 : 1)] :
      mib <= 4096 * tonumber(var.service.available_cpu) && mib >= lookup({ "4" = 2048, "6" = 4096, "8" = 4096 }, var.service.available_cpu, 0)
    ]), false)
    error_message = "service.available_memory must be \"<n>Mi\" or \"<n>Gi\", at most 4 GiB per CPU of service.available_cpu (and at least 2 GiB for 4 CPUs, 4 GiB for 6 or 8)."
  }
}

variable "environment_variables" {
  description = "Plain environment variables of the function (VIDCURATE_* settings)."
  type        = map(string)
  default     = {}
}

variable "secret_environment_variables" {
  description = "Environment variables read from Secret Manager: env var name -> secret id (in project_id unless project_id is set) and version. The runtime service account is granted secretAccessor on exactly these secrets."
  type = map(object({
    secret     = string
    version    = optional(string, "latest")
    project_id = optional(string)
  }))
  default = {}
}

variable "service_account" {
  description = "Identity the function runs as. By default the module creates one for this function alone (fn-<name>); set create = false and email to use an existing one."
  type = object({
    create = optional(bool, true)
    email  = optional(string)
  })
  default = {}

  validation {
    condition     = var.service_account.create || var.service_account.email != null
    error_message = "service_account.email is required when service_account.create is false."
  }
}

variable "push_service_account" {
  description = "Identity Pub/Sub signs push requests with (OIDC); it gets run.invoker on this function only. By default the module creates one (push-<name>); set create = false and email to use an existing one."
  type = object({
    create = optional(bool, true)
    email  = optional(string)
  })
  default = {}

  validation {
    condition     = var.push_service_account.create || var.push_service_account.email != null
    error_message = "push_service_account.email is required when push_service_account.create is false."
  }
}

variable "pubsub_service_agent" {
  description = "Email of the project's Pub/Sub service agent (service-<project number>@gcp-sa-pubsub.iam.gserviceaccount.com): it publishes dead letters, acknowledges forwarded messages and mints the push OIDC tokens."
  type        = string
}

variable "build_service_account" {
  description = "Service account Cloud Build uses to build the function (projects/<project>/serviceAccounts/<email>); null uses the project's default build service account."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = {}
}

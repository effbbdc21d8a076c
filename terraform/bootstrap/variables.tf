variable "project_id" {
  description = "Google Cloud project that hosts vidcurate (it may be empty: billing linked, nothing else)."
  type        = string
}

variable "region" {
  description = "Region of the state bucket and of the deploy (cloudbuild.yaml _REGION): where the main configuration puts the functions and buckets."
  type        = string
  default     = "europe-west1"
}

variable "state_bucket" {
  description = "Name of the bucket that holds the main configuration's terraform state; null uses \"<project_id>-tfstate\" (cloudbuild.yaml's default _STATE_BUCKET)."
  type        = string
  default     = null
}

variable "state_bucket_location" {
  description = "Location of the state bucket; null uses var.region."
  type        = string
  default     = null
}

variable "state_noncurrent_version_retention_days" {
  description = "Days a replaced state file is kept (every apply writes one) before it is deleted; each is a way back after a bad apply."
  type        = number
  default     = 90

  validation {
    condition     = var.state_noncurrent_version_retention_days >= 1
    error_message = "state_noncurrent_version_retention_days must be at least 1."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = { app = "vidcurate" }
}

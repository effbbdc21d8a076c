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

variable "images_kept" {
  description = "Most recent images of the vidcurate Artifact Registry repository that are never deleted (each deploy pushes one web app image; the running one is the newest)."
  type        = number
  default     = 10

  validation {
    condition     = var.images_kept >= 1 && floor(var.images_kept) == var.images_kept
    error_message = "images_kept must be a whole number of at least 1."
  }
}

variable "image_retention_days" {
  description = "Days after which an image of the vidcurate Artifact Registry repository is deleted, unless it is among the var.images_kept most recent."
  type        = number
  default     = 30

  validation {
    condition     = var.image_retention_days >= 1 && floor(var.image_retention_days) == var.image_retention_days
    error_message = "image_retention_days must be a whole number of at least 1."
  }
}

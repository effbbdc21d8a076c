# Scheduled exports (optional): Cloud Scheduler publishes var.export_request on
# export-requests at var.export_schedule, and export_snapshot writes the export (then queues
# its Hub upload when the request asks to publish). Off while export_schedule is null.
#
# Cloud Scheduler publishes as its service agent
# (service-<project number>@gcp-sa-cloudscheduler.iam.gserviceaccount.com), whose
# Cloud Scheduler Service Agent role may publish to the project's topics: no grant here.

locals {
  # The body of an export-requests message (shared/captions/messages.py ExportRequest, which
  # rejects unknown fields); unset optional fields are left out rather than sent as null.
  export_request_body = jsonencode({
    for field, value in var.export_request : field => value if value != null
  })
}

resource "google_cloud_scheduler_job" "export" {
  count = var.export_schedule == null ? 0 : 1

  project     = var.project_id
  region      = var.region
  name        = "vidcurate-export"
  description = "Publish an export request (config ${var.export_request.config_type}) on export-requests."
  schedule    = var.export_schedule
  time_zone   = var.export_time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.events["export-requests"].id
    data       = base64encode(local.export_request_body)
    attributes = { requested_by = "cloud-scheduler" }
  }

  lifecycle {
    precondition {
      condition     = !var.export_request.publish || var.export_request.hf_dataset != null || var.hf_dataset != null
      error_message = "export_request.publish needs a dataset repo: set export_request.hf_dataset or var.hf_dataset (VIDCURATE_HF_DATASET), or publish = false."
    }
  }

  depends_on = [google_project_service.enabled]
}

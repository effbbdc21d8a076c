# API keys live in Secret Manager. Terraform creates the secrets only; their values are added
# out of band, never in code or state:
#   printf %s "$OPENAI_API_KEY" | gcloud secrets versions add openai-api-key --data-file=-
# A function lists the variables it needs in `secrets` (functions.tf); modules/event_function
# mounts them and grants its service account secretAccessor on exactly those secrets. Add a
# version before giving a function a secret: a revision whose secret has none cannot start.

locals {
  # Environment variable the SDKs read -> secret id.
  secrets = {
    OPENAI_API_KEY = "openai-api-key"
    GEMINI_API_KEY = "gemini-api-key"
    HF_TOKEN       = "hf-token"
  }
}

resource "google_secret_manager_secret" "api" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

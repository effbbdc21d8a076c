# API keys live in Secret Manager, one secret per key, and are opt-in: var.api_keys lists the
# keys whose secret exists and has a version. A function mounts the keys it uses
# (`secrets`, functions.tf) that are listed; an unlisted key is simply absent and the
# function answers offline. So a fresh project deploys with api_keys = [] and no secret at
# all: a key without a version is simply not listed, and never blocks a deploy.
#
# Terraform never creates a secret nor sees a value: whoever holds the key creates the
# secret and its version, then lists the key. In that order no revision can mount a secret
# without a version, and removing a key from api_keys unmounts it without deleting it.
#
#   1. Create the secret with the key as its first version (once per key):
#        gcloud secrets create openai-api-key --replication-policy=automatic
#        printf %s "$OPENAI_API_KEY" | gcloud secrets versions add openai-api-key --data-file=-
#   2. Add the key to api_keys (cloudbuild.yaml: _API_KEYS='["OPENAI_API_KEY"]') and deploy.
#      The plan reads the secret's latest version (its metadata only: fetch_secret_data is
#      off, so the value stays out of the state) and fails if the secret or its version is
#      missing: before anything is applied (or, in the apply that enables an API, before
#      any function is deployed). The functions mount that version number.
#   3. To rotate: add a version (step 1's second command), then deploy: the plan picks the
#      new version number and the functions roll to a revision reading it. Disable the old
#      version only after that deploy.
#
# Secret ids: local.secrets. modules/event_function grants each function's service account
# secretAccessor on exactly the secrets it mounts.

locals {
  # Environment variable the SDKs read -> secret id.
  secrets = {
    OPENAI_API_KEY = "openai-api-key"
    GEMINI_API_KEY = "gemini-api-key"
    HF_TOKEN       = "hf-token"
  }

  # The keys that are read: listed in var.api_keys (their secret has a version).
  api_key_secrets = { for env, secret in local.secrets : env => secret if contains(var.api_keys, env) }
}

data "google_secret_manager_secret_version" "api" {
  for_each = local.api_key_secrets

  project           = var.project_id
  secret            = each.value
  fetch_secret_data = false

  depends_on = [google_project_service.enabled]
}

# Terraform used to create all three secrets (empty). They stay in the project, with any
# version added since, and are no longer terraform's: list the keys that have a version in
# api_keys on the first deploy after this change, or the functions stop mounting them.
removed {
  from = google_secret_manager_secret.api

  lifecycle {
    destroy = false
  }
}

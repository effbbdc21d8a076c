# API keys live in Secret Manager, one secret per key, and are opt-in: var.api_keys lists the
# keys whose secret exists and has a version. A function mounts the keys it uses
# (`secrets`, functions.tf) that are listed; an unlisted key is simply absent and the
# function answers offline. So a fresh project deploys with api_keys = [] and no secret at
# all: a key without a version is simply not listed, and never blocks a deploy. ClipCafe has
# no offline answer: without CLIPCAFE_API_KEY, discover_search (and discover_fetch, when a
# download link must be refreshed) fails each message of a ClipCafe run, which ends in its
# dead-letter topic, to be replayed once the key is listed (`vidcurate dlq replay`).
#
# The web app's admin API (POST /v3/admin/..., shared/web/words_api.py) takes bearer tokens
# from VIDCURATE_DISCOVERY_API_TOKENS, a JSON list of strings: the secret
# discovery-api-tokens holds that list as one version (["token-1","token-2"]), listed in
# api_keys like a key, and only the web service mounts it (web.tf). Without it no token is
# accepted: the admin API answers 401 to every call, and the rest of the app is unchanged.
#
# Terraform never creates a secret nor sees a value: whoever holds the key creates the
# secret and its version, then lists the key. In that order no revision can mount a secret
# without a version, and removing a key from api_keys unmounts it without deleting it.
#
#   1. Create the secret with the key as its first version (once per key):
#        gcloud secrets create openai-api-key --replication-policy=automatic
#        printf %s "$OPENAI_API_KEY" | gcloud secrets versions add openai-api-key --data-file=-
#      The admin API's tokens, as a JSON list:
#        gcloud secrets create discovery-api-tokens --replication-policy=automatic
#        printf '["%s"]' "$(openssl rand -hex 32)" | gcloud secrets versions add discovery-api-tokens --data-file=-
#   2. Add the key to api_keys (cloudbuild.yaml: _API_KEYS='["OPENAI_API_KEY"]') and deploy.
#      The plan reads the secret's latest version (its metadata only: fetch_secret_data is
#      off, so the value stays out of the state) and fails if the secret or its version is
#      missing: before anything is applied (or, in the apply that enables an API, before
#      any function is deployed). The functions mount that version number.
#   3. To rotate: add a version (step 1's second command), then deploy: the plan picks the
#      new version number and the functions (and the web service) roll to a revision
#      reading it. Disable the old version only after that deploy. A token is rotated
#      without refusing its callers by a version listing the old and the new token, then
#      one with the new token only.
#
# The web service mounts, the same way, the tokens and analyze_frames' model keys
# (OPENAI_API_KEY, GEMINI_API_KEY) that are listed: the clip explorer's cost estimate names
# the provider analyze_frames would answer with, which depends on the keys (web.tf).
#
# Secret ids: local.secrets. modules/event_function grants each function's service account
# secretAccessor on exactly the secrets it mounts; web.tf grants the web service account
# secretAccessor on exactly the secrets it mounts (local.web_secrets).

locals {
  # Environment variable the SDKs (or the settings) read -> secret id.
  secrets = {
    OPENAI_API_KEY                 = "openai-api-key"
    GEMINI_API_KEY                 = "gemini-api-key"
    HF_TOKEN                       = "hf-token"
    CLIPCAFE_API_KEY               = "clipcafe-api-key"
    VIDCURATE_DISCOVERY_API_TOKENS = "discovery-api-tokens"
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

# The document store (Settings.firestore_database): item status, idempotency claims, cost
# ledger. Native mode, point-in-time recovery, protected from deletion.

resource "google_firestore_database" "this" {
  project     = var.project_id
  name        = var.firestore_database
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"

  # Server client libraries lock what a transaction reads: claims under contention queue
  # instead of retrying each other out.
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# Indexes: three composite indexes to declare (word_to_video, clips by metadata, and
# trainsets by status, below). Every other query of the code (shared/adapters/gcp/firestore.py
# queries one collection, never a collection group; a count query uses the indexes its query
# would) is served by the single-field indexes Firestore keeps automatically for each field at
# collection scope (ascending, descending and array-contains):
#   caption_configs/<config>/tasks          task == and status ==; has_edge_cases == (counts)
#   caption_configs/<config>/video_sources  list_id ==
#   quarantine                              config_type ==
#   exports                                 order by folder desc (limit); state == writing
#   hub_uploads                             reads by document id only
#   critique_runs                           read by document id; order by planned_at desc
#                                           (limit: the status page's latest runs,
#                                           shared/ops/status.py); request.max_cost_usd > 0
#                                           (limit: the costs page's budget caps,
#                                           shared/ops/costs.py)
#   critique_runs/<folder>/items            status in [pending, running, deferred, failed]
#                                           limit 1 (anything open?); critique_type == and
#                                           status == (counts); status == failed (limit: the
#                                           status page's failed items); iterated in id order
#   critique_runs/<folder>/consolidations   reads by document id only (transactions)
#   critique_results                        reads by document id only (batched, by item key)
#   model_calls                             labels.run == (a run's costs): labels.run's own
#                                           index, below
#   model_spend_days                        day >= (the spend since a day); iterated
#   model_spend_hours                       hour >= (requests per minute, the last hour)
#   delivery_failures                       read by document id; fingerprint == and
#                                           function == (a dead letter Pub/Sub forwarded)
#   discovery_runs                          read by document id; order by created_at desc
#                                           (limit 1: the latest run; limit: the discovery
#                                           page's latest runs, shared/discovery/overview.py);
#                                           max_cost_usd > 0 (limit: the costs page's caps)
#   discovery_runs/<run>/words              reads by document id; iterated in id order;
#                                           status == (counts: the discovery page)
#   discovery_runs/<run>/clips              reads by document id; iterated in id order
#   words                                   bundles array-contains (a bundle's words)
#   bundles                                 read by document id; listed in id order (limit:
#                                           the discovery page)
#   videos, rate_gates                      reads by document id only
#   discovery_scores, discovery_transcripts,
#   discovery_reviews                       reads by document id only (cached answers)
#   word_to_video                           word == and language ==, order by
#                                           relevance_score desc: a composite index, below;
#                                           relevance_score >= and < (or <=) (counts by tenth
#                                           of the score: the discovery page's histogram)
#   clips                                   name >= prefix and < prefix + \uf8ff, name >
#                                           cursor, order by name (the clip explorer's pages,
#                                           shared/media/api.py); status == (sampled clips,
#                                           failed ones; counts: the status page); with
#                                           metadata.<field> == value: a composite index per
#                                           field, below
#   frame_analyses                          clip == (a clip's analyses); clip in [at most 30
#                                           names] (a page's summaries, shared/vision/api.py);
#                                           status == (counts: the status page)
#   dataset_shards                          read by document id; status == (counts, and
#                                           limit: the status page's failed and pulling shards)
#   trainsets                               read by document id; order by set_id, with
#                                           set_id > cursor (the image-sets page's pages,
#                                           shared/trainsets/api.py set_page); with status ==:
#                                           a composite index, below; status == (counts by
#                                           status); status == and balanced == (a count)
#   trainsets/<set>/changes                 order by id desc (limit: a set's page); operation
#                                           == (a rollback, shared/trainsets/execute.py)
#   learning_rounds                         read by document id; order by round desc (limit:
#                                           the rounds page, shared/learning/roundviews.py);
#                                           status == done (the next round's number)
#   annotators                              token_sha256 == and email == (limit 1)
#   labels                                  annotator == (an annotator's labels)
# Equality filters on several fields are answered by merging those single-field indexes, and
# a single-field order needs nothing more; a composite index (google_firestore_index) is only
# required for a range or inequality filter, or an order, combined with filters on other
# fields. A collection-group query (collection_group("tasks")) would need collection-group
# scope single-field indexes (google_firestore_field); add them here if one is introduced.

# A word's clips, most relevant first (shared/discovery/store.py videos_for_word, behind
# GET /v3/words/<word>/videos): equality on word and language, ordered by relevance_score.
# Firestore appends __name__ in the last field's direction itself, which the provider does
# not report as a change. An index cannot be changed in place: a change of fields replaces
# this one, and the query fails with FAILED_PRECONDITION until the new one is built.
resource "google_firestore_index" "word_to_video_by_relevance" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "word_to_video"
  query_scope = "COLLECTION"

  fields {
    field_path = "word"
    order      = "ASCENDING"
  }

  fields {
    field_path = "language"
    order      = "ASCENDING"
  }

  fields {
    field_path = "relevance_score"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_database.this]
}

# The clip explorer's search by metadata (shared/media/api.py clip_page, behind /clips and
# /api/clips of the web app): metadata.<field> == value with the name prefix's range and the
# page's cursor (name >= / < / >), ordered by name. An equality on one field ordered by another
# needs a composite index, one per field searched: var.explorer_metadata_fields (the field is
# the user's choice; Firestore refuses a search by a field not listed with
# FAILED_PRECONDITION). The name range alone (no metadata field) is served by name's
# single-field index. Not gated on the web app's image: `vidcurate web` run on a laptop
# against this project searches with the same indexes, and a new deployment finds them built.
# Each index adds a write per clip document written.
resource "google_firestore_index" "clips_by_metadata" {
  for_each = toset(var.explorer_metadata_fields)

  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "clips"
  query_scope = "COLLECTION"

  fields {
    field_path = "metadata.${each.key}"
    order      = "ASCENDING"
  }

  fields {
    field_path = "name"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.this]
}

# The image-sets page filtered by status (shared/trainsets/api.py set_page, behind /sets and
# /api/sets of the web app): status == s, after the page's cursor (set_id > cursor), ordered by
# set_id. An equality on one field ordered by another needs a composite index, (status,
# set_id) ascending; the same index serves the first page (no cursor). The unfiltered pages
# (set_id's range and order alone) are served by set_id's single-field index, and the counts
# by status (status ==; status == and balanced ==: equalities only) by merging single-field
# ones. Not gated on the web app's image, like the explorer's: `vidcurate web` on a laptop
# against this project pages with it too. Each index adds a write per set document written.
resource "google_firestore_index" "trainsets_by_status" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = "trainsets"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "set_id"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.this]
}

# Single-field index exemptions for the (video, task) documents, caption_configs/<config>/
# tasks/<video>~<task> (collection group "tasks", every config). Firestore indexes every
# field, and every element of arrays and maps, of every document by default; these fields
# are never filtered or ordered on (queries filter on task, status and has_edge_cases only):
#   files, history, transitions, edge_cases, quarantined_files
#       large, nested values: each write would update an index entry per nested value
#       (write cost and latency, the 40,000 index entries per document limit)
#   updated_at
#       a server timestamp, monotonically increasing: an index on it concentrates the
#       writes of a batch on one tablet (sequential index hotspot, ~500 writes/s)
# An empty index_config removes every single-field index of the field (collection and
# collection-group scope, ascending, descending, array-contains); ttl_config is left out,
# so no TTL policy. video_sources documents are small and need no exemption. Before
# filtering or ordering on one of these fields, remove it from this list.
locals {
  tasks_collection_group = "tasks"
  tasks_unindexed_fields = ["files", "history", "transitions", "edge_cases", "quarantined_files", "updated_at"]
}

resource "google_firestore_field" "tasks_unindexed" {
  for_each = toset(local.tasks_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.tasks_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

# Single-field index exemptions for the critique items, critique_runs/<folder>/items/
# <video~task~type> (collection group "items", every run), in the same way. Queries filter on
# status and critique_type only (shared/critiques/store.py: anything open, counts by type
# and status); these fields are only read, by document id or by iterating a run:
#   inputs, record, critique_step
#       large, nested values: the caption and feedback; the critique and its revision; a
#       paid critique kept for the retry of its revision
#   video_url, key
#       long strings, read with the document (an item's key is compared in a transaction)
#   updated_at, lease_until
#       timestamps written as items are planned and finish: sequential index hotspots
# Before filtering or ordering on one of these fields, remove it from this list.
locals {
  critique_items_collection_group = "items"
  critique_items_unindexed_fields = ["inputs", "record", "critique_step", "updated_at", "lease_until", "video_url", "key"]
}

resource "google_firestore_field" "critique_items_unindexed" {
  for_each = toset(local.critique_items_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.critique_items_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

# Single-field index exemptions for the stored results, critique_results/<item key> (one per
# successful item, reused by later runs with the same key). Only read by document id:
#   record
#       a nested value: the critique and its revision
#   stored_at
#       a server timestamp: a sequential index hotspot as workers finish
# Before filtering or ordering on one of these fields, remove it from this list.
locals {
  critique_results_collection_group = "critique_results"
  critique_results_unindexed_fields = ["record", "stored_at"]
}

resource "google_firestore_field" "critique_results_unindexed" {
  for_each = toset(local.critique_results_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.critique_results_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

# Single-field index exemptions for the cost ledger, model_calls/<call id> (one document per
# billed model call, written side by side by every worker). The ledger is only queried by
# run (shared/llm/ledger.py summarize_costs: labels.run ==, its own index below); these
# fields are never filtered or ordered on:
#   labels
#       a map: every key would get its own index entries (labels.run excepted, below)
#   error
#       a long string (up to 500 characters), on the answers billed but not used
#   recorded_at
#       a server timestamp, monotonically increasing: a sequential index hotspot when many
#       workers record their calls at once
# Before filtering or ordering on one of these fields, remove it from this list.
locals {
  model_calls_collection_group = "model_calls"
  model_calls_unindexed_fields = ["labels", "error", "recorded_at"]
}

resource "google_firestore_field" "model_calls_unindexed" {
  for_each = toset(local.model_calls_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.model_calls_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

# A run's costs (shared/llm/ledger.py summarize_costs with a run: a discovery run's status, a
# frame analysis's report) query the ledger with labels.run == run. The exemption of labels
# above covers its subfields too, and Firestore refuses a filter on a field without an index
# (FAILED_PRECONDITION): this override gives labels.run back an ascending index at collection
# scope (what an equality on one collection needs; query_scope's default, spelled out), and
# no other; labels' other keys stay unindexed. Before dropping the query by run, remove it.
resource "google_firestore_field" "model_calls_run_label" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.model_calls_collection_group
  field      = "labels.run"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
  }

  depends_on = [google_firestore_database.this]
}

# Single-field index exemptions for the day totals of the ledger, model_spend_days/<day>-
# <shard> (shared/llm/ledger.py record_call adds each call to one of SPEND_SHARDS documents of
# its day with Increment transforms, in the batch that writes its ledger entry). Queried on
# day only (spend_report: day >= since), so day stays indexed; these maps are only read with
# the document:
#   total
#       the day's counters (calls, tokens, dollars, unused calls)
#   by_model, by_kind, by_run
#       maps of counters keyed by model, kind and run id: every key would get its own index
#       entries, each updated at every increment (write cost and latency on the documents
#       every worker writes)
# Before filtering or ordering on one of these fields, remove it from this list.
locals {
  model_spend_days_collection_group = "model_spend_days"
  model_spend_days_unindexed_fields = ["total", "by_model", "by_kind", "by_run"]
}

resource "google_firestore_field" "model_spend_days_unindexed" {
  for_each = toset(local.model_spend_days_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.model_spend_days_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

# Single-field index exemptions for the hour totals of the ledger, model_spend_hours/
# <day>T<hour>-<shard> (written beside the day totals, in the same way). Queried on hour only
# (recent_requests: hour >= the window's first hour), so hour stays indexed:
#   minutes
#       minute -> model -> counters: up to 60 minutes of models, each key its own index
#       entries, updated at every call
# Before filtering or ordering on one of these fields, remove it from this list.
locals {
  model_spend_hours_collection_group = "model_spend_hours"
  model_spend_hours_unindexed_fields = ["minutes"]
}

resource "google_firestore_field" "model_spend_hours_unindexed" {
  for_each = toset(local.model_spend_hours_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.model_spend_hours_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

# The entry point's record of each message's failures, delivery_failures/<function>-<message
# id> (shared/platform/deliveries.py): read by document id, or by fingerprint and function
# (`vidcurate dlq` matching a dead letter Pub/Sub forwarded without its id), so those two
# stay indexed. Exempt, in the same way as above:
#   error
#       up to 10,000 characters of the last exception
#   first_failed_at, last_failed_at
#       timestamps written as deliveries fail: sequential index hotspots under a burst of
#       failures
# Before filtering or ordering on one of these fields, remove it from this list.
locals {
  delivery_failures_collection_group = "delivery_failures"
  delivery_failures_unindexed_fields = ["error", "first_failed_at", "last_failed_at"]
}

resource "google_firestore_field" "delivery_failures_unindexed" {
  for_each = toset(local.delivery_failures_unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.delivery_failures_collection_group
  field      = each.key

  index_config {}

  depends_on = [google_firestore_database.this]
}

# A record outlives the message it describes (retention, 31 days at most, plus the dead-letter
# hold) by its expire_at; Firestore's TTL policy then deletes it, typically within a day, at
# no write cost to the functions. expire_at is exempt from indexing too: a TTL timestamp is
# never queried, and indexing it would be a sequential hotspot like the ones above.
resource "google_firestore_field" "delivery_failures_expiry" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.delivery_failures_collection_group
  field      = "expire_at"

  index_config {}
  ttl_config {}

  depends_on = [google_firestore_database.this]
}

"""The terraform deploys what the catalogue and the settings describe, with the retry contract.

terraform cannot plan offline (no provider), so these tests read the configuration itself
with python-hcl2 (v8 keeps the quotes around labels and string literals).
"""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import pytest
from firestore_queries import (
    exempt_fields,
    indexed_fields,
    ledger_queries,
    query_calls,
    served_by_single_field_index,
)
from terraform_config import REPO, Resource, by_address, hcl_list, local, resources, variables

from shared.captions.messages import EXPORT_REQUESTS, ExportRequest
from shared.captions.settings import DEFAULT_TASK_SETS, NAME_PATTERN
from shared.captions.slots import new_task_document
from shared.captions.store import tasks_collection
from shared.catalog import FUNCTIONS
from shared.config import Settings
from shared.critiques.messages import CONSOLIDATIONS, JOBS, REQUESTS
from shared.critiques.store import RESULTS, items_collection
from shared.critiques.types import CRITIQUE_TYPES
from shared.discovery.messages import CANDIDATES, FETCHES, REVIEWS
from shared.llm.ledger import MODEL_CALLS, SPEND_DAYS, SPEND_HOURS
from shared.llm.settings import DEFAULT_MODEL_LIMITS, DEFAULT_MODEL_PRICES, ModelLimit, ModelPrice
from shared.platform.deliveries import DELIVERY_FAILURES
from shared.platform.runtime.catalog import (
    StorageEventType,
    StorageTrigger,
    TopicTrigger,
    storage_topic,
)
from shared.platform.settings import BUCKET_ROLES, VERSIONS_NOT_KEPT
from shared.publishing.messages import HUB_UPLOAD_REQUESTS


def delivery(burst: int, seconds: int, attempts: int, retention_days: int = 7) -> dict[str, int]:
    return {
        "expected_burst": burst,
        "seconds_per_message": seconds,
        "max_delivery_attempts": attempts,
        "retention_days": retention_days,
    }


# What each function may touch (functions.tf): IAM role per bucket role, topics it publishes
# to, secrets it reads, its CPU and service limits other than the defaults, and the burst its
# subscription absorbs (test_terraform_empty_project.py checks the numbers against
# shared/platform/backpressure.py). Least privilege: a change here is a change of what a
# function can do, and should be deliberate.
ACCESS: dict[str, dict[str, Any]] = {
    "ping": {"available_cpu": "1", "delivery": delivery(1000, 1, 20)},
    "ingest_feedback": {
        "buckets": {"annotations": "roles/storage.objectViewer"},
        # A video list of ~100k lines is registered in batches within one invocation.
        "timeout_seconds": 540,
        "available_memory": "1Gi",
        "available_cpu": "1",
        # A bulk annotation upload.
        "delivery": delivery(100_000, 2, 27),
    },
    "export_snapshot": {
        # objectUser, not objectCreator: a redelivery replaces its own files (needs delete).
        "buckets": {"exports": "roles/storage.objectUser"},
        "publishes": [HUB_UPLOAD_REQUESTS.name],
        "timeout_seconds": 540,
        "available_memory": "1Gi",
        "available_cpu": "1",
        "delivery": delivery(100, 300, 17),
    },
    "hub_upload": {
        "buckets": {"exports": "roles/storage.objectViewer"},
        "secrets": ["HF_TOKEN"],
        "timeout_seconds": 540,
        "available_cpu": "1",
        "delivery": delivery(100, 300, 17),
    },
    "critique_fanout": {
        # Reads the export; the API keys say which provider answers (part of item keys).
        "buckets": {"exports": "roles/storage.objectViewer"},
        # A plan with nothing left to generate asks for its consolidation at once.
        "publishes": [JOBS.name, CONSOLIDATIONS.name],
        "secrets": ["OPENAI_API_KEY", "GEMINI_API_KEY"],
        # Plans of ~350k items.
        "timeout_seconds": 540,
        "available_memory": "1Gi",
        "available_cpu": "1",
        "delivery": delivery(100, 300, 17),
    },
    "critique_worker": {
        # objectUser: writes (and, on a regeneration, overwrites) output_critiques/...;
        # objectViewer on videos: the video critique reads clips. It only asks for the
        # consolidation: no Hub upload of its own.
        "buckets": {"exports": "roles/storage.objectUser", "videos": "roles/storage.objectViewer"},
        "publishes": [CONSOLIDATIONS.name],
        "secrets": ["OPENAI_API_KEY", "GEMINI_API_KEY"],
        "timeout_seconds": 540,
        "max_instance_count": "${var.critique_worker_max_instances}",
        "available_cpu": "1",
        # A critique fan-out: ~350k items, 12.2 days to drain from 20 workers.
        "delivery": delivery(350_000, 30, 29, retention_days=14),
    },
    "critique_consolidate": {
        # objectUser: reads the export, writes the consolidated file, which a later plan's
        # consolidation overwrites. No model call: no API keys. Runs of ~350k items are held
        # in memory at once; one message per finished plan, so few instances.
        "buckets": {"exports": "roles/storage.objectUser"},
        "publishes": [HUB_UPLOAD_REQUESTS.name],
        "timeout_seconds": 540,
        "available_memory": "4Gi",
        "available_cpu": "2",
        "max_instance_count": 2,
        "delivery": delivery(100, 300, 17),
    },
    "echo_object": {"available_cpu": "1", "delivery": delivery(100_000, 1, 27)},
    "analyze_frames": {
        # Reads the frames it describes; the API keys for the vision models.
        "buckets": {"frames": "roles/storage.objectViewer"},
        "secrets": ["OPENAI_API_KEY", "GEMINI_API_KEY"],
        "timeout_seconds": 540,
        "max_instance_count": "${var.critique_worker_max_instances}",
        "available_cpu": "1",
        "delivery": delivery(10_000, 30, 24),
    },
    "register_set_image": {
        # Rewrites the set's manifest under a generation precondition.
        "buckets": {"sets": "roles/storage.objectUser"},
        "available_cpu": "1",
        "delivery": delivery(20_000, 1, 25),
    },
    "evaluate_set": {
        # Reads sets and, executing a plan, deletes and writes images and the manifest;
        # overwrites its sheets and evaluation, keeps the trash (objectUser on both).
        "buckets": {
            "sets": "roles/storage.objectUser",
            "evaluations": "roles/storage.objectUser",
        },
        "secrets": ["OPENAI_API_KEY", "GEMINI_API_KEY"],
        "timeout_seconds": 540,
        "available_memory": "2Gi",
        "available_cpu": "1",
        "max_instance_count": "${var.critique_worker_max_instances}",
        "delivery": delivery(10_000, 20, 24),
    },
    "pull_dataset_shard": {
        # Writes clips and sidecars; replaces a changed sample under a precondition.
        "buckets": {"videos": "roles/storage.objectUser"},
        "secrets": ["HF_TOKEN"],
        "timeout_seconds": 540,
        "available_memory": "4Gi",
        "available_cpu": "2",
        "max_instance_count": 4,
        "delivery": delivery(2000, 300, 21),
    },
    "extract_frames": {
        # Streams the clip in ranged reads; overwrites (redelivery, replaced clip) and
        # deletes (a replaced clip's stale frames) frames: objectUser on frames.
        "buckets": {"videos": "roles/storage.objectViewer", "frames": "roles/storage.objectUser"},
        "timeout_seconds": 540,
        "available_memory": "2Gi",
        "available_cpu": "2",
        "delivery": delivery(100_000, 20, 27),
    },
    # Word discovery: the clip source's gate (10 searches a minute for the account) paces
    # searches and link refreshes; test_terraform_discovery.py checks the caps against it.
    "discover_search": {
        # Replaces a word's cached search answer with a longer one (objectUser).
        "buckets": {"discovery": "roles/storage.objectUser"},
        "publishes": [CANDIDATES.name],
        "secrets": ["CLIPCAFE_API_KEY"],
        # Ten pages, each waiting its turn at the gate.
        "timeout_seconds": 600,
        "available_cpu": "1",
        "max_instance_count": 4,
        # One message per word of a run: the 4,889-word vocabulary.
        "delivery": delivery(5000, 60, 23),
    },
    "discover_score": {
        # Reads the run's vocabulary; the candidate model.
        "buckets": {"discovery": "roles/storage.objectViewer"},
        "publishes": [FETCHES.name],
        "secrets": ["OPENAI_API_KEY", "GEMINI_API_KEY"],
        "timeout_seconds": 540,
        "available_cpu": "1",
        "max_instance_count": "${var.critique_worker_max_instances}",
        # Up to 100 clips per word of a whole run.
        "delivery": delivery(500_000, 10, 29),
    },
    "discover_fetch": {
        # Creates and reads scratch/ copies, keeps renewed links in the word's search answer;
        # transcription (OpenAI); link refreshes search ClipCafe again, one per word. Decodes
        # audio from clips of up to 200 MiB.
        "buckets": {"discovery": "roles/storage.objectUser"},
        "publishes": [REVIEWS.name],
        "secrets": ["OPENAI_API_KEY", "CLIPCAFE_API_KEY"],
        "timeout_seconds": 540,
        "available_memory": "2Gi",
        "available_cpu": "2",
        # A model worker (transcription), capped as the others.
        "max_instance_count": "${var.critique_worker_max_instances}",
        "delivery": delivery(100_000, 30, 27),
    },
    "discover_review": {
        # Reads scratch/, stores videos/, deletes the scratch copy; the final model. The end
        # of the pipeline: no topic.
        "buckets": {"discovery": "roles/storage.objectUser"},
        "secrets": ["OPENAI_API_KEY", "GEMINI_API_KEY"],
        "timeout_seconds": 540,
        "available_memory": "1Gi",
        "available_cpu": "1",
        "max_instance_count": "${var.critique_worker_max_instances}",
        "delivery": delivery(100_000, 20, 27),
    },
}
ACCESS_KEYS = (
    "buckets",
    "publishes",
    "secrets",
    "timeout_seconds",
    "available_memory",
    "available_cpu",
    "max_instance_count",
    "delivery",
)
PUBSUB_FILTER_MAX_BYTES = 256


@pytest.fixture(scope="module")
def all_resources(root, module) -> list[Resource]:
    return [*resources(root, "terraform"), *resources(module, "modules/event_function")]


def function_folders() -> set[str]:
    return {path.parent.name for path in (REPO / "functions").glob("*/main.py")}


def test_every_function_folder_has_a_terraform_definition_and_vice_versa(root):
    catalog = local(root, "function_catalog")

    assert set(catalog) == function_folders()
    assert set(catalog) == {spec.name for spec in FUNCTIONS}


def test_triggers_match_the_catalogue(root):
    catalog = local(root, "function_catalog")

    for spec in FUNCTIONS:
        trigger = catalog[spec.name]["trigger"]
        if isinstance(spec.trigger, TopicTrigger):
            assert trigger == {"topic": spec.trigger.topic}, spec.name
        else:
            assert isinstance(spec.trigger, StorageTrigger)
            assert set(trigger) <= {"bucket", "events"}, spec.name
            assert trigger["bucket"] == spec.trigger.bucket, spec.name


def default_storage_events(root) -> list[str]:
    """The event types of a storage trigger without `events` (local.functions)."""
    expression = local(root, "functions")
    match = re.search(r"trigger_events = (.*?),\s*source_topic =", expression)
    assert match, "local.functions no longer derives trigger_events"
    assert match[1].startswith("try(spec.trigger.bucket, null) == null ? null : "), match[1]
    (default,) = re.findall(r"tolist\(try\(spec\.trigger\.events, (\[.*?\])\)\)", match[1])
    return json.loads(default)


def terraform_events(root) -> dict[str, list[str]]:
    """Storage-triggered function -> the event types terraform gives it."""
    default = default_storage_events(root)
    return {
        name: entry["trigger"].get("events", default)
        for name, entry in local(root, "function_catalog").items()
        if "bucket" in entry["trigger"]
    }


def storage_specs() -> list[Any]:
    return [spec for spec in FUNCTIONS if isinstance(spec.trigger, StorageTrigger)]


def test_storage_event_types_match_the_catalogue(root):
    events = terraform_events(root)

    assert default_storage_events(root) == ["OBJECT_FINALIZE"]
    assert StorageTrigger(bucket="annotations").events == ("OBJECT_FINALIZE",)
    assert set(events) == {spec.name for spec in storage_specs()}
    for spec in storage_specs():
        assert isinstance(spec.trigger, StorageTrigger)
        assert len(set(events[spec.name])) == len(events[spec.name]), spec.name
        assert set(events[spec.name]) == set(spec.trigger.events), spec.name
    for name, entry in local(root, "function_catalog").items():
        assert "events" not in entry["trigger"] or "bucket" in entry["trigger"], name


def test_each_notification_carries_the_union_of_its_functions_event_types(root):
    (notification,) = [
        r for r in resources(root, "terraform") if r.type == "google_storage_notification"
    ]
    union = local(root, "notification_event_types")

    assert notification.body["for_each"] == "${local.watched_buckets}"
    assert notification.body["event_types"] == "${local.notification_event_types[each.key]}"
    # bucket role -> sorted union of trigger_events of the functions it triggers
    assert union == (
        "${{for role in local.watched_buckets : role => sort(distinct(flatten(["
        "for f in local.functions : f.trigger_events if f.trigger_bucket == role])))}}"
    )
    expected: dict[str, set[str]] = {}
    for spec in storage_specs():
        assert isinstance(spec.trigger, StorageTrigger)
        expected.setdefault(spec.trigger.bucket, set()).update(spec.trigger.events)
    # Versioned data buckets: a delete of a live object arrives as OBJECT_ARCHIVE.
    assert expected["annotations"] == {"OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE"}
    events = terraform_events(root)
    catalog = local(root, "function_catalog")
    for bucket, types in expected.items():
        assert {
            event
            for name, listed in events.items()
            if catalog[name]["trigger"]["bucket"] == bucket
            for event in listed
        } == types, bucket


def render_subscription_filter(bucket: str, events: list[str]) -> str:
    """What modules/event_function's `subscription_filter` renders for a storage trigger."""
    clauses = [f'attributes.eventType = "{event}"' for event in sorted(set(events))]
    types = clauses[0] if len(clauses) == 1 else f"({' OR '.join(clauses)})"
    return f'{types} AND attributes.bucketId = "{bucket}"'


def test_storage_subscriptions_filter_on_exactly_their_event_types(root, module):
    """The push subscription of a storage function only receives its event types."""
    (calls,) = [entry["function"] for entry in root["module"] if "function" in entry]
    by_name = {r.name: r for r in resources(module, "module")}
    (trigger_variable,) = [v["trigger"] for v in module["variable"] if "trigger" in v]

    # root -> module: the bucket and the event types of the catalogue entry
    assert calls["trigger"]["storage_events"] == "${each.value.trigger_events}"
    declared = trigger_variable["type"]
    assert 'storage_events = optional(list(string), ["OBJECT_FINALIZE"])' in declared
    assert "storage_events" in trigger_variable["description"]
    # module: the subscription's filter, built as render_subscription_filter does
    assert by_name["delivery"].body["filter"] == "${local.subscription_filter}"
    assert local(module, "storage_event_filters") == (
        "${[for event in sort(distinct(var.trigger.storage_events)) : "
        '"attributes.eventType = \\"${event}\\""]}'
    )
    assert local(module, "subscription_filter") == (
        "${(var.trigger.storage_bucket == null ? null : format("
        '"%s AND attributes.bucketId = \\"%s\\"", '
        "length(local.storage_event_filters) == 1 ? local.storage_event_filters[0] : "
        '"(${join(" OR ", local.storage_event_filters)})", var.trigger.storage_bucket))}'
    )

    # Longest bucket: a 41-character prefix (variables.tf) and the longest role.
    longest_bucket = "p" * 41 + "-" + max(BUCKET_ROLES, key=len)
    for name, events in terraform_events(root).items():
        rendered = render_subscription_filter(longest_bucket, events)
        spec = next(spec for spec in FUNCTIONS if spec.name == name)
        assert isinstance(spec.trigger, StorageTrigger)
        assert set(re.findall(r'attributes\.eventType = "([A-Z_]+)"', rendered)) == set(
            spec.trigger.events
        ), name
        assert len(rendered.encode()) <= PUBSUB_FILTER_MAX_BYTES, rendered
    # A single type renders without parentheses: echo_object's filter did not change.
    assert render_subscription_filter("b", ["OBJECT_FINALIZE"]) == (
        'attributes.eventType = "OBJECT_FINALIZE" AND attributes.bucketId = "b"'
    )


def test_the_module_accepts_every_catalogue_event_type(module):
    (trigger_variable,) = [v["trigger"] for v in module["variable"] if "trigger" in v]
    (validation,) = trigger_variable["validation"]

    for event in get_args(StorageEventType):
        assert f'"{event}"' in validation["condition"], event


def test_functions_touch_exactly_what_they_need(root):
    catalog = local(root, "function_catalog")
    secrets = local(root, "secrets")
    consumed = {
        entry["trigger"]["topic"] for entry in catalog.values() if "topic" in entry["trigger"]
    }

    assert set(catalog) == set(ACCESS)
    for name, entry in catalog.items():
        declared = {key: entry[key] for key in ACCESS_KEYS if key in entry}
        assert declared == ACCESS[name], name
        assert set(declared.get("buckets", {})) <= set(BUCKET_ROLES), name
        assert set(declared.get("secrets", [])) <= set(secrets), name
        # A topic nobody subscribes to loses its messages.
        assert set(declared.get("publishes", [])) <= consumed, name
    assert catalog["export_snapshot"]["trigger"] == {"topic": EXPORT_REQUESTS.name}
    assert catalog["hub_upload"]["trigger"] == {"topic": HUB_UPLOAD_REQUESTS.name}
    assert catalog["critique_fanout"]["trigger"] == {"topic": REQUESTS.name}
    assert catalog["critique_worker"]["trigger"] == {"topic": JOBS.name}
    assert catalog["critique_consolidate"]["trigger"] == {"topic": CONSOLIDATIONS.name}


def terraform_instance_cap(root, name: str) -> int | str:
    """The max_instance_count terraform deploys ``name`` with: a literal, or the expression
    (``${var...}``) as written; the module's default when the entry sets none."""
    entry = local(root, "function_catalog")[name]
    if "max_instance_count" in entry:
        return entry["max_instance_count"]
    default = re.search(r"try\(spec\.max_instance_count, (\d+)\)", local(root, "functions"))
    assert default
    return int(default[1])


def test_the_catalogues_instance_caps_are_terraforms(root):
    """A FunctionSpec's max_instances (what the local runtime runs at once) is the deployed
    cap: the same whole number, written as a literal, since a variable could be set to
    anything else at deploy time."""
    capped = {spec.name: spec.max_instances for spec in FUNCTIONS if spec.max_instances}

    assert capped, "no FunctionSpec sets max_instances: the test no longer sees them"
    for name, cap in capped.items():
        deployed = terraform_instance_cap(root, name)
        assert isinstance(deployed, int), f"{name}: {deployed} is not a literal cap"
        assert deployed == cap, f"{name}: terraform deploys {deployed}, the catalogue {cap}"


def test_critique_worker_concurrency_is_a_variable(root):
    """The worker's instances bound how many model calls run at once."""
    declared = variables(root)["critique_worker_max_instances"]
    functions = local(root, "functions")

    assert "max_instance_count = try(spec.max_instance_count, 10)" in functions
    assert declared["type"] == "number"
    assert declared["default"] == 20
    assert declared["nullable"] is False
    assert "rate limits" in declared["description"]
    assert "concurrency" in declared["description"]
    (rule,) = declared["validation"]
    assert "var.critique_worker_max_instances >= 1" in rule["condition"]


def test_every_catalogued_function_is_deployed_by_the_event_function_module(root):
    (calls,) = [entry["function"] for entry in root["module"] if "function" in entry]

    assert calls["source"] == "./modules/event_function"
    assert calls["for_each"] == "${local.functions}"
    assert calls["name"] == "${each.key}"


def test_delivery_names_match_the_local_runtime(module):
    """Subscription ``<name>``, dead letters ``<name>-dead-letter``, hold ``...-hold``."""
    by_name = {r.name: r for r in resources(module, "module")}
    templates = {
        "subscription": by_name["delivery"].body["name"],
        "dead_letter_topic": by_name["dead_letter"].body["name"],
        "hold_subscription": by_name["dead_letter_hold"].body["name"],
    }

    for spec in FUNCTIONS:
        for attribute, template in templates.items():
            assert template.replace("${var.name}", spec.name) == getattr(spec, attribute)


def test_storage_triggers_read_the_bucket_notification_topic(root):
    template = local(root, "storage_topics")
    (notification,) = [
        r for r in resources(root, "terraform") if r.type == "google_storage_notification"
    ]

    assert '"gcs-notifications-${bucket}"' in template
    assert storage_topic("B") == "gcs-notifications-B"
    assert notification.body["payload_format"] == "JSON_API_V1"
    assert notification.body["topic"] == "${google_pubsub_topic.gcs_notifications[each.key].id}"


def test_every_retried_subscription_has_a_dead_letter_policy(all_resources):
    subscriptions = [r for r in all_resources if r.type == "google_pubsub_subscription"]
    retried = [r for r in subscriptions if r.block("push_config") or r.block("retry_policy")]

    assert retried, "no retried subscription found: the parser no longer sees them"
    for subscription in retried:
        policy = subscription.block("dead_letter_policy")
        where = f"{subscription.where}: {subscription.name}"
        assert policy is not None, f"{where} retries without a dead-letter policy"
        assert policy.get("dead_letter_topic"), where
        assert policy.get("max_delivery_attempts"), where
        assert subscription.block("retry_policy") is not None, f"{where}: no explicit backoff"


def test_no_delivery_goes_through_eventarc(all_resources):
    """Eventarc owns its subscriptions: terraform could not give them a dead-letter topic."""
    functions = [r for r in all_resources if r.type == "google_cloudfunctions2_function"]

    assert functions
    assert not [r for r in all_resources if r.type == "google_eventarc_trigger"]
    for function in functions:
        assert "event_trigger" not in function.body, function.name
        assert function.block("service_config")["ingress_settings"] == "ALLOW_INTERNAL_ONLY"


def test_every_bucket_is_uniform_and_never_public(all_resources):
    buckets = [r for r in all_resources if r.type == "google_storage_bucket"]

    assert buckets
    for bucket in buckets:
        assert bucket.body.get("uniform_bucket_level_access") is True, bucket.name
        assert bucket.body.get("public_access_prevention") == "enforced", bucket.name


def test_bucket_roles_match_the_settings(root):
    expression = local(root, "data_buckets")

    roles = re.findall(r'"([a-z]+)"', expression.split(":")[0])
    assert tuple(roles) == BUCKET_ROLES


def test_replaced_versions_not_kept_match_the_settings(root):
    """The lifecycle rule that deletes replaced resume checkpoints covers what the settings
    (and so the local folders) name, in the buckets they name."""
    kept = local(root, "versions_not_kept")
    data = by_address(root)["google_storage_bucket.data"]
    (rule,) = [
        block["lifecycle_rule"] for block in data.body["dynamic"] if "lifecycle_rule" in block
    ]

    assert {role: tuple(endings) for role, endings in kept.items()} == VERSIONS_NOT_KEPT
    assert set(kept) <= set(BUCKET_ROLES)
    assert rule["for_each"] == (
        "${contains(keys(local.versions_not_kept), each.key) ? "
        "[local.versions_not_kept[each.key]] : []}"
    )
    condition = rule["content"][0]["condition"][0]
    assert {key: value for key, value in condition.items() if not key.startswith("__")} == {
        "with_state": "ARCHIVED",
        "num_newer_versions": 1,
        "matches_suffix": "${lifecycle_rule.value}",
    }
    assert rule["content"][0]["action"][0]["type"] == "Delete"


def test_function_environment_names_are_settings(root):
    expression = local(root, "function_environment")
    fields = set(Settings.model_fields)

    names = re.findall(r"\bVIDCURATE_([A-Z_]+) =", expression)
    assert names
    for name in names:
        assert name.lower() in fields, f"VIDCURATE_{name} is not a Settings field"
    assert '"VIDCURATE_${upper(role)}_BUCKET"' in expression
    assert all(f"{role}_bucket" in fields for role in BUCKET_ROLES)


def test_the_scheduled_export_publishes_a_valid_export_request(root):
    (job,) = [r for r in resources(root, "terraform") if r.type == "google_cloud_scheduler_job"]
    variables = {name: body for entry in root["variable"] for name, body in entry.items()}
    target = job.block("pubsub_target")

    # Off unless a schedule is set.
    assert variables["export_schedule"]["default"] is None
    assert job.body["count"] == "${var.export_schedule == null ? 0 : 1}"
    assert job.body["schedule"] == "${var.export_schedule}"
    assert target["topic_name"] == f'${{google_pubsub_topic.events["{EXPORT_REQUESTS.name}"].id}}'
    assert target["data"] == "${base64encode(local.export_request_body)}"
    assert local(root, "export_request_body") == (
        "${jsonencode({for field, value in var.export_request : field => value if value != null})}"
    )
    # The variable has exactly the request's fields, and its default is a valid request.
    fields = re.findall(r"(\w+) = optional\(", variables["export_request"]["type"])
    assert set(fields) == set(ExportRequest.model_fields)
    default = ExportRequest.model_validate(variables["export_request"]["default"])
    assert default.publish
    assert default.ignore_errors
    assert "cloudscheduler.googleapis.com" in local(root, "apis")


def test_task_sets_and_annotation_limit_reach_the_functions_only_when_set(root, monkeypatch):
    expression = local(root, "function_environment")
    declared = variables(root)

    # Optional settings: absent from the environment (code defaults) unless configured.
    assert (
        "VIDCURATE_TASK_SETS = length(var.task_sets) == 0 ? null : jsonencode(var.task_sets)"
    ) in expression
    assert (
        "VIDCURATE_MAX_ANNOTATION_BYTES = var.max_annotation_bytes == null ? null : "
        "tostring(var.max_annotation_bytes)"
    ) in expression
    assert expression.rstrip("})").endswith("} : env => value if value != null")
    task_sets = declared["task_sets"]
    assert task_sets["type"] == "${map(map(string))}"
    assert task_sets["default"] == {}
    assert task_sets["nullable"] is False
    limit = declared["max_annotation_bytes"]
    assert limit["default"] is None
    assert "number" in limit["type"]

    # The plan-time validation uses the names Settings accepts (a bad value must fail the
    # plan, not every function's cold start).
    pattern = "^" + NAME_PATTERN.pattern + "$"
    conditions = [rule["condition"] for rule in task_sets["validation"]]
    assert sum(f'can(regex("{pattern}", ' in condition for condition in conditions) == 2
    assert any('config_type != "videos"' in condition for condition in conditions)
    assert any('task != "videos"' in condition for condition in conditions)

    # What jsonencode(var.task_sets) renders is what Settings reads from the environment.
    configured = {"shorts": {"subject": "subject_description", "audio": "audio_description"}}
    monkeypatch.setenv("VIDCURATE_TASK_SETS", json.dumps(configured, separators=(",", ":")))
    monkeypatch.setenv("VIDCURATE_MAX_ANNOTATION_BYTES", "262144")
    settings = Settings(_env_file=None)
    assert settings.task_sets == {**DEFAULT_TASK_SETS, **configured}
    assert settings.max_annotation_bytes == 262144


def test_critique_models_and_model_quotas_reach_the_functions_only_when_set(root, monkeypatch):
    expression = local(root, "function_environment")
    declared = variables(root)

    for env, variable in {
        "VIDCURATE_CRITIQUE_MODELS": "critique_models",
        "VIDCURATE_MODEL_LIMITS": "model_limits",
        "VIDCURATE_MODEL_PRICES": "model_prices",
    }.items():
        assert (
            f"{env} = length(var.{variable}) == 0 ? null : jsonencode(var.{variable})"
        ) in expression, env
        assert declared[variable]["default"] == {}, variable
        assert declared[variable]["nullable"] is False, variable
        assert env in declared[variable]["description"], variable
    assert expression.rstrip("})").endswith("} : env => value if value != null")
    assert declared["critique_models"]["type"] == "${map(string)}"
    # The object attributes are the fields Settings reads.
    for variable, model in {"model_limits": ModelLimit, "model_prices": ModelPrice}.items():
        fields = re.findall(r"(\w+) = number", declared[variable]["type"])
        assert declared[variable]["type"].startswith("${map(object({"), variable
        assert set(fields) == set(model.model_fields), variable

    # critique_models keys: exactly the critique types and the revision step.
    (rule,) = declared["critique_models"]["validation"]
    listed = re.search(r"contains\(\[(.*?)\], critique_type\)", rule["condition"])
    assert listed, rule["condition"]
    assert set(json.loads(f"[{listed[1]}]")) == {*CRITIQUE_TYPES, "revision"}

    # What jsonencode renders (whole numbers without a fraction) is what Settings reads,
    # merged over the defaults.
    models = {"video_model_critique": "gemini-2.5-flash", "revision": "gpt-4.1-mini"}
    limits = {"gpt-4.1": {"requests_per_minute": 5000, "tokens_per_minute": 450000}}
    prices = {"my-model": {"input_per_million": 0.5, "output_per_million": 2}}
    for env, value in {
        "VIDCURATE_CRITIQUE_MODELS": models,
        "VIDCURATE_MODEL_LIMITS": limits,
        "VIDCURATE_MODEL_PRICES": prices,
    }.items():
        monkeypatch.setenv(env, json.dumps(value, separators=(",", ":")))
    settings = Settings(_env_file=None)
    assert settings.critique_models == models
    assert settings.model_limits == {
        **DEFAULT_MODEL_LIMITS,
        "gpt-4.1": ModelLimit(requests_per_minute=5000, tokens_per_minute=450000),
    }
    assert settings.model_prices == {
        **DEFAULT_MODEL_PRICES,
        "my-model": ModelPrice(input_per_million=0.5, output_per_million=2.0),
    }


# Fields of the (video, task) documents exempt from single-field indexing (firestore.tf).
UNINDEXED_TASK_FIELDS = {
    "files",
    "history",
    "transitions",
    "edge_cases",
    "quarantined_files",
    "updated_at",
}
# Fields the code filters task documents on (shared/captions/ingest.py): never exempt.
QUERIED_TASK_FIELDS = {"task", "status", "has_edge_cases"}


def firestore_field(root, name: str) -> Resource:
    (field,) = [
        r
        for r in resources(root, "terraform")
        if r.type == "google_firestore_field" and r.name == name
    ]
    return field


def assert_exempt_from_indexing(field: Resource, prefix: str) -> None:
    """``field`` removes every single-field index of ``local.<prefix>_unindexed_fields``."""
    assert field.body["for_each"] == f"${{toset(local.{prefix}_unindexed_fields)}}"
    assert field.body["collection"] == f"${{local.{prefix}_collection_group}}"
    assert field.body["field"] == "${each.key}"
    assert field.body["database"] == "${google_firestore_database.this.name}"
    # An empty index_config disables every single-field index; no TTL policy.
    assert [
        {k: v for k, v in block.items() if k != "__is_block__"}
        for block in field.body["index_config"]
    ] == [{}]
    assert "ttl_config" not in field.body
    assert "${google_firestore_database.this}" in field.body["depends_on"]


def test_every_firestore_field_exemption_is_checked(root):
    fields = {r.name for r in resources(root, "terraform") if r.type == "google_firestore_field"}

    assert fields == {
        "tasks_unindexed",
        "critique_items_unindexed",
        "critique_results_unindexed",
        "model_calls_unindexed",
        "model_calls_run_label",
        "model_spend_days_unindexed",
        "model_spend_hours_unindexed",
        "delivery_failures_unindexed",
        "delivery_failures_expiry",
    }


def test_large_and_sequential_task_fields_are_exempt_from_indexing(root):
    field = firestore_field(root, "tasks_unindexed")
    fields = local(root, "tasks_unindexed_fields")

    assert tasks_collection("cfg").split("/")[-1] == local(root, "tasks_collection_group")
    assert len(fields) == len(set(fields))
    assert set(fields) == UNINDEXED_TASK_FIELDS
    assert not set(fields) & QUERIED_TASK_FIELDS
    document = new_task_document("cfg", "video", "subject")
    assert set(fields) - {"updated_at"} <= set(document)
    assert set(document) >= QUERIED_TASK_FIELDS
    assert_exempt_from_indexing(field, "tasks")


# Fields of the critique items (critique_runs/<folder>/items/<id>), of the cost ledger and
# of its day and hour totals exempt from single-field indexing (firestore.tf), and the fields
# the code filters or orders them on (shared/critiques/, shared/llm/): never exempt.
UNINDEXED_ITEM_FIELDS = {
    "inputs",
    "record",
    "critique_step",
    "updated_at",
    "lease_until",
    "video_url",
    "key",
}
QUERIED_ITEM_FIELDS = {"status", "critique_type"}
UNINDEXED_RESULT_FIELDS = {"record", "stored_at"}
QUERIED_RESULT_FIELDS: set[str] = set()  # read by document id only
UNINDEXED_MODEL_CALL_FIELDS = {"labels", "error", "recorded_at"}
# A run's costs: labels.run ==, a subfield of the exempt labels map with an index of its own.
QUERIED_MODEL_CALL_FIELDS = {"labels.run"}
UNINDEXED_SPEND_DAY_FIELDS = {"total", "by_model", "by_kind", "by_run"}
QUERIED_SPEND_DAY_FIELDS = {"day"}
UNINDEXED_SPEND_HOUR_FIELDS = {"minutes"}
QUERIED_SPEND_HOUR_FIELDS = {"hour"}
# The entry point's failure records: `vidcurate dlq` finds one by fingerprint and function.
UNINDEXED_DELIVERY_FAILURE_FIELDS = {"error", "first_failed_at", "last_failed_at"}
QUERIED_DELIVERY_FAILURE_FIELDS = {"fingerprint", "function"}
# What each module filters or orders on, over all the collections it queries.
QUERIED_BY_MODULE = {
    "shared/critiques": QUERIED_ITEM_FIELDS | QUERIED_RESULT_FIELDS,
    "shared/llm": QUERIED_MODEL_CALL_FIELDS | QUERIED_SPEND_DAY_FIELDS | QUERIED_SPEND_HOUR_FIELDS,
    "shared/platform/deliveries.py": QUERIED_DELIVERY_FAILURE_FIELDS,
}
# Subfields of an exempt map that the code queries, and the field override (firestore.tf)
# that indexes each again.
INDEXED_SUBFIELDS = {"model_calls": {"labels.run": "model_calls_run_label"}}
# A filter ("field", "op", value) or an order ("field", "asc"|"desc") in the source; the
# field a name or a dotted path into maps ("labels.run").
FILTER = re.compile(
    r'\(\s*"(\w+(?:\.\w+)*)",\s*"(?:==|!=|<|<=|>|>=|in|not-in|array-contains|'
    r'array-contains-any|asc|desc)"'
)


def package_source(path: str) -> str:
    """The source of a module, or of every module of a package."""
    target = REPO / path
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return "\n".join(file.read_text() for file in files)


def filtered_fields(path: str) -> set[str]:
    return set(FILTER.findall(package_source(path)))


@pytest.mark.parametrize(
    ("prefix", "collection", "module_path", "unindexed", "queried"),
    [
        (
            "critique_items",
            items_collection("export_20250101_0000"),
            "shared/critiques",
            UNINDEXED_ITEM_FIELDS,
            QUERIED_ITEM_FIELDS,
        ),
        (
            "critique_results",
            RESULTS,
            "shared/critiques",
            UNINDEXED_RESULT_FIELDS,
            QUERIED_RESULT_FIELDS,
        ),
        (
            "model_calls",
            MODEL_CALLS,
            "shared/llm",
            UNINDEXED_MODEL_CALL_FIELDS,
            QUERIED_MODEL_CALL_FIELDS,
        ),
        (
            "model_spend_days",
            SPEND_DAYS,
            "shared/llm",
            UNINDEXED_SPEND_DAY_FIELDS,
            QUERIED_SPEND_DAY_FIELDS,
        ),
        (
            "model_spend_hours",
            SPEND_HOURS,
            "shared/llm",
            UNINDEXED_SPEND_HOUR_FIELDS,
            QUERIED_SPEND_HOUR_FIELDS,
        ),
        (
            "delivery_failures",
            DELIVERY_FAILURES,
            "shared/platform/deliveries.py",
            UNINDEXED_DELIVERY_FAILURE_FIELDS,
            QUERIED_DELIVERY_FAILURE_FIELDS,
        ),
    ],
)
def test_large_and_sequential_critique_fields_are_exempt_from_indexing(
    root, prefix, collection, module_path, unindexed, queried
):
    field = firestore_field(root, f"{prefix}_unindexed")
    fields = local(root, f"{prefix}_unindexed_fields")
    source = package_source(module_path)
    filtered = filtered_fields(module_path)
    subfields = INDEXED_SUBFIELDS.get(prefix, {})

    assert collection.split("/")[-1] == local(root, f"{prefix}_collection_group")
    assert len(fields) == len(set(fields))
    assert set(fields) == unindexed
    # What the module filters or orders on, over the collections it queries (critiques: its
    # items only, a run document is read by id; the ledger: a run's calls, the day and hour
    # totals), is exactly what stays indexed.
    assert filtered == QUERIED_BY_MODULE[module_path]
    assert queried <= filtered
    assert not set(fields) & filtered
    # An exempt map takes its subfields with it: a subfield the module filters on is indexed
    # again by a field override of its own (the ledger: labels.run, while labels stays exempt).
    assert {name for name in filtered if name.split(".")[0] in fields} == set(subfields)
    for name, override in subfields.items():
        assert name in queried
        assert name.split(".")[0] in fields
        assert firestore_field(root, override).body["field"] == name
        assert firestore_field(root, override).body["collection"] == field.body["collection"]
    # Fields the module writes (a renamed field would leave its exemption behind).
    for name in fields:
        assert f'"{name}"' in source, name
    assert_exempt_from_indexing(field, prefix)


def test_the_run_label_of_the_ledger_is_indexed_again(root):
    """summarize_costs(run=...) queries model_calls with labels.run ==: with labels exempt,
    Firestore refuses it unless labels.run has an index of its own, ascending at collection
    scope (the adapter queries one collection)."""
    field = firestore_field(root, "model_calls_run_label")

    assert "for_each" not in field.body
    assert field.body["project"] == "${var.project_id}"
    assert field.body["database"] == "${google_firestore_database.this.name}"
    assert field.body["collection"] == "${local.model_calls_collection_group}"
    assert local(root, "model_calls_collection_group") == MODEL_CALLS
    assert field.body["field"] == "labels.run"
    (config,) = field.body["index_config"]
    assert set(config) == {"indexes", "__is_block__"}
    assert [
        {k: v for k, v in index.items() if k != "__is_block__"} for index in config["indexes"]
    ] == [{"order": "ASCENDING", "query_scope": "COLLECTION"}]
    assert "ttl_config" not in field.body
    assert "${google_firestore_database.this}" in field.body["depends_on"]
    # The map above it stays exempt: its other keys get no index entries.
    assert "labels" in hcl_list(local(root, "model_calls_unindexed_fields"))
    assert (MODEL_CALLS, "labels") in exempt_fields(root)
    assert (MODEL_CALLS, "labels.run") not in exempt_fields(root)
    assert set(indexed_fields(root)) == {(MODEL_CALLS, "labels.run")}


def test_every_ledger_query_is_served_by_a_single_field_index(root):
    """A run's calls (labels.run ==), the spend since a day (day >=) and the last hour's
    requests (hour >=): one field each, so no composite index; and no exemption in
    firestore.tf removes that field's index (labels.run's override gives it back)."""
    queries = ledger_queries()
    sites = query_calls(
        sorted(
            path.relative_to(REPO).as_posix() for path in (REPO / "shared" / "llm").rglob("*.py")
        )
    )
    exempt = exempt_fields(root)
    indexed = indexed_fields(root)

    # Every query of shared/llm is recorded by ledger_queries (firestore_queries.py).
    assert len(sites) == len(queries)
    assert {(q.collection, q.where[0][:2]) for q in queries} == {
        (MODEL_CALLS, ("labels.run", "==")),
        (SPEND_DAYS, ("day", ">=")),
        (SPEND_HOURS, ("hour", ">=")),
    }
    for query in queries:
        assert not query.order_by, query
        assert served_by_single_field_index(query, exempt, indexed), query
    # The same check fails without the override: labels' exemption covers labels.run.
    (by_run,) = [q for q in queries if q.collection == MODEL_CALLS]
    assert not served_by_single_field_index(by_run, exempt, {})


def test_delivery_failure_records_expire(root):
    """Firestore's TTL policy deletes the entry point's failure records at their expire_at."""
    field = firestore_field(root, "delivery_failures_expiry")
    source = package_source("shared/platform/deliveries.py")

    assert field.body["collection"] == "${local.delivery_failures_collection_group}"
    assert local(root, "delivery_failures_collection_group") == DELIVERY_FAILURES
    assert field.body["field"] == "expire_at"
    assert '"expire_at"' in source
    assert field.body["database"] == "${google_firestore_database.this.name}"
    # A TTL policy (an empty ttl_config), and no index on a timestamp nothing queries.
    for block in ("ttl_config", "index_config"):
        assert [
            {k: v for k, v in body.items() if k != "__is_block__"} for body in field.body[block]
        ] == [{}], block
    assert "expire_at" not in QUERIED_DELIVERY_FAILURE_FIELDS
    assert "${google_firestore_database.this}" in field.body["depends_on"]

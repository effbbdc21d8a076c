"""The terraform deploys what the catalogue and the settings describe, with the retry contract.

terraform cannot plan offline (no provider), so these tests read the configuration itself
with python-hcl2 (v8 keeps the quotes around labels and string literals).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared.config import BUCKET_ROLES, Settings
from shared.runtime.catalog import FUNCTIONS, StorageTrigger, TopicTrigger, storage_topic

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULE = TERRAFORM / "modules" / "event_function"


def unquote(value: Any) -> Any:
    """A string literal without its quotes; expressions (``${...}``) unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {unquote(key): unquote(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unquote(item) for item in value]
    return value


def parse(folder: Path) -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open() as handle:
            for kind, blocks in unquote(hcl2.load(handle)).items():
                merged.setdefault(kind, []).extend(blocks)
    return merged


@dataclass(frozen=True)
class Resource:
    where: str
    type: str
    name: str
    body: dict[str, Any]

    def block(self, key: str) -> dict[str, Any] | None:
        """A nested block (hcl2 gives a list of one dict per block)."""
        value = self.body.get(key)
        return value[0] if isinstance(value, list) and value else None


def resources(config: dict[str, list[dict[str, Any]]], where: str) -> Iterator[Resource]:
    for entry in config.get("resource", []):
        for kind, named in entry.items():
            for name, body in named.items():
                yield Resource(where, kind, name, body)


@pytest.fixture(scope="module")
def root() -> dict[str, list[dict[str, Any]]]:
    return parse(TERRAFORM)


@pytest.fixture(scope="module")
def module() -> dict[str, list[dict[str, Any]]]:
    return parse(MODULE)


@pytest.fixture(scope="module")
def all_resources(root, module) -> list[Resource]:
    return [*resources(root, "terraform"), *resources(module, "modules/event_function")]


def local(config: dict[str, list[dict[str, Any]]], name: str) -> Any:
    for block in config.get("locals", []):
        if name in block:
            return block[name]
    raise AssertionError(f"local.{name} is not defined")


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
            assert trigger == {"bucket": spec.trigger.bucket}, spec.name


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
    assert notification.body["event_types"] == ["OBJECT_FINALIZE"]


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


def test_function_environment_names_are_settings(root):
    expression = local(root, "function_environment")
    fields = set(Settings.model_fields)

    names = re.findall(r"\bVIDCURATE_([A-Z_]+) =", expression)
    assert names
    for name in names:
        assert name.lower() in fields, f"VIDCURATE_{name} is not a Settings field"
    assert '"VIDCURATE_${upper(role)}_BUCKET"' in expression
    assert all(f"{role}_bucket" in fields for role in BUCKET_ROLES)

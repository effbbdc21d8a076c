"""The web app is deployed to Cloud Run behind Identity-Aware Proxy by the same run as
everything else: cloudbuild.yaml builds and pushes its image (infra/web/Dockerfile) into the
repository terraform/bootstrap creates, and terraform/web.tf runs it as its own, least
privileged service account, reachable through IAP only.

terraform cannot plan here, and docker does not run here: these tests read the terraform
(terraform_config.py), cloudbuild.yaml, the Dockerfile and .dockerignore.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from docker_build import (
    arguments_of,
    assert_build_context,
    assert_installs_the_package_only,
    assert_runs_as_a_user,
    check_image_arguments,
    copied_sources,
    distributions,
    dockerfile_instructions,
    load_check_image,
    optional_dependencies,
    project,
    run_script,
)
from terraform_config import (
    ENABLED,
    CloudRunApp,
    Resource,
    assert_accepts_only,
    assert_arguments,
    build_graph,
    by_address,
    hcl_list,
    hcl_regex,
    local,
    local_set,
    outputs,
    render,
    resources,
    strings,
    validation_condition,
    variables,
)

from shared.adapters.gcp.pubsub import PubSubMessageBus, PubSubSubscriber
from shared.bootstrap import build_providers
from shared.catalog import FUNCTIONS, function_spec
from shared.config import Settings
from shared.learning.settings import LabelSettings
from shared.platform.deadletters import list_dead_letters, replay_dead_letters
from shared.platform.runtime.catalog import storage_topic
from shared.ports.bus import DEAD_LETTER_MESSAGE_ID
from shared.vision.api import request_analysis
from shared.vision.messages import FRAME_ANALYSIS, AnalysisJob

WEB = CloudRunApp("web", "google_cloud_run_v2_service.web")
TOKENS = "VIDCURATE_DISCOVERY_API_TOKENS"
MODEL_KEYS = ("OPENAI_API_KEY", "GEMINI_API_KEY")
WEB_MEMBER = "serviceAccount:${google_service_account.web[0].email}"
PUBLISHER = "google_pubsub_topic_iam_member.web_publisher"
HOLD_GRANTS = {
    "roles/pubsub.subscriber": "google_pubsub_subscription_iam_member.web_dead_letter_subscriber",
    "roles/pubsub.viewer": "google_pubsub_subscription_iam_member.web_dead_letter_viewer",
}


# --- only with an image ---------------------------------------------------------------------


def test_the_web_app_is_deployed_only_with_an_image(root):
    """var.web_image = null (the default): no service, account, agent or grant, so a plan
    without an image (the tests, a first look) works; cloudbuild.yaml always passes one."""
    names = WEB.assert_deployed_only_with_image(root)

    assert WEB.address in names
    assert len(names) >= 7


def test_the_image_variable_accepts_what_cloudbuild_passes(root):
    assert_accepts_only(
        WEB.image_pattern(root),
        good=(
            "europe-west1-docker.pkg.dev/my-project/vidcurate/web:0b7c6e0e-1d2f-4a57-9d3e-2b2f9f1c7a10",
            "us-docker.pkg.dev/p/r/web@sha256:" + "a" * 64,
            "localhost:5000/web:dev",
        ),
        bad=("", "web", "web:latest", "europe-west1-docker.pkg.dev/p/r/web", "a b/c:d"),
    )


# --- the service ----------------------------------------------------------------------------


def test_the_service_is_behind_iap_and_admits_only_iap(root):
    body = WEB.resource(root).body

    assert body["name"] == "${local.web_service_name}"
    assert local(root, "web_service_name") == "vidcurate-web"
    assert body["location"] == "${var.region}"
    assert body["iap_enabled"] is True
    # Cloud Run's IAM check stays on: only the IAP service agent may invoke.
    assert body["invoker_iam_disabled"] is False
    assert body["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert body["deletion_protection"] is False
    # iap_enabled is GA in the google provider (6.30; the configuration requires 6.47): no
    # beta provider, no beta launch stage.
    assert "provider" not in body
    assert "launch_stage" not in body
    assert "${google_project_service.enabled}" in body["depends_on"]
    # Nobody is granted anything on the service but the IAP agent.
    grants = [
        r for r in resources(root, "") if r.type.startswith("google_cloud_run_v2_service_iam")
    ]
    assert [g.address for g in grants] == ["google_cloud_run_v2_service_iam_member.web_iap_invoker"]
    for text in strings(root["resource"]):
        assert "allUsers" not in text
        assert "allAuthenticatedUsers" not in text


def test_the_container_runs_the_image_with_its_limits(root):
    found = WEB.container(root)
    template = WEB.template(root)
    (scaling,) = template["scaling"]
    (port,) = found["ports"]
    (limits,) = found["resources"]
    declared = variables(root)["web_max_instances"]

    assert found["image"] == "${var.web_image}"
    assert port["container_port"] == 8080
    assert limits["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert template["session_affinity"] is True
    assert scaling["max_instance_count"] == "${var.web_max_instances}"
    assert declared["default"] == 3
    assert declared["type"] == "number"


def test_the_service_runs_as_its_own_account(root):
    template = WEB.template(root)
    account = by_address(root)[WEB.account]

    assert template["service_account"] == "${google_service_account.web[0].email}"
    assert account.body["account_id"] == "${local.web_service_name}"
    # Not a function's account, not the default compute account.
    assert by_address(root)["google_service_account.function"].body["account_id"].startswith("fn-")
    # It holds its roles before the first request.
    depends_on = WEB.resource(root).body["depends_on"]
    assert "${google_project_iam_member.web_datastore_user}" in depends_on
    assert "${google_storage_bucket_iam_member.web}" in depends_on


def test_the_web_account_holds_exactly_its_roles(root):
    """datastore.user on the project (label documents, operator_actions: Firestore has no
    narrower role that writes), objectViewer on the frames and videos buckets, objectUser on
    the discovery bucket (the word API serves stored clips and stores uploads, create-only),
    secretAccessor on the admin API's tokens and analyze_frames' model keys, publisher on
    the topics it publishes to and subscriber and viewer on the dead-letter holds (checked
    below); nothing else, anywhere."""
    WEB.assert_holds_exactly(
        root,
        {
            "frames": "roles/storage.objectViewer",
            "videos": "roles/storage.objectViewer",
            "discovery": "roles/storage.objectUser",
        },
        secrets=(TOKENS, *MODEL_KEYS),
        others=(PUBLISHER, *HOLD_GRANTS.values()),
    )


# --- the admin API's tokens -----------------------------------------------------------------


def test_the_admin_tokens_are_an_opt_in_secret_the_settings_read(root, monkeypatch):
    """VIDCURATE_DISCOVERY_API_TOKENS (a JSON list) comes from the secret
    discovery-api-tokens, which terraform never creates: listed in var.api_keys once it has a
    version, like an API key, and read only when the app is deployed."""
    secrets = local(root, "secrets")
    declared = variables(root)["api_keys"]
    mounted = local(root, "web_secrets")

    assert secrets[TOKENS] == "discovery-api-tokens"
    assert TOKENS in validation_condition(root, "api_keys")
    assert TOKENS in declared["description"]
    # Only the keys listed (their secret has a version: api_key_secrets), only with an image.
    assert mounted.startswith("${{for env, secret in local.api_key_secrets : env => secret")
    assert "local.web_enabled" in mounted
    assert "contains(local.web_secret_keys, env)" in mounted
    # The settings read the variable a mounted secret sets, the JSON list the secret holds.
    monkeypatch.setenv(TOKENS, '["t-1", "t-2"]')
    tokens = Settings(_env_file=None).discovery_api_tokens
    assert [token.get_secret_value() for token in tokens] == ["t-1", "t-2"]
    # The web app alone mounts it: no function can call the admin API as an admin.
    for name, entry in local(root, "function_catalog").items():
        assert TOKENS not in entry.get("secrets", []), name


def test_the_service_mounts_the_tokens_its_account_may_read(root):
    """The revision reads the version the plan found (a new version deploys a new revision)
    and is created after its account may read the secret: a revision that cannot read its
    secret does not start."""
    grant = by_address(root)["google_secret_manager_secret_iam_member.web"]
    depends_on = WEB.resource(root).body["depends_on"]

    WEB.assert_gets_its_environment(root, secrets=True)
    assert grant.body["for_each"] == "${local.web_secrets}"
    assert "${google_secret_manager_secret_iam_member.web}" in depends_on
    # The tokens and analyze_frames' model keys (below); never ClipCafe's key nor the Hub's.
    assert hcl_list(local(root, "web_secret_keys")) == [TOKENS, *MODEL_KEYS]
    # Set once: not also a plain variable (Cloud Run refuses a name twice).
    for plain in ("web_environment", "function_environment"):
        assert TOKENS not in local(root, plain), plain


# --- what the operators' actions call -------------------------------------------------------
#
# The clip explorer's analysis (POST /api/clips/{id}/analyze) publishes one frame-analysis
# job; the status page lists the dead letters (pull, then modifyAckDeadline 0) and replays
# them (publish to the function's source topic, ack). Each test runs the code's cloud path
# over recording Pub/Sub clients and checks that the grants cover exactly what it called.

# The Pub/Sub permissions of the roles granted here
# (https://cloud.google.com/iam/docs/roles-permissions/pubsub).
PUBSUB_ROLES = {
    "roles/pubsub.publisher": {"pubsub.topics.publish", "pubsub.topics.get"},
    "roles/pubsub.subscriber": {
        "pubsub.snapshots.seek",
        "pubsub.subscriptions.consume",
        "pubsub.topics.attachSubscription",
    },
    "roles/pubsub.viewer": {
        "pubsub.schemas.get",
        "pubsub.schemas.list",
        "pubsub.snapshots.get",
        "pubsub.snapshots.list",
        "pubsub.subscriptions.get",
        "pubsub.subscriptions.list",
        "pubsub.topics.get",
        "pubsub.topics.list",
    },
}
# Client method -> the permission it needs on its resource.
PUBSUB_METHODS = {
    "publish": "pubsub.topics.publish",
    "get_subscription": "pubsub.subscriptions.get",
    "pull": "pubsub.subscriptions.consume",
    "acknowledge": "pubsub.subscriptions.consume",
    "modify_ack_deadline": "pubsub.subscriptions.consume",
}


class _Future:
    def __init__(self, value: str) -> None:
        self._value = value

    def result(self, timeout: float | None = None) -> str:
        del timeout
        return self._value


class _RecordingPublisher:
    """google.cloud.pubsub_v1.PublisherClient, recording (method, topic)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def topic_path(self, project: str, topic: str) -> str:
        return f"projects/{project}/topics/{topic}"

    def publish(self, path: str, data: bytes, **attributes: str) -> _Future:
        del data, attributes
        self.calls.append(("publish", path.rsplit("/", 1)[-1]))
        return _Future(str(len(self.calls)))


class _RecordingSubscriber:
    """google.cloud.pubsub_v1.SubscriberClient over subscriptions that each hold one dead
    letter (leased by a pull, released by a deadline of 0, gone once acked), recording
    (method, subscription)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._unavailable: set[str] = set()
        self._acked: set[str] = set()

    def subscription_path(self, project: str, subscription: str) -> str:
        return f"projects/{project}/subscriptions/{subscription}"

    def _record(self, method: str, request: dict[str, Any]) -> str:
        name = request["subscription"].rsplit("/", 1)[-1]
        self.calls.append((method, name))
        return name

    def get_subscription(self, request: dict[str, Any]) -> SimpleNamespace:
        name = self._record("get_subscription", request)
        return SimpleNamespace(topic=f"projects/p/topics/{name.removesuffix('-hold')}")

    def pull(self, request: dict[str, Any], timeout: float | None = None) -> SimpleNamespace:
        del timeout
        name = self._record("pull", request)
        if name in self._unavailable or name in self._acked:
            return SimpleNamespace(received_messages=[])
        self._unavailable.add(name)
        message = SimpleNamespace(
            message_id=f"dl-{name}",
            data=b"{}",
            attributes={DEAD_LETTER_MESSAGE_ID: f"m-{name}"},
            publish_time=datetime(2025, 1, 1, tzinfo=UTC),
        )
        return SimpleNamespace(
            received_messages=[
                SimpleNamespace(ack_id=f"a-{name}", message=message, delivery_attempt=5)
            ]
        )

    def acknowledge(self, request: dict[str, Any]) -> None:
        self._acked.add(self._record("acknowledge", request))

    def modify_ack_deadline(self, request: dict[str, Any]) -> None:
        name = self._record("modify_ack_deadline", request)
        if request["ack_deadline_seconds"] == 0 and request["ack_ids"]:
            self._unavailable.discard(name)


def _settings() -> Settings:
    return Settings(_env_file=None, project="my-project")


def _needed(calls: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Resource -> the permissions the calls on it need."""
    needed: dict[str, set[str]] = {}
    for method, name in calls:
        needed.setdefault(name, set()).add(PUBSUB_METHODS[method])
    return needed


def _status_page_calls() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """What the status page's cloud path calls (subscriber, publisher): the report's dead
    letters and queue rows, and a replay of every dead letter."""
    settings = _settings()
    subscriber_client = _RecordingSubscriber()
    publisher_client = _RecordingPublisher()
    subscriber = PubSubSubscriber(settings, subscriber=subscriber_client)
    bus = PubSubMessageBus(settings, publisher=publisher_client)

    listed = list_dead_letters(subscriber, FUNCTIONS)
    replayed = replay_dead_letters(subscriber, bus, settings, FUNCTIONS)

    assert len(listed) == len(replayed) == len(FUNCTIONS)
    return subscriber_client.calls, publisher_client.calls


def _pubsub_grants_to_the_web_account(root) -> list[Resource]:
    return [
        r
        for r in resources(root, "")
        if r.type.startswith("google_pubsub_") and WEB_MEMBER in strings(r.body)
    ]


def test_the_analysis_publishes_to_frame_analysis_only(root):
    """POST /api/clips/{id}/analyze in the cloud publishes one FRAME_ANALYSIS message
    (shared/vision/api.py request_analysis): publisher on frame-analysis, the topic
    analyze_frames is triggered by."""
    publisher_client = _RecordingPublisher()
    bus = PubSubMessageBus(_settings(), publisher=publisher_client)
    job = AnalysisJob(clip="c-1", generation=1, prompt="describe_frame", model="gpt-4.1")
    grant = by_address(root)[PUBLISHER]
    publishes = local(root, "web_publishes")

    request_analysis(SimpleNamespace(bus=bus), job)

    assert publisher_client.calls == [("publish", "frame-analysis")]
    assert FRAME_ANALYSIS.name == "frame-analysis"
    assert local(root, "function_catalog")["analyze_frames"]["trigger"] == {
        "topic": "frame-analysis"
    }
    # Listed by name, only with the app; granted per topic, through the topic resources.
    assert publishes.startswith('${toset(local.web_enabled ? concat(["frame-analysis"], ')
    assert_arguments(
        grant,
        {
            "for_each": "${local.web_publishes}",
            "project": "${var.project_id}",
            "topic": "${local.source_topics[each.key]}",
            "role": "roles/pubsub.publisher",
            "member": WEB_MEMBER,
        },
    )
    graph = build_graph(root)
    assert graph.reaches(PUBLISHER, "google_pubsub_topic.events")
    assert graph.reaches(PUBLISHER, "google_pubsub_topic.gcs_notifications")
    assert (
        "${google_pubsub_topic_iam_member.web_publisher}" in WEB.resource(root).body["depends_on"]
    )


def test_a_replay_publishes_to_its_functions_source_topic_only(root):
    """The status page's replay runs as the web account (not the operator's credentials, as
    `vidcurate dlq replay` does): publisher on each function's source topic (its trigger
    topic, or its bucket's notification topic), the topics replay_dead_letters publishes
    to; not on the dead-letter topics nor the topics functions only publish to."""
    settings = _settings()
    _, published = _status_page_calls()
    publishes = local(root, "web_publishes")
    catalog = local(root, "function_catalog")

    assert {topic for _, topic in published} == {spec.source_topic(settings) for spec in FUNCTIONS}
    # Terraform grants each function's source_topic, which is the catalogue's.
    assert "[for f in local.functions : f.source_topic]" in publishes
    assert "source_topic = try(spec.trigger.topic, local.storage_topics[spec.trigger.bucket])" in (
        local(root, "functions")
    )
    for name, entry in catalog.items():
        trigger = entry["trigger"]
        expected = trigger.get("topic") or storage_topic(settings.bucket(trigger["bucket"]))
        assert function_spec(name).source_topic(settings) == expected, name
    # Nothing broader: no dead-letter topic, no published-to topic, no wildcard.
    for broader in ("dead_letter", "publishes", "event_topics", "source_topics"):
        assert broader not in publishes, broader
    # The one topic grant to the web account, publisher only.
    topic_grants = [
        r.address
        for r in _pubsub_grants_to_the_web_account(root)
        if r.type == "google_pubsub_topic_iam_member"
    ]
    assert topic_grants == [PUBLISHER]
    assert PUBSUB_ROLES["roles/pubsub.publisher"] >= set().union(*_needed(published).values())


def test_the_status_page_reads_the_dead_letter_holds_only(root, module):
    """Listing and replaying pull from each function's <function>-dead-letter-hold, release
    (modifyAckDeadline 0) or ack, and look the subscription up first (its topic):
    subscriber (consume) and viewer (subscriptions.get, which subscriber lacks) on each hold
    subscription, and on no other subscription."""
    pulled, _ = _status_page_calls()
    needed = _needed(pulled)
    holds = local(root, "web_dead_letter_holds")
    output = outputs(module)["dead_letter_hold_subscription"]
    hold = by_address(module)["google_pubsub_subscription.dead_letter_hold"]

    assert set(needed) == {spec.hold_subscription for spec in FUNCTIONS}
    # One grant per function (the module's for_each), on the hold its module creates, named
    # as the code names it.
    assert holds == "${toset(local.web_enabled ? keys(local.functions) : [])}"
    assert output["value"] == "${google_pubsub_subscription.dead_letter_hold.name}"
    for spec in FUNCTIONS:
        assert render(hold.body["name"], {"var.name": spec.name}) == spec.hold_subscription
    granted: set[str] = set()
    for role, address in HOLD_GRANTS.items():
        grant = by_address(root)[address]
        assert_arguments(
            grant,
            {
                "for_each": "${local.web_dead_letter_holds}",
                "project": "${var.project_id}",
                "subscription": "${module.function[each.key].dead_letter_hold_subscription}",
                "role": role,
                "member": WEB_MEMBER,
            },
        )
        assert f"${{{address}}}" in WEB.resource(root).body["depends_on"]
        granted |= PUBSUB_ROLES[role]
    # Both roles cover every call; neither alone does.
    for name, permissions in needed.items():
        assert permissions <= granted, name
        for role in HOLD_GRANTS:
            assert not permissions <= PUBSUB_ROLES[role], (name, role)
    # No other subscription grant to the web account (not the functions' own subscriptions).
    subscription_grants = sorted(
        r.address
        for r in _pubsub_grants_to_the_web_account(root)
        if r.type == "google_pubsub_subscription_iam_member"
    )
    assert subscription_grants == sorted(HOLD_GRANTS.values())
    assert {r.type for r in _pubsub_grants_to_the_web_account(root)} == {
        "google_pubsub_topic_iam_member",
        "google_pubsub_subscription_iam_member",
    }


def test_the_estimate_reads_the_model_keys_analyze_frames_holds(root, monkeypatch):
    """GET /api/clips/{id}/estimate asks the model client which provider answers: the web
    service mounts the keys analyze_frames mounts, each when listed in var.api_keys (so its
    estimate names the provider the function will use), with secretAccessor on those
    secrets only."""
    catalog = local(root, "function_catalog")
    secrets = local(root, "secrets")
    mounted = local(root, "web_secrets")

    assert set(MODEL_KEYS) == set(catalog["analyze_frames"]["secrets"])
    assert set(MODEL_KEYS) <= set(secrets)
    # Only listed keys (api_key_secrets), only with the app, only the app's keys; the
    # grant and the mount both iterate over exactly that map.
    assert "contains(var.api_keys, env)" in local(root, "api_key_secrets")
    assert mounted.startswith("${{for env, secret in local.api_key_secrets : env => secret")
    assert "local.web_enabled && contains(local.web_secret_keys, env)" in mounted
    assert by_address(root)["google_secret_manager_secret_iam_member.web"].body["for_each"] == (
        "${local.web_secrets}"
    )
    WEB.assert_gets_its_environment(root, secrets=True)
    # Not ClipCafe's key nor the Hub's: the app never searches nor uploads.
    assert not {"CLIPCAFE_API_KEY", "HF_TOKEN"} & set(hcl_list(local(root, "web_secret_keys")))
    # The variables the secrets set are the ones the settings read: with them the model
    # client answers with the providers, without them offline.
    for variable in (
        *MODEL_KEYS,
        "GOOGLE_API_KEY",
        "VIDCURATE_OPENAI_API_KEY",
        "VIDCURATE_GEMINI_API_KEY",
        "VIDCURATE_LLM_PROVIDER",
        "VIDCURATE_OPENAI_BASE_URL",
        "VIDCURATE_GEMINI_BASE_URL",
    ):
        monkeypatch.delenv(variable, raising=False)
    assert sorted(build_providers(Settings(_env_file=None))) == ["offline"]
    for variable in MODEL_KEYS:
        monkeypatch.setenv(variable, "k")
    assert sorted(build_providers(Settings(_env_file=None))) == ["gemini", "offline", "openai"]


# --- IAP ------------------------------------------------------------------------------------


def test_the_iap_service_agent_invokes_the_service(root):
    resources_ = by_address(root)
    agent = resources_["google_project_service_identity.iap"]
    invoker = resources_["google_cloud_run_v2_service_iam_member.web_iap_invoker"]

    assert agent.body["provider"] == "google-beta"
    assert agent.body["service"] == "iap.googleapis.com"
    assert "${google_project_service.enabled}" in agent.body["depends_on"]
    WEB.assert_grant_on_it(invoker)
    assert invoker.body["role"] == "roles/run.invoker"
    assert (
        invoker.body["member"] == "serviceAccount:${google_project_service_identity.iap[0].email}"
    )


def test_web_users_and_admins_may_pass_iap(root):
    grant = by_address(root)["google_iap_web_cloud_run_service_iam_member.web_users"]
    accessors = local(root, "web_accessors")

    WEB.assert_grant_on_it(grant, "cloud_run_service_name")
    assert grant.body["role"] == "roles/iap.httpsResourceAccessor"
    assert grant.body["member"] == "${each.key}"
    assert grant.body["for_each"] == "${local.web_accessors}"
    assert "var.web_users" in accessors
    assert '[for email in var.web_admins : "user:${email}"]' in accessors
    assert "local.web_enabled" in accessors


def test_web_users_are_principals_and_never_public(root):
    declared = variables(root)
    users = hcl_regex(validation_condition(root, "web_users"), "member")
    admins = hcl_regex(validation_condition(root, "web_admins"), "email")

    assert declared["web_users"]["default"] == []
    assert declared["web_admins"]["default"] == []
    assert declared["web_users"]["type"] == declared["web_admins"]["type"] == "${list(string)}"
    assert_accepts_only(
        users,
        good=("user:a@example.com", "group:annotators@example.com", "domain:example.com"),
        bad=("allUsers", "allAuthenticatedUsers", "a@example.com", "user:", "user:a b@x.com"),
    )
    assert_accepts_only(
        admins,
        good=("lead@example.com",),
        bad=("user:lead@example.com", "lead", "lead@example", "a b@example.com"),
    )


def test_the_app_gets_the_functions_settings_and_its_audience(root):
    """The same VIDCURATE_* environment as the functions (the local, not a copy), the IAP
    audience of this very service, the admins as JSON, and the admin API's tokens from their
    secret."""
    environment = local(root, "web_environment")
    audience = local(root, "web_iap_audience")
    fields = set(Settings.model_fields) | set(LabelSettings.model_fields)

    assert environment.startswith("${merge(local.function_environment, {")
    assert "VIDCURATE_WEB_IAP_AUDIENCE = local.web_iap_audience" in environment
    assert "VIDCURATE_WEB_ADMINS = jsonencode(var.web_admins)" in environment
    for name in re.findall(r"\bVIDCURATE_([A-Z_]+) =", environment):
        assert name.lower() in fields, f"VIDCURATE_{name} is not a setting"
    WEB.assert_gets_its_environment(root, secrets=True)

    assert audience == (
        "/projects/${var.project_number}/locations/${var.region}/services/${local.web_service_name}"
    )
    rendered = render(
        audience,
        {
            "var.project_number": "123456789012",
            "var.region": "europe-west1",
            "local.web_service_name": local(root, "web_service_name"),
        },
    )
    assert rendered == "/projects/123456789012/locations/europe-west1/services/vidcurate-web"
    # The format the app documents for the setting.
    described = LabelSettings.model_fields["web_iap_audience"].description or ""
    assert "/projects/NUMBER/locations/REGION/services/NAME" in described


def test_the_outputs_are_null_without_the_app(root):
    declared = outputs(root)

    assert declared["web_url"]["value"] == "${one(google_cloud_run_v2_service.web[*].uri)}"
    assert declared["web_iap_audience"]["value"] == (
        "${local.web_enabled ? local.web_iap_audience : null}"
    )


def test_the_apis_of_the_web_app_are_enabled_first(root, bootstrap):
    WEB.assert_enabled_first(
        root,
        bootstrap,
        {"iap.googleapis.com", "run.googleapis.com"},
        (
            "google_iap_web_cloud_run_service_iam_member.web_users",
            "google_cloud_run_v2_service_iam_member.web_iap_invoker",
            "google_project_service_identity.iap",
        ),
    )


# --- the bootstrap --------------------------------------------------------------------------


def test_the_bootstrap_creates_the_image_repository(bootstrap):
    repository = by_address(bootstrap)["google_artifact_registry_repository.images"]
    graph = build_graph(bootstrap)

    assert repository.body["format"] == "DOCKER"
    assert repository.body["repository_id"] == "vidcurate"
    assert repository.body["location"] == "${var.region}"
    assert repository.block("docker_config")["immutable_tags"] is True
    assert "${google_project_service.enabled}" in repository.body["depends_on"]
    assert graph.reaches("google_artifact_registry_repository.images", ENABLED)
    assert "artifactregistry.googleapis.com" in local_set(bootstrap, "apis")
    # The deploy pushes to the region it deploys to.
    assert local(bootstrap, "substitutions")["_REGION"] == "${var.region}"
    assert outputs(bootstrap)["image_repository"]["value"] == (
        "${google_artifact_registry_repository.images.location}-docker.pkg.dev/"
        "${google_artifact_registry_repository.images.project}/"
        "${google_artifact_registry_repository.images.repository_id}"
    )


def test_the_deployer_pushes_to_that_repository_only(bootstrap):
    grant = by_address(bootstrap)["google_artifact_registry_repository_iam_member.deployer_images"]
    roles = local_set(bootstrap, "deployer_roles")

    assert grant.body["role"] == "roles/artifactregistry.writer"
    assert grant.body["member"] == "serviceAccount:${google_service_account.deployer.email}"
    assert grant.body["repository"] == "${google_artifact_registry_repository.images.name}"
    assert grant.body["location"] == "${google_artifact_registry_repository.images.location}"
    # Not project-wide.
    assert not {role for role in roles if role.startswith("roles/artifactregistry.")}
    # The service (with IAP on), its IAP policy, acting as its account, its IAP agent.
    assert {
        "roles/run.admin",
        "roles/iap.admin",
        "roles/iam.serviceAccountUser",
        "roles/serviceusage.serviceUsageAdmin",
    } <= roles


# --- cloudbuild.yaml ------------------------------------------------------------------------


def test_cloudbuild_pushes_the_image_before_the_plan_deploys_it(cloudbuild, bootstrap, root):
    WEB.assert_image_pushed_before_plan(cloudbuild, bootstrap, root)


# --- the image ------------------------------------------------------------------------------


def test_the_image_installs_the_web_app_and_runs_it_as_a_user():
    instructions = dockerfile_instructions(WEB.dockerfile)
    runs = run_script(instructions)
    (command,) = arguments_of(instructions, "CMD")

    assert arguments_of(instructions, "FROM") == ["python:3.11-slim"]
    assert 'pip install ".[web,media,cli]"' in runs
    assert_installs_the_package_only(runs)
    assert_runs_as_a_user(instructions, start="CMD")
    # Shell form (or sh -c), so that $PORT expands; exec hands it the signals.
    assert not command.startswith("[") or '"sh", "-c"' in command
    assert 'vidcurate web --host 0.0.0.0 --port "${PORT:-8080}"' in command
    assert command.startswith("exec ")


def test_the_image_copies_what_the_package_build_needs():
    """pyproject.toml names README.md as the package's readme: the build reads it."""
    readme = project().get("readme")
    sources = copied_sources(WEB.dockerfile)

    assert {"pyproject.toml", "shared", "infra/web/check_image.py"} <= sources
    if isinstance(readme, str):
        assert readme in sources
    assert_build_context(kept=sources)


def test_the_build_context_is_the_package_only():
    assert_build_context(
        kept=(
            "pyproject.toml",
            "README.md",
            "shared/__init__.py",
            "shared/web/templates/index.html",
            "infra/web/Dockerfile",
            "infra/web/check_image.py",
        ),
        left_out=(
            ".venv/bin/python",
            ".venv-checkov/bin/checkov",
            ".vidcurate/state.json",
            "build/functions/ping.zip",
            "tests/deploy/test_terraform_web.py",
            ".git/HEAD",
            "terraform/.terraform/providers/x",
            "terraform/web.tf",
            ".tools/terraform",
            "shared/web/__pycache__/app.cpython-311.pyc",
            "infra/build_function.py",
        ),
    )


def test_the_image_build_fails_on_a_file_the_wheel_left_out(tmp_path: Path):
    check = load_check_image()
    sources = tmp_path / "src" / "shared"
    installed = tmp_path / "site-packages" / "shared"
    for base in (sources, installed):
        (base / "web").mkdir(parents=True)
        (base / "__init__.py").write_text("")
        (base / "web" / "app.py").write_text("")
    (sources / "web" / "templates").mkdir()
    (sources / "web" / "templates" / "label.html").write_text("<html>")
    (sources / "web" / "__pycache__").mkdir()
    (sources / "web" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"")

    assert check.missing_files(sources, installed) == ["web/templates/label.html"]
    (installed / "web" / "templates").mkdir()
    (installed / "web" / "templates" / "label.html").write_text("<html>")
    assert check.missing_files(sources, installed) == []
    assert check.missing_modules(("json", "no_such_module_for_vidcurate")) == [
        "no_such_module_for_vidcurate"
    ]


def test_the_image_checks_the_modules_of_the_extras_it_installs():
    """The image's build runs check_image.py on what the web, media and cli extras provide,
    and on no CUDA build of torch (the web app has none)."""
    arguments = check_image_arguments(WEB.dockerfile)
    extras = optional_dependencies()
    if "web" not in extras:
        pytest.skip("pyproject.toml has no `web` extra yet (shared/web is being written)")
    installed = distributions(extras["web"] + extras["media"] + extras["cli"])
    # Import name -> distribution.
    provided_by = {
        "fastapi": "fastapi",
        "jinja2": "jinja2",
        "uvicorn": "uvicorn",
        "jwt": "pyjwt",
        "av": "av",
        "PIL": "pillow",
        "typer": "typer",
    }

    assert arguments.sources == Path("/tmp/vidcurate/shared")
    assert arguments.torch_cuda_major is None
    assert set(arguments.modules) == set(provided_by)
    for module, distribution in provided_by.items():
        assert distribution in installed, (module, distribution)

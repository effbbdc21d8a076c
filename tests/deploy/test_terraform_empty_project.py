"""The main configuration deploys into an empty project in one apply, and its subscriptions
absorb the bursts the functions receive (issue 14).

terraform cannot plan here (no provider download), so these tests read the configuration
(terraform_config.py): the dependency graph an apply follows, the data sources a plan reads,
the provider constraints, the back-pressure numbers and preconditions, the CPUs.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from typing import Any

import pytest
from terraform_config import (
    BOOTSTRAP,
    ENABLED,
    MODULE,
    TERRAFORM,
    Config,
    build_graph,
    by_address,
    data_sources,
    evaluate,
    hcl_scope,
    local,
    local_set,
    locals_of,
    module_calls,
    outputs,
    parse,
    parse_text,
    references,
    resources,
    satisfies,
    validation_condition,
    variables,
)
from terraform_config import api_of as api_for_type

from shared.platform.backpressure import (
    DEAD_LETTER_ODDS,
    PUBSUB_MAX_RETENTION_SECONDS,
    Consumer,
    DeliveryBudget,
    drain_seconds,
    problems,
    required_attempts,
)

MODULE_SOURCE = "./modules/event_function"
# Enabled by terraform/bootstrap before the first plan and called by terraform itself, so
# the main configuration need not enable them (it could not: enabling needs Service Usage).
BOOTSTRAP_ONLY_APIS = {"cloudresourcemanager.googleapis.com", "serviceusage.googleapis.com"}
DAY = 86400


# --- a. every API call waits for its API ----------------------------------------------------


def api_ordering_problems(root: Config, module: Config, bootstrap: Config) -> list[str]:
    """Why an apply on an empty project could call an API before enabling it."""
    graph = build_graph(root, {MODULE_SOURCE: module})
    enabled = local_set(root, "apis")
    found = []
    for node, kind in sorted(graph.types.items()):
        api = api_for_type(kind)
        if api is None or node == ENABLED:
            continue
        if api in enabled:
            if not graph.reaches(node, ENABLED):
                found.append(f"{node} calls {api} without waiting for {ENABLED}")
        elif api in BOOTSTRAP_ONLY_APIS:
            if api not in local_set(bootstrap, "apis"):
                found.append(f"{node} calls {api}, which terraform/bootstrap does not enable")
        else:
            found.append(f"{node} calls {api}, which nothing enables (local.apis)")
    return found


def test_every_api_call_waits_for_its_api(root, module, bootstrap):
    """Walk the main configuration as `apply` does on an empty project: each resource and
    data source that calls a Google API depends, through references or depends_on, on the
    API's enablement (or the API is one terraform/bootstrap enables before any plan)."""
    graph = build_graph(root, {MODULE_SOURCE: module})
    callers = [node for node, kind in graph.types.items() if api_for_type(kind)]

    # The walk sees the module's resources, through the module call.
    assert "module.function/google_cloudfunctions2_function.this" in callers
    assert "module.function/google_pubsub_subscription.delivery" in callers
    assert len(callers) > 30
    assert api_ordering_problems(root, module, bootstrap) == []


def test_the_walk_finds_a_missing_dependency(root, module, bootstrap):
    """The check above fails when a resource stops waiting for its API."""
    without = copy.deepcopy(root)
    for entry in without["resource"]:
        if "events" in entry.get("google_pubsub_topic", {}):
            entry["google_pubsub_topic"]["events"].pop("depends_on")
    assert any(
        "google_pubsub_topic.events calls pubsub" in problem
        for problem in api_ordering_problems(without, module, bootstrap)
    )

    # ... and when the module call stops waiting: the dead-letter topic references nothing
    # that does.
    unordered = copy.deepcopy(root)
    (call,) = [entry["function"] for entry in unordered["module"] if "function" in entry]
    call.pop("depends_on")
    found = api_ordering_problems(unordered, module, bootstrap)
    assert any("module.function/google_pubsub_topic.dead_letter" in p for p in found), found

    # ... and when an API is neither enabled here nor by the bootstrap.
    extra = parse_text('resource "google_logging_metric" "m" { name = "m" }')
    merged = {**root, "resource": [*root["resource"], *extra["resource"]]}
    assert any("logging" in p for p in api_ordering_problems(merged, module, bootstrap))


def test_every_google_type_has_an_api():
    """api_of() fails on a type it cannot map, rather than letting it through."""
    assert api_for_type("google_storage_bucket_iam_member") == "storage.googleapis.com"
    assert api_for_type("google_project_iam_member") == "cloudresourcemanager.googleapis.com"
    assert api_for_type("google_project_service_identity") == "serviceusage.googleapis.com"
    assert api_for_type("google_service_account_iam_member") == "iam.googleapis.com"
    assert api_for_type("external") is None
    with pytest.raises(AssertionError, match="which API"):
        api_for_type("google_compute_instance")


def test_the_pubsub_service_agent_is_generated_not_derived(root):
    """Its email comes from generating it (the agent exists before it is granted roles), not
    from the project number a plan would have to look up."""
    identities = {
        r.name: r for r in resources(root, "") if r.type == "google_project_service_identity"
    }
    (call,) = module_calls(root).values()

    pubsub = identities["pubsub"]
    assert pubsub.body["provider"] == "google-beta"
    assert pubsub.body["service"] == "pubsub.googleapis.com"
    assert "${google_project_service.enabled}" in pubsub.body["depends_on"]
    (check,) = pubsub.block("lifecycle")["postcondition"]
    assert "var.project_number" in check["condition"]
    assert local(root, "pubsub_service_agent") == "${google_project_service_identity.pubsub.email}"
    assert call["pubsub_service_agent"] == "${local.pubsub_service_agent}"
    number = variables(root)["project_number"]
    assert "default" not in number
    assert 'regex("^[0-9]+$", var.project_number)' in validation_condition(root, "project_number")


# --- b. secrets only for the keys that have a version --------------------------------------


def transitive_references(root: Config, expression: Any) -> set[str]:
    """What an expression of the root refers to, through locals."""
    graph = build_graph(root)
    graph.add("<expression>", references(expression))
    return graph.closure("<expression>")


def test_every_secret_is_gated_by_api_keys(root, module):
    """A secret is read, granted or mounted only for a key in var.api_keys: no deploy waits
    for a secret version, and no function mounts a secret that has none."""
    secret_blocks = [
        block
        for block in [*resources(root, ""), *data_sources(root, "")]
        if block.type.startswith("google_secret_manager_")
    ]
    (call,) = module_calls(root).values()
    declared = variables(root)["api_keys"]

    assert secret_blocks, "no secret is read: the test no longer sees them"
    for block in secret_blocks:
        assert "var.api_keys" in transitive_references(root, block.body["for_each"]), block.name
    # Terraform never creates a secret (the value never passes through it) ...
    assert not [r for r in resources(root, "") if r.type == "google_secret_manager_secret"]
    (version,) = [b for b in secret_blocks if b.type == "google_secret_manager_secret_version"]
    # ... nor reads a value into the state: metadata only.
    assert version.body["fetch_secret_data"] is False
    # The secrets terraform used to create are forgotten, not destroyed with their versions.
    (removed,) = root["removed"]
    assert removed["from"] == "${google_secret_manager_secret.api}"
    assert removed["lifecycle"][0]["destroy"] is False

    # A function mounts the keys it uses that are listed ...
    assert (
        "secrets = [for env in try(spec.secrets, []) : env if contains(var.api_keys, env)]"
        in local(root, "functions")
    )
    mounted = call["secret_environment_variables"]
    assert mounted.startswith("${{for env in each.value.secrets : env => {")
    assert "data.google_secret_manager_secret_version.api[env].version" in mounted
    # The secret id is known at plan time: the module's grants are keyed by it.
    assert "secret = local.secrets[env]" in mounted
    # ... and the module grants and mounts exactly what it is given.
    accessors = [r for r in resources(module, "") if r.type.startswith("google_secret_manager_")]
    assert [r.body["for_each"] for r in accessors] == ["${local.secret_accessors}"]
    assert "var.secret_environment_variables" in local(module, "secret_accessors")
    (function,) = [r for r in resources(module, "") if r.type == "google_cloudfunctions2_function"]
    (mounts,) = function.block("service_config")["dynamic"]
    assert mounts["secret_environment_variables"]["for_each"] == (
        "${var.secret_environment_variables}"
    )

    # Opt-in: nothing by default, and only the keys secrets.tf knows.
    assert declared["default"] == []
    assert declared["type"] == "${set(string)}"
    known = set(local(root, "secrets"))
    (rule,) = declared["validation"]
    assert set(re.findall(r'"([A-Z_]+)"', rule["condition"])) == known


# --- c. no Resource Manager at plan time ----------------------------------------------------

# Data sources read at plan time that need the Cloud Resource Manager API (an empty project
# lacks it until terraform/bootstrap runs, and the deployer need not read projects).
FORBIDDEN_DATA_SOURCES = {
    "google_project",  # the project's number: var.project_number instead
    "google_projects",
    "google_project_iam_policy",
    "google_project_ancestry",
    "google_project_organization_policy",
    "google_active_folder",
    "google_folder",
    "google_folders",
    "google_organization",
    "google_iam_policy",  # computed locally, but a sign of reading policies to merge them
}
# What the main configuration may read at plan time, and why it is safe there.
ALLOWED_DATA_SOURCES = {
    "external": None,  # infra/build_function.py, local
    "google_storage_project_service_account": "storage.googleapis.com",
    "google_secret_manager_secret_version": "secretmanager.googleapis.com",
}


def test_no_data_source_needs_resource_manager_at_plan_time(root, module):
    read = {source.type for source in [*data_sources(root, ""), *data_sources(module, "")]}

    assert read, "no data source found: the parser no longer sees them"
    assert not read & FORBIDDEN_DATA_SOURCES
    assert read <= set(ALLOWED_DATA_SOURCES), read - set(ALLOWED_DATA_SOURCES)
    for kind in read:
        assert api_for_type(kind) == ALLOWED_DATA_SOURCES[kind], kind
        assert api_for_type(kind) != "cloudresourcemanager.googleapis.com", kind
    # A data source that calls an API waits for it (deferred to apply on an empty project).
    for source in data_sources(root, ""):
        if api_for_type(source.type):
            assert "${google_project_service.enabled}" in source.body["depends_on"], source.name


# --- d. provider constraints ----------------------------------------------------------------


def provider_constraints(config: Config) -> dict[str, str]:
    (terraform,) = config["terraform"]
    (providers,) = terraform["required_providers"]
    return {name: spec["version"] for name, spec in providers.items() if not name.startswith("__")}


def test_the_constraint_reader():
    assert satisfies("6.47.0", ">= 6.47, < 8.0")
    assert not satisfies("6.46.9", ">= 6.47, < 8.0")
    assert not satisfies("8.0.0", ">= 6.47, < 8.0")
    assert satisfies("7.3.1", ">= 6.47, < 8.0")
    assert satisfies("1.11.4", ">= 1.7")
    assert satisfies("5.9.0", "~> 5.2")
    assert not satisfies("6.0.0", "~> 5.2")
    assert not satisfies("5.3.0", "~> 5.2.1")


@pytest.mark.parametrize(
    "folder", [TERRAFORM, MODULE, BOOTSTRAP], ids=["root", "module", "bootstrap"]
)
def test_provider_constraints_admit_the_gpu_job_arguments(folder):
    """google 6.47 is the first with Cloud Run jobs' node_selector and
    gpu_zonal_redundancy_disabled; 8.0 is a major version nobody has tried."""
    constraints = provider_constraints(parse(folder))

    assert "google" in constraints
    for name in ("google", "google-beta"):
        if name not in constraints:
            continue
        assert satisfies("6.47.0", constraints[name]), (name, constraints[name])
        assert not satisfies("6.46.0", constraints[name]), (name, constraints[name])
        assert not satisfies("6.46.9", constraints[name]), (name, constraints[name])
        assert not satisfies("8.0.0", constraints[name]), (name, constraints[name])


def test_the_beta_provider_is_configured_like_the_google_one(root):
    """google_project_service_identity is beta-only: the root needs google-beta, configured
    for the same project and region."""
    constraints = provider_constraints(root)
    configured = {
        name: {k: v for k, v in body.items() if not k.startswith("__")}
        for entry in root["provider"]
        for name, body in entry.items()
    }

    assert constraints["google-beta"] == constraints["google"]
    assert configured["google-beta"] == configured["google"]
    beta_users = [r for r in resources(root, "") if r.body.get("provider") == "google-beta"]
    assert {r.type for r in beta_users} == {"google_project_service_identity"}


def test_no_lock_file_is_invented():
    """The lock file is generated by terraform (cloudbuild.yaml), never written by hand; when
    it is committed it pins providers the constraints admit."""
    lock = TERRAFORM / ".terraform.lock.hcl"
    if not lock.exists():
        pytest.skip("terraform/.terraform.lock.hcl is not committed yet (cloudbuild.yaml)")
    text = lock.read_text()
    for name, constraint in provider_constraints(parse(TERRAFORM)).items():
        match = re.search(
            rf'provider "registry.terraform.io/hashicorp/{name}" {{\s*version\s*=\s*"([^"]+)"',
            text,
        )
        assert match, name
        assert satisfies(match[1], constraint), (name, match[1], constraint)


# --- e. back-pressure -----------------------------------------------------------------------


def catalog(root: Config) -> dict[str, dict[str, Any]]:
    return local(root, "function_catalog")


def instance_cap(root: Config, entry: dict[str, Any]) -> int:
    """max_instance_count of an entry, var.<name> resolved to its default."""
    cap = entry.get("max_instance_count")
    default = re.search(r"try\(spec\.max_instance_count, (\d+)\)", local(root, "functions"))
    assert default
    if cap is None:
        return int(default[1])
    if isinstance(cap, str):
        match = re.fullmatch(r"\$\{var\.(\w+)\}", cap)
        assert match, cap
        return int(variables(root)[match[1]]["default"])
    return int(cap)


def module_concurrency(module: Config) -> int:
    service = variables(module)["service"]["type"]
    match = re.search(r"max_instance_request_concurrency = optional\(number, (\d+)\)", service)
    assert match
    return int(match[1])


def consumer(root: Config, module: Config, name: str) -> Consumer:
    entry = catalog(root)[name]
    return Consumer(
        name=name,
        instances=instance_cap(root, entry) * module_concurrency(module),
        expected_burst=entry["delivery"]["expected_burst"],
        seconds_per_message=entry["delivery"]["seconds_per_message"],
    )


def budget(root: Config, name: str) -> DeliveryBudget:
    entry = catalog(root)[name]
    declared = variables(root)
    return DeliveryBudget(
        max_delivery_attempts=entry["delivery"]["max_delivery_attempts"],
        minimum_backoff_seconds=declared["min_backoff_seconds"]["default"],
        maximum_backoff_seconds=declared["max_backoff_seconds"]["default"],
        retention_seconds=entry["delivery"]["retention_days"] * DAY,
    )


def test_the_module_receives_each_functions_delivery(root, module):
    (call,) = module_calls(root).values()
    delivery = call["delivery"]

    assert "delivery = spec.delivery" in local(root, "functions")
    assert delivery == {
        "expected_burst": "${each.value.delivery.expected_burst}",
        "seconds_per_message": "${each.value.delivery.seconds_per_message}",
        "max_delivery_attempts": "${each.value.delivery.max_delivery_attempts}",
        "message_retention_duration": "${each.value.delivery.retention_days * 86400}s",
        "minimum_backoff_seconds": "${var.min_backoff_seconds}",
        "maximum_backoff_seconds": "${var.max_backoff_seconds}",
    }
    (subscription,) = [
        r for r in resources(module, "") if r.address == "google_pubsub_subscription.delivery"
    ]
    policy = subscription.block("dead_letter_policy")
    assert policy["max_delivery_attempts"] == "${var.delivery.max_delivery_attempts}"
    assert subscription.body["message_retention_duration"] == (
        "${var.delivery.message_retention_duration}"
    )
    retry = subscription.block("retry_policy")
    assert retry["minimum_backoff"] == "${var.delivery.minimum_backoff_seconds}s"
    assert retry["maximum_backoff"] == "${var.delivery.maximum_backoff_seconds}s"


def test_every_subscription_absorbs_its_burst(root, module):
    """shared/platform/backpressure.py finds nothing wrong with any function's budget, and the
    budget is the smallest that passes: attempts = required_attempts(burst), retention the
    drain rounded up to days (7 at least)."""
    for name, entry in catalog(root).items():
        found = consumer(root, module, name)
        given = budget(root, name)
        days = entry["delivery"]["retention_days"]

        assert problems(found, given) == [], name
        assert given.max_delivery_attempts == required_attempts(found.expected_burst), name
        assert days >= max(7, math.ceil(drain_seconds(found) / DAY)), name
        assert days * DAY <= PUBSUB_MAX_RETENTION_SECONDS, name
    worker = consumer(root, module, "critique_worker")
    assert worker.instances == 20
    assert drain_seconds(worker) == 2 * 350_000 * 30 / 20


def test_the_old_budget_dead_letters_a_critique_fanout(root, module):
    """5 attempts and 7 days (the budget before back-pressure was sized) lose healthy items
    of a 350k fan-out: the rule is not vacuous."""
    old = DeliveryBudget(
        max_delivery_attempts=5,
        minimum_backoff_seconds=10,
        maximum_backoff_seconds=600,
        retention_seconds=7 * DAY,
    )
    found = problems(consumer(root, module, "critique_worker"), old)

    assert any("max_delivery_attempts 5" in problem for problem in found), found
    assert any("retention" in problem for problem in found), found


def backpressure_preconditions(module: Config) -> list[dict[str, Any]]:
    (subscription,) = [
        r for r in resources(module, "") if r.address == "google_pubsub_subscription.delivery"
    ]
    return [
        rule
        for rule in subscription.block("lifecycle")["precondition"]
        if "subscription_filter" not in rule["condition"]
    ]


def preconditions_hold(module: Config, delivery: dict[str, Any], instances: int) -> bool:
    scope = hcl_scope(
        {
            "delivery": delivery,
            "service": {"max_instance_count": instances, "max_instance_request_concurrency": 1},
        },
        locals_of(module),
    )
    return all(evaluate(rule["condition"], scope) for rule in backpressure_preconditions(module))


def test_the_plan_checks_the_same_rule(root, module):
    """The subscription's preconditions are the rule of shared/platform/backpressure.py in
    HCL: they agree with problems() on every function and on a grid of budgets, so raising a
    burst or lowering a cap without the budget fails the plan."""
    rules = backpressure_preconditions(module)
    conditions = " ".join(rule["condition"] for rule in rules)
    locals_ = locals_of(module)

    assert len(rules) == 4
    assert "local.required_attempts" in conditions
    assert "local.retention_seconds >= local.drain_seconds" in conditions
    assert "10 <= var.delivery.minimum_backoff_seconds" in conditions
    assert locals_["dead_letter_odds"] == DEAD_LETTER_ODDS
    assert locals_["max_retention"] == PUBSUB_MAX_RETENTION_SECONDS
    for rule in rules:
        assert "${var.name}" in rule["error_message"]

    for name, entry in catalog(root).items():
        given = budget(root, name)
        delivery = {
            **entry["delivery"],
            "minimum_backoff_seconds": given.minimum_backoff_seconds,
            "maximum_backoff_seconds": given.maximum_backoff_seconds,
            "message_retention_duration": f"{entry['delivery']['retention_days'] * DAY}s",
        }
        assert preconditions_hold(module, delivery, instance_cap(root, entry)), name

    grid = itertools.product(
        [1, 100, 1000, 350_000, 10**7],  # burst
        [1, 30, 300],  # seconds per message
        [1, 4, 20],  # instances
        [5, 17, 29, 100],  # attempts
        [7, 14, 31],  # retention days
        [(5, 600), (10, 600), (10, 5), (60, 300)],  # backoff
    )
    for burst, seconds, instances, attempts, days, (low, high) in grid:
        delivery = {
            "expected_burst": burst,
            "seconds_per_message": seconds,
            "max_delivery_attempts": attempts,
            "minimum_backoff_seconds": low,
            "maximum_backoff_seconds": high,
            "message_retention_duration": f"{days * DAY}s",
        }
        expected = not problems(
            Consumer("f", instances, burst, seconds),
            DeliveryBudget(attempts, low, high, days * DAY),
        )
        assert preconditions_hold(module, delivery, instances) == expected, delivery


def test_lowering_the_worker_cap_fails_the_plan(root, module):
    """critique_worker's retention covers a fan-out from 20 workers, not from 10."""
    entry = catalog(root)["critique_worker"]
    delivery = {
        **entry["delivery"],
        "minimum_backoff_seconds": 10,
        "maximum_backoff_seconds": 600,
        "message_retention_duration": f"{entry['delivery']['retention_days'] * DAY}s",
    }

    assert preconditions_hold(module, delivery, 20)
    assert not preconditions_hold(module, delivery, 10)


def test_the_entry_point_dead_letters_real_failures_itself(root, module):
    """VIDCURATE_HANDLER_DEAD_LETTERS: the function publishes to its own dead-letter topic,
    which it may (and, before its subscription delivers, does)."""
    module_resources = by_address(module)
    grant = module_resources["google_pubsub_topic_iam_member.dead_letter_runtime_publisher"]
    subscription = module_resources["google_pubsub_subscription.delivery"]
    environment = local(root, "function_environment")

    assert grant.body["topic"] == "${google_pubsub_topic.dead_letter.name}"
    assert grant.body["role"] == "roles/pubsub.publisher"
    assert grant.body["member"] == "serviceAccount:${local.runtime_sa_email}"
    assert (
        "${google_pubsub_topic_iam_member.dead_letter_runtime_publisher}"
        in (subscription.body["depends_on"])
    )
    assert 'VIDCURATE_HANDLER_DEAD_LETTERS = "true"' in environment
    described = variables(root)["max_delivery_attempts"]["description"]
    assert "handler" in described
    assert "VIDCURATE_MAX_DELIVERY_ATTEMPTS" in described


# --- h. explicit CPU ------------------------------------------------------------------------


def mebibytes(memory: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", memory)
    assert match, memory
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


def fits_cloud_run(cpu: str, memory: str) -> bool:
    """Cloud Run's CPU and memory rule for whole CPUs: at most 4 GiB per CPU, and at least
    2 GiB for 4 CPUs, 4 GiB for 6 or 8."""
    if cpu not in {"1", "2", "4", "6", "8"}:
        return False
    size = mebibytes(memory)
    return size <= 4096 * int(cpu) and size >= {"4": 2048, "6": 4096, "8": 4096}.get(cpu, 0)


def test_every_function_has_an_explicit_cpu_that_fits_its_memory(root, module):
    default_memory = re.search(
        r'available_memory = try\(spec.available_memory, "(\w+)"\)', local(root, "functions")
    )
    assert default_memory
    (call,) = module_calls(root).values()
    service = variables(module)["service"]

    assert "available_cpu = spec.available_cpu" in local(root, "functions")
    assert call["service"]["available_cpu"] == "${each.value.available_cpu}"
    # Required in the module: no null, no default.
    assert "available_cpu = string," in service["type"]
    assert "available_cpu = optional" not in service["type"]
    for name, entry in catalog(root).items():
        memory = entry.get("available_memory", default_memory[1])
        assert isinstance(entry.get("available_cpu"), str), name
        assert fits_cloud_run(entry["available_cpu"], memory), (name, entry["available_cpu"])
        # Functions holding GiBs in memory, and the decoder, get a second CPU.
        if mebibytes(memory) >= 4096 or name == "extract_frames":
            assert entry["available_cpu"] == "2", name
    assert fits_cloud_run("1", "4Gi")
    assert not fits_cloud_run("1", "8Gi")
    assert not fits_cloud_run("4", "1Gi")
    assert not fits_cloud_run("0.5", "512Mi")
    # The module refuses what Cloud Run would.
    conditions = " ".join(rule["condition"] for rule in service["validation"])
    assert 'contains(["1", "2", "4", "6", "8"], var.service.available_cpu)' in conditions
    assert "<= 4096 * tonumber(var.service.available_cpu)" in conditions


# --- access logs, build account: what an organisation policy or a new project refuses ------


def test_access_logs_are_optional(root):
    """The log writer is a Google group that domain-restricted organisations refuse."""
    declared = variables(root)["access_logs"]
    root_resources = by_address(root)

    assert declared["default"] is False
    assert "cloud-storage-analytics@google.com" in declared["description"]
    assert root_resources["google_storage_bucket.access_logs"].body["count"] == (
        "${var.access_logs ? 1 : 0}"
    )
    assert root_resources["google_storage_bucket_iam_member.access_log_writer"].body["count"] == (
        "${var.access_logs ? 1 : 0}"
    )
    for address in ("google_storage_bucket.data", "google_storage_bucket.function_sources"):
        bucket = root_resources[address]
        assert "logging" not in bucket.body, address
        (logging,) = [block for block in bucket.body["dynamic"] if "logging" in block]
        assert logging["logging"]["for_each"] == "${google_storage_bucket.access_logs}", address


def test_the_build_account_reads_the_function_sources(root):
    root_resources = by_address(root)
    grant = root_resources["google_storage_bucket_iam_member.function_sources_builder"]
    (call,) = module_calls(root).values()

    assert grant.body["count"] == "${var.build_service_account == null ? 0 : 1}"
    assert grant.body["bucket"] == "${google_storage_bucket.function_sources.name}"
    assert grant.body["role"] == "roles/storage.objectViewer"
    assert "${google_storage_bucket_iam_member.function_sources_builder}" in call["depends_on"]


def test_outputs_read_only_what_exists(root):
    """No output names a resource that is gone (the secrets output follows api_keys)."""
    graph = build_graph(root)
    declared = set(graph.edges)
    for name, output in outputs(root).items():
        for ref in references(output["value"]):
            if not ref.startswith("var."):
                assert ref in declared, (name, ref)

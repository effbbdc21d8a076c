"""terraform/bootstrap prepares an empty project for cloudbuild.yaml, and cloudbuild.yaml
deploys the main configuration as the account the bootstrap creates (issue 14)."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from terraform_config import (
    CLOUDBUILD,
    ENABLED,
    REPO,
    build_graph,
    by_address,
    cloudbuild_steps,
    data_sources,
    local,
    local_set,
    outputs,
    resources,
    satisfies,
    step_script,
    validation_condition,
    variables,
)
from terraform_config import api_of as api_for_type

# What the deployer may do on the project, each for what terraform/ creates (the README lists
# the same roles; terraform/bootstrap/main.tf says why each).
DEPLOYER_ROLES = {
    "roles/cloudfunctions.developer",  # the functions (no function-level IAM)
    "roles/run.admin",  # run.invoker on each function's service; the web app's service
    "roles/iap.admin",  # who may pass the web app's Identity-Aware Proxy
    "roles/iam.serviceAccountAdmin",  # runtime and push accounts, token-creator bindings
    "roles/iam.serviceAccountUser",  # actAs: runtime, builder and push accounts
    "roles/resourcemanager.projectIamAdmin",  # datastore.user only (a condition)
    "roles/storage.admin",  # buckets, bindings, notifications, archives, state
    "roles/pubsub.admin",  # topics, subscriptions, bindings
    "roles/secretmanager.admin",  # accessor bindings, version metadata
    "roles/datastore.owner",  # database, index exemptions, TTL
    "roles/cloudscheduler.admin",  # the scheduled export
    "roles/serviceusage.serviceUsageAdmin",  # APIs, the Pub/Sub and IAP service agents
    "roles/logging.logWriter",  # the build's own logs
}
BUILDER_ROLES = {"roles/logging.logWriter", "roles/artifactregistry.writer"}
# The steps of a deploy, in order, and what each waits for (the web app's image is built and
# pushed beside the archives and init, before the plan that deploys it).
STEPS = ["test", "build", "init", "plan", "apply"]
WAITS_FOR = {
    "build": ["test"],
    "web-image": ["test"],
    "learn-image": ["test"],
    "init": ["build"],
    "plan": ["init", "web-image", "learn-image"],
    "apply": ["plan"],
}


# --- f. the bootstrap -----------------------------------------------------------------------


def test_the_bootstrap_enables_every_api_the_deploy_needs(bootstrap, root):
    """The main configuration's APIs, plus the two terraform calls before any of them is on:
    Cloud Resource Manager (project IAM) and Service Usage (enabling the rest)."""
    needed = local_set(root, "apis") | {
        "cloudresourcemanager.googleapis.com",
        "serviceusage.googleapis.com",
    }
    enabled = by_address(bootstrap)[ENABLED]

    assert local_set(bootstrap, "apis") == needed
    assert enabled.body["for_each"] == "${local.apis}"
    assert enabled.body["disable_on_destroy"] is False


def test_everything_in_the_bootstrap_waits_for_its_api(bootstrap):
    graph = build_graph(bootstrap)
    callers = {node: kind for node, kind in graph.types.items() if api_for_type(kind)}

    assert "data.google_project.this" in callers
    for node in callers:
        if node != ENABLED:
            assert graph.reaches(node, ENABLED), node
    (project,) = [s for s in data_sources(bootstrap, "") if s.type == "google_project"]
    assert project.body["depends_on"] == [f"${{{ENABLED}}}"]


def test_the_state_bucket_keeps_every_state_and_is_never_public(bootstrap):
    bucket = by_address(bootstrap)["google_storage_bucket.state"]
    declared = variables(bootstrap)
    (rule,) = bucket.body["lifecycle_rule"]

    assert local(bootstrap, "state_bucket") == (
        '${coalesce(var.state_bucket, "${var.project_id}-tfstate")}'
    )
    assert declared["state_bucket"]["default"] is None
    assert bucket.body["name"] == "${local.state_bucket}"
    assert bucket.block("versioning") == {"enabled": True, "__is_block__": True}
    assert bucket.body["uniform_bucket_level_access"] is True
    assert bucket.body["public_access_prevention"] == "enforced"
    assert "force_destroy" not in bucket.body
    assert bucket.block("lifecycle")["prevent_destroy"] is True
    # Old states expire after N days (noncurrent versions only).
    assert rule["condition"][0] == {
        "days_since_noncurrent_time": "${var.state_noncurrent_version_retention_days}",
        "__is_block__": True,
    }
    assert rule["action"][0]["type"] == "Delete"


def test_the_deployer_holds_exactly_the_roles_of_a_deploy(bootstrap, root):
    resources_ = by_address(bootstrap)
    deployer = resources_["google_service_account.deployer"]
    grants = resources_["google_project_iam_member.deployer"]

    assert deployer.body["account_id"] == "vidcurate-deployer"
    assert local_set(bootstrap, "deployer_roles") == DEPLOYER_ROLES
    assert grants.body["for_each"] == "${local.deployer_roles}"
    assert grants.body["member"] == "serviceAccount:${google_service_account.deployer.email}"
    assert "roles/owner" not in DEPLOYER_ROLES
    assert "roles/editor" not in DEPLOYER_ROLES


def test_the_deployer_may_grant_only_the_project_roles_terraform_grants(bootstrap, root):
    """projectIamAdmin would let it grant itself Owner: a condition limits it to the project
    roles the main configuration grants (google_project_iam_member)."""
    grants = by_address(bootstrap)["google_project_iam_member.deployer"]
    (condition,) = grants.body["dynamic"]
    granted_by_root = {
        r.body["role"] for r in resources(root, "") if r.type == "google_project_iam_member"
    }

    assert condition["condition"]["for_each"] == (
        '${each.key == "roles/resourcemanager.projectIamAdmin" '
        "? [local.deployer_grantable_roles] : []}"
    )
    (content,) = condition["condition"]["content"]
    assert content["expression"] == (
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
        ".hasOnly(${jsonencode(condition.value)})"
    )
    assert local_set(bootstrap, "deployer_grantable_roles") == granted_by_root
    assert granted_by_root == {"roles/datastore.user"}


def test_the_builder_can_build_a_function_and_nothing_else(bootstrap, root):
    resources_ = by_address(bootstrap)
    builder = resources_["google_service_account.builder"]
    sources = resources_["google_project_iam_member.builder_function_sources"]

    assert builder.body["account_id"] == "vidcurate-builder"
    assert local_set(bootstrap, "builder_roles") == BUILDER_ROLES
    assert resources_["google_project_iam_member.builder"].body["for_each"] == (
        "${local.builder_roles}"
    )
    # Cloud Functions' copies of the sources, in its own buckets only.
    assert sources.body["role"] == "roles/storage.objectViewer"
    assert sources.block("condition")["expression"].replace('\\"', '"') == (
        'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-'
        '${data.google_project.this.number}-")'
    )
    # The main configuration grants it the bucket the archives are uploaded to.
    assert "google_storage_bucket_iam_member.function_sources_builder" in by_address(root)


def test_the_outputs_are_what_the_deploy_takes(bootstrap, root):
    declared = outputs(bootstrap)

    assert declared["state_bucket"]["value"] == "${google_storage_bucket.state.name}"
    assert declared["deployer_service_account"]["value"] == (
        "${google_service_account.deployer.email}"
    )
    # google_service_account.name is projects/<project>/serviceAccounts/<email>, the form
    # var.build_service_account validates.
    assert declared["build_service_account"]["value"] == "${google_service_account.builder.name}"
    assert "projects/[^/]+/serviceAccounts/" in validation_condition(root, "build_service_account")
    assert declared["project_number"]["value"] == "${data.google_project.this.number}"
    assert "next_command" in declared


def substitutions_used(value: Any) -> set[str]:
    text = yaml.safe_dump(value)
    return set(re.findall(r"\$\{?(_[A-Z0-9_]+)", text))


def needed_substitutions(cloudbuild: dict[str, Any]) -> set[str]:
    """The substitutions that say which project, identity and state a deploy uses: those
    the build's identity and its terraform steps read (not the tool images)."""
    steps = cloudbuild_steps(cloudbuild)
    needed = substitutions_used(cloudbuild["serviceAccount"])
    for step in ("init", "plan", "apply"):
        needed |= substitutions_used(steps[step]["args"])
    return needed


def test_next_command_sets_every_substitution_of_a_deploy(bootstrap, cloudbuild):
    command = outputs(bootstrap)["next_command"]["value"]
    given = local(bootstrap, "substitutions")
    needed = needed_substitutions(cloudbuild)

    assert needed == {
        "_DEPLOYER",
        "_PROJECT_NUMBER",
        "_BUILD_SERVICE_ACCOUNT",
        "_API_KEYS",
        "_STATE_BUCKET",
        "_REGION",
    }
    assert set(given) == needed
    assert set(given) <= set(cloudbuild["substitutions"])
    assert command.startswith(
        '${format("gcloud builds submit --project=%s --config=cloudbuild.yaml'
    )
    assert "--substitutions='%s'" in command
    assert "local.substitutions" in command
    assert given["_API_KEYS"] == "[]"
    assert given["_BUILD_SERVICE_ACCOUNT"] == "${google_service_account.builder.name}"
    assert given["_DEPLOYER"] == "${google_service_account.deployer.email}"
    assert given["_PROJECT_NUMBER"] == "${data.google_project.this.number}"
    assert given["_STATE_BUCKET"] == "${google_storage_bucket.state.name}"


def test_cloudbuild_defaults_name_what_the_bootstrap_creates(cloudbuild):
    """A later deploy may leave the substitutions out: their defaults are the bootstrap's."""
    defaults = cloudbuild["substitutions"]

    assert defaults["_DEPLOYER"] == "vidcurate-deployer@${PROJECT_ID}.iam.gserviceaccount.com"
    assert defaults["_BUILD_SERVICE_ACCOUNT"] == (
        "projects/${PROJECT_ID}/serviceAccounts/vidcurate-builder@${PROJECT_ID}.iam.gserviceaccount.com"
    )
    assert defaults["_STATE_BUCKET"] == "${PROJECT_ID}-tfstate"
    assert defaults["_PROJECT_NUMBER"] == "${PROJECT_NUMBER}"
    assert defaults["_API_KEYS"] == "[]"
    assert cloudbuild["options"]["dynamicSubstitutions"] is True


# --- g. cloudbuild.yaml ---------------------------------------------------------------------


def test_cloudbuild_tests_builds_inits_plans_and_applies_in_order(cloudbuild):
    ids = [step["id"] for step in cloudbuild["steps"]]
    by_id = cloudbuild_steps(cloudbuild)

    assert [step for step in ids if step in STEPS] == STEPS
    # Each waits for the one before (Cloud Build runs steps with waitFor in parallel); the
    # plan also waits for the web app's and the active-learning job's images.
    for before, after in itertools.pairwise(STEPS):
        assert before in by_id[after]["waitFor"], after
    for step, waits in WAITS_FOR.items():
        assert by_id[step]["waitFor"] == waits, step
    script = {step: step_script(cloudbuild, step) for step in ("init", "plan", "apply")}
    assert "terraform -chdir=terraform init" in script["init"]
    assert '-backend-config="bucket=${_STATE_BUCKET}"' in script["init"]
    assert "terraform -chdir=terraform plan -input=false -out=tfplan" in script["plan"]
    assert "terraform -chdir=terraform apply -input=false tfplan" in script["apply"]


def test_cloudbuild_passes_every_required_variable(cloudbuild, root):
    plan = step_script(cloudbuild, "plan")
    required = {name for name, body in variables(root).items() if "default" not in body}

    assert required == {"project_id", "project_number"}
    for name in [*required, "region", "build_service_account", "api_keys", "python_executable"]:
        assert re.search(rf"-var=[\"']{name}=", plan), name
    assert "-var='api_keys=${_API_KEYS}'" in plan


def test_cloudbuild_runs_as_the_deployer(cloudbuild):
    assert cloudbuild["serviceAccount"] == "projects/$PROJECT_ID/serviceAccounts/${_DEPLOYER}"
    # A user-specified service account's build logs must go to Cloud Logging or a bucket.
    assert cloudbuild["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert "roles/logging.logWriter" in DEPLOYER_ROLES


def test_terraform_is_pinned_to_a_patch_version(cloudbuild, root, bootstrap):
    image = cloudbuild["substitutions"]["_TERRAFORM_IMAGE"]
    match = re.fullmatch(r"hashicorp/terraform:(\d+\.\d+\.\d+)", image)
    tools = cloudbuild_steps(cloudbuild)["tools"]

    assert match, image
    assert tools["name"] == "${_TERRAFORM_IMAGE}"
    for config in (root, bootstrap):
        (terraform,) = config["terraform"]
        assert satisfies(match[1], terraform["required_version"]), terraform["required_version"]


def test_the_lock_file_is_used_when_committed_and_saved_when_not(cloudbuild):
    init = step_script(cloudbuild, "init")
    lock_command = (
        "terraform -chdir=terraform providers lock "
        "-platform=linux_amd64 -platform=darwin_arm64 -platform=darwin_amd64"
    )

    assert "if [ -f terraform/.terraform.lock.hcl ]" in init
    assert "-lockfile=readonly" in init
    assert lock_command in init
    assert lock_command in CLOUDBUILD.read_text().split("steps:")[0]
    assert "terraform/.terraform.lock.hcl" in cloudbuild["artifacts"]["objects"]["paths"]


def test_git_keeps_the_lock_file():
    """.gitignore must not hide terraform/.terraform.lock.hcl, or it is never committed."""
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        [git, "-C", str(REPO), "check-ignore", "-q", "terraform/.terraform.lock.hcl"],
        check=False,
    )
    assert ignored.returncode == 1, "terraform/.terraform.lock.hcl is git-ignored"

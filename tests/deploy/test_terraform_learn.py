"""The active-learning rounds run as a Cloud Run job with one NVIDIA L4 GPU, deployed by the
same run as everything else: cloudbuild.yaml builds and pushes its image
(infra/learn/Dockerfile) into the repository terraform/bootstrap creates, and
terraform/learn.tf runs it as its own, least privileged service account; the operators start
executions with their own arguments (container overrides).

terraform cannot plan here, and docker does not run here: these tests read the terraform
(terraform_config.py), cloudbuild.yaml, the Dockerfile and .dockerignore (docker_build.py).
One test resolves the image's Python requirements with pip (it needs an index).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from docker_build import (
    TORCH_REQUIREMENTS,
    arguments_of,
    assert_build_context,
    assert_installs_the_package_only,
    assert_runs_as_a_user,
    build_arguments,
    check_image_arguments,
    copied_sources,
    distributions,
    dockerfile_instructions,
    load_check_image,
    load_torch_requirements,
    optional_dependencies,
    run_script,
)
from terraform_config import (
    REPO,
    CloudRunApp,
    assert_accepts_only,
    by_address,
    evaluate,
    hcl_list,
    hcl_regex,
    hcl_scope,
    local,
    local_set,
    outputs,
    resources,
    strings,
    validation_condition,
    variables,
)

from shared.config import Settings
from shared.platform.settings import BUCKET_ROLES

LEARN = CloudRunApp("learn", "google_cloud_run_v2_job.learn")
ENTRY_POINT = "/app/jobs/active_learning/main.py"
OPERATORS = "google_cloud_run_v2_job_iam_member.learn_operators"

# The Cloud Run regions whose jobs offer the NVIDIA L4 ("Configure GPUs for Cloud Run jobs";
# asia-south1 by invitation).
L4_REGIONS = {"asia-south1", "asia-southeast1", "europe-west1", "europe-west4", "us-central1"}

# Import name -> distribution, for what the job's image may install from the learn and media
# extras and the job imports (scikit-learn only if the learn extra installs it: the round's
# metrics are computed without it).
LEARN_MODULES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib",
    "av": "av",
    "PIL": "pillow",
}
# What the job cannot run without, whatever else the extras add.
REQUIRED_MODULES = {"torch", "torchvision", "matplotlib", "av", "PIL"}


def learn_extra() -> list[str]:
    """pyproject.toml's ``learn`` extra; the test skips until it exists."""
    extras = optional_dependencies()
    if "learn" not in extras:
        pytest.skip("pyproject.toml has no `learn` extra yet (the job's Python side adds it)")
    return list(extras["learn"])


def pinned(requirements: list[str], name: str) -> str:
    """The version ``name==X`` pins in ``requirements``."""
    for requirement in requirements:
        match = re.fullmatch(rf"\s*{re.escape(name)}\s*==\s*([^\s;,]+)\s*", requirement, re.I)
        if match:
            return match[1]
    raise AssertionError(f"{name} is not pinned with == in {requirements}")


# --- only with an image ---------------------------------------------------------------------


def test_the_job_is_deployed_only_with_an_image(root):
    """var.learn_image = null (the default): no job, account or grant, so a plan without an
    image (the tests, a first look) works; cloudbuild.yaml always passes one."""
    names = LEARN.assert_deployed_only_with_image(root)

    assert set(names) == {
        LEARN.address,
        LEARN.account,
        OPERATORS,
        "google_project_iam_member.learn_datastore_user",
        "google_storage_bucket_iam_member.learn",
    }


def test_the_image_variable_accepts_what_cloudbuild_passes(root):
    assert_accepts_only(
        LEARN.image_pattern(root),
        good=(
            "europe-west1-docker.pkg.dev/my-project/vidcurate/learn:0b7c6e0e-1d2f-4a57-9d3e-2b2f9f1c7a10",
            "us-docker.pkg.dev/p/r/learn@sha256:" + "a" * 64,
        ),
        bad=("", "learn", "learn:latest", "europe-west1-docker.pkg.dev/p/r/learn", "a b/c:d"),
    )


# --- the job --------------------------------------------------------------------------------


def test_the_job_runs_one_task_on_one_l4_without_zonal_redundancy(root):
    body = LEARN.resource(root).body
    (execution,) = body["template"]
    task = LEARN.template(root)
    (selector,) = task["node_selector"]
    (limits,) = LEARN.container(root)["resources"]

    assert body["name"] == "${local.learn_job_name}"
    assert local(root, "learn_job_name") == "vidcurate-active-learning"
    assert body["location"] == "${var.region}"
    assert body["deletion_protection"] is False
    # node_selector and gpu_zonal_redundancy_disabled are GA in the google provider (6.47,
    # which versions.tf requires): no beta provider.
    assert "provider" not in body
    assert execution["task_count"] == 1
    assert execution["parallelism"] == 1
    assert selector["accelerator"] == "nvidia-l4"
    assert set(selector) <= {"accelerator", "__is_block__"}
    assert task["gpu_zonal_redundancy_disabled"] is True
    # The minimum Cloud Run pairs with an L4.
    assert limits["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert LEARN.container(root)["image"] == "${var.learn_image}"
    # The arguments come from each execution's override, the command from the image.
    assert "args" not in LEARN.container(root)
    assert "command" not in LEARN.container(root)
    assert "${google_project_service.enabled}" in body["depends_on"]


def test_the_timeout_and_retries_come_from_the_variables(root):
    task = LEARN.template(root)
    declared = variables(root)
    timeout_rule = validation_condition(root, "learn_task_timeout_seconds")
    retries_rule = validation_condition(root, "learn_max_retries")

    assert task["timeout"] == "${var.learn_task_timeout_seconds}s"
    assert task["max_retries"] == "${var.learn_max_retries}"
    assert declared["learn_task_timeout_seconds"]["type"] == "number"
    assert declared["learn_max_retries"]["type"] == "number"
    # An hour is Cloud Run's GA limit for a task with a GPU; the default stays within it.
    assert declared["learn_task_timeout_seconds"]["default"] == 3600
    assert local(root, "learn_ga_timeout_seconds") == 3600
    assert declared["learn_max_retries"]["default"] == 3

    def timeout_ok(seconds: float) -> bool:
        return evaluate(timeout_rule, hcl_scope({"learn_task_timeout_seconds": seconds}))

    def retries_ok(count: float) -> bool:
        return evaluate(retries_rule, hcl_scope({"learn_max_retries": count}))

    for good in (60, 3600, 21600, 43200):
        assert timeout_ok(good), good
    for bad in (0, 59, 43201, 90.5):
        assert not timeout_ok(bad), bad
    for good in (0, 3, 10):
        assert retries_ok(good), good
    for bad in (-1, 11, 1.5):
        assert not retries_ok(bad), bad


def test_a_longer_timeout_declares_the_preview_launch_stage(root):
    """Cloud Run runs GPU tasks longer than an hour (up to 12) as a preview feature, which a
    job must declare with launch stage BETA; within the hour nothing is declared."""
    assert LEARN.resource(root).body["launch_stage"] == (
        '${var.learn_task_timeout_seconds > local.learn_ga_timeout_seconds ? "BETA" : null}'
    )


def test_the_job_runs_only_where_cloud_run_offers_l4_to_jobs(root):
    (precondition,) = LEARN.resource(root).body["lifecycle"][0]["precondition"]
    regions = local(root, "learn_gpu_regions")

    assert set(hcl_list(regions)) == L4_REGIONS
    assert precondition["condition"] == "${contains(local.learn_gpu_regions, var.region)}"
    message = precondition["error_message"]
    assert "${var.region}" in message
    assert '${join(", ", local.learn_gpu_regions)}' in message
    assert "learn_image null" in message
    # The default region has L4s: a default deploy passes.
    assert variables(root)["region"]["default"] in L4_REGIONS


def test_the_job_runs_as_its_own_account_with_exactly_its_roles(root):
    """datastore.user on the project (labels, the queue, the rounds' documents), objectViewer
    on the frames bucket, objectUser on the models bucket; nothing else, anywhere."""
    account = by_address(root)[LEARN.account]

    assert account.body["account_id"] == "vidcurate-learn"
    assert LEARN.template(root)["service_account"] == "${google_service_account.learn[0].email}"
    # The models bucket exists (among the data buckets, which the helper checks), as a bucket
    # role of the settings.
    LEARN.assert_holds_exactly(
        root, {"frames": "roles/storage.objectViewer", "models": "roles/storage.objectUser"}
    )
    assert "models" in BUCKET_ROLES
    # It holds its roles before the first execution.
    depends_on = LEARN.resource(root).body["depends_on"]
    assert "${google_project_iam_member.learn_datastore_user}" in depends_on
    assert "${google_storage_bucket_iam_member.learn}" in depends_on


def test_the_job_gets_the_functions_settings_models_bucket_included(root):
    """The same VIDCURATE_* environment as the functions (the local itself, not a copy), in
    which every data bucket, the models bucket among them, is VIDCURATE_<ROLE>_BUCKET; no
    secret, no volume."""
    functions_environment = local(root, "function_environment")

    assert local(root, "learn_environment") == "${local.function_environment}"
    LEARN.assert_gets_its_environment(root)
    squeezed = re.sub(r"\s+", "", functions_environment)
    assert (
        '{forrole,bucketingoogle_storage_bucket.data:"VIDCURATE_${upper(role)}_BUCKET"=>bucket.name}'
    ) in squeezed
    assert "models" in hcl_list(local(root, "data_buckets"))
    assert "models_bucket" in Settings.model_fields  # read as VIDCURATE_MODELS_BUCKET


def test_the_operators_may_run_the_job_with_overrides_and_follow_it(root):
    grant = by_address(root)[OPERATORS]
    grants = local(root, "learn_operator_grants")
    declared = variables(root)["learn_operators"]
    principal = hcl_regex(validation_condition(root, "learn_operators"), "member")

    assert local(root, "learn_operator_roles") == [
        "roles/run.jobsExecutorWithOverrides",
        "roles/run.viewer",
    ]
    LEARN.assert_grant_on_it(grant)
    assert grant.body["for_each"] == "${local.learn_operator_grants}"
    assert grant.body["role"] == "${each.value.role}"
    assert grant.body["member"] == "${each.value.member}"
    assert "setproduct(toset(var.learn_operators), local.learn_operator_roles)" in grants
    assert "if local.learn_enabled" in grants
    assert declared["default"] == []
    assert declared["type"] == "${list(string)}"
    assert_accepts_only(
        principal,
        good=(
            "user:a@example.com",
            "group:ml@example.com",
            "serviceAccount:x@p.iam.gserviceaccount.com",
        ),
        bad=("allUsers", "allAuthenticatedUsers", "a@example.com", "user:"),
    )
    # Nothing on the job for anyone else; nothing public anywhere. (The feature-extraction
    # job, features.tf, has its own operators' grant.)
    job_grants = [
        r for r in resources(root, "") if r.type.startswith("google_cloud_run_v2_job_iam")
    ]
    on_this_job = [g for g in job_grants if LEARN.address in " ".join(strings(g.body))]
    assert [g.address for g in on_this_job] == [OPERATORS]
    assert {g.address for g in job_grants} == {
        OPERATORS,
        "google_cloud_run_v2_job_iam_member.features_operators",
    }


def test_the_output_names_the_job_or_is_null(root):
    assert outputs(root)["learn_job"]["value"] == "${one(google_cloud_run_v2_job.learn[*].id)}"


def test_the_apis_of_the_job_are_enabled_first(root, bootstrap):
    LEARN.assert_enabled_first(
        root,
        bootstrap,
        {"run.googleapis.com"},
        (OPERATORS, "google_project_iam_member.learn_datastore_user"),
    )


def test_the_deployer_may_deploy_the_job(bootstrap):
    """run.admin (jobs and their IAM policy), serviceAccountUser (deploying as the job's
    account), projectIamAdmin limited to datastore.user (the job's one project role)."""
    roles = local_set(bootstrap, "deployer_roles")

    assert {
        "roles/run.admin",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.serviceAccountUser",
        "roles/resourcemanager.projectIamAdmin",
        "roles/storage.admin",
    } <= roles
    assert local(bootstrap, "deployer_grantable_roles") == ["roles/datastore.user"]


# --- cloudbuild.yaml ------------------------------------------------------------------------


def test_cloudbuild_pushes_the_image_before_the_plan_deploys_it(cloudbuild, bootstrap, root):
    LEARN.assert_image_pushed_before_plan(cloudbuild, bootstrap, root)


# --- the image ------------------------------------------------------------------------------


def test_the_image_runs_the_entry_point_with_the_execution_arguments():
    """ENTRYPOINT (exec form), no CMD: an execution's container override sets the container's
    args, which replace the image's CMD and follow its ENTRYPOINT."""
    instructions = dockerfile_instructions(LEARN.dockerfile)
    (entrypoint,) = arguments_of(instructions, "ENTRYPOINT")
    copies = [rest.split() for rest in arguments_of(instructions, "COPY")]

    assert json.loads(entrypoint) == ["python", ENTRY_POINT]
    assert not arguments_of(instructions, "CMD")
    assert ["jobs/active_learning/", "/app/jobs/active_learning/"] in copies
    assert_runs_as_a_user(instructions, start="ENTRYPOINT")
    assert arguments_of(instructions, "FROM") == ["python:3.11-slim"]


def test_the_image_installs_torch_for_cuda_12_then_the_package():
    """torch and torchvision at the learn extra's pins, from PyTorch's CUDA 12 index first
    (the L4 machines' driver runs CUDA 12.x, not PyPI's CUDA 13 wheels); then the package
    with the learn and media extras (and the feature-extraction job's, which shares the image:
    test_terraform_features.py), which keeps them; then the check."""
    runs = run_script(dockerfile_instructions(LEARN.dockerfile))
    arguments = build_arguments(LEARN.dockerfile)
    torch_install = 'pip install --index-url "${TORCH_INDEX_URL}" --requirement /tmp/torch.txt'
    package_install = '".[learn,media,features]"'

    assert "python /tmp/torch_requirements.py pyproject.toml > /tmp/torch.txt" in runs
    assert runs.index("torch_requirements.py") < runs.index(torch_install)
    assert runs.index(torch_install) < runs.index(package_install) < runs.index("pip check")
    assert runs.index("pip check") < runs.index("check_image.py")
    assert arguments["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cu128"
    assert arguments["TORCH_CUDA_MAJOR"] == "12"
    assert_installs_the_package_only(runs)


def test_the_image_checks_the_package_the_modules_and_the_cuda_build():
    arguments = check_image_arguments(LEARN.dockerfile)

    assert arguments.sources == Path("/tmp/vidcurate/shared")
    # The features extra's modules are checked too (test_terraform_features.py).
    assert set(arguments.modules) >= REQUIRED_MODULES
    assert arguments.torch_cuda_major == 12


def test_the_checked_modules_are_those_of_the_extras_installed():
    """A module is checked exactly when the learn or media extra installs its distribution."""
    installed_by_extras = distributions(learn_extra() + optional_dependencies()["media"])
    checked = set(check_image_arguments(LEARN.dockerfile).modules)

    for module, distribution in LEARN_MODULES.items():
        installed = distribution in installed_by_extras
        assert (module in checked) == installed, (
            f"{distribution} is {'' if installed else 'not '}in the learn/media extras: "
            f"infra/learn/Dockerfile's check_image.py must {'' if installed else 'not '}"
            f"import {module}"
        )


def test_the_build_context_holds_what_the_image_copies():
    sources = copied_sources(LEARN.dockerfile)

    assert {
        "pyproject.toml",
        "README.md",
        "shared",
        "jobs/active_learning/",
        "infra/web/check_image.py",
        "infra/learn/torch_requirements.py",
    } <= sources
    assert_build_context(
        kept=(
            *sources,
            "jobs/active_learning/main.py",
            "infra/learn/Dockerfile",
            "infra/learn/torch_requirements.py",
        ),
        left_out=(
            "jobs/other_job/main.py",
            "jobs/active_learning/__pycache__/main.cpython-311.pyc",
            "functions/ping/main.py",
            "tests/deploy/test_terraform_learn.py",
            "terraform/learn.tf",
            ".venv/bin/python",
        ),
    )


# --- the build's helpers --------------------------------------------------------------------


def test_torch_requirements_are_the_exact_pins_of_the_learn_extra():
    script = load_torch_requirements()

    def project(*requirements: str) -> dict[str, Any]:
        return {"project": {"optional-dependencies": {"learn": list(requirements)}}}

    assert script.torch_requirements(
        project("scikit-learn>=1.5", "torch==2.14.1", "torchvision == 0.29.1", "matplotlib")
    ) == ["torch==2.14.1", "torchvision == 0.29.1"]
    for broken, reason in (
        ({"project": {}}, "no `learn` extra"),
        (project("torch==2.14.1"), "does not require torchvision"),
        (project("torch>=2.14", "torchvision==0.29.1"), "pin torch exactly"),
        (project("torch==2.14.*", "torchvision==0.29.1"), "pin torch exactly"),
    ):
        with pytest.raises(ValueError, match=re.escape(reason)):
            script.torch_requirements(broken)


def test_torch_requirements_of_this_repository():
    requirements = learn_extra()
    found = subprocess.run(
        [sys.executable, str(TORCH_REQUIREMENTS), str(REPO / "pyproject.toml")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert found.returncode == 0, found.stderr
    assert found.stdout.split("\n")[:2] == [
        f"torch=={pinned(requirements, 'torch')}",
        f"torchvision=={pinned(requirements, 'torchvision')}",
    ]


def test_the_check_refuses_a_torch_the_gpu_driver_cannot_run():
    check = load_check_image()

    assert check.cuda_problem("12.8", 12) is None
    assert check.cuda_problem("12.2", 12) is None
    assert "CPU build" in check.cuda_problem(None, 12)
    assert "CUDA 13.0" in check.cuda_problem("13.0", 12)
    assert check.cuda_problem("13.0", 13) is None


def test_the_check_reads_its_arguments_in_any_order():
    check = load_check_image()

    for argv in (
        ["check_image.py", "--torch-cuda-major", "12", "/src/shared", "torch", "av"],
        ["check_image.py", "/src/shared", "torch", "av", "--torch-cuda-major", "12"],
    ):
        arguments = check.parse_arguments(argv)
        assert arguments.sources == Path("/src/shared")
        assert arguments.modules == ["torch", "av"]
        assert arguments.torch_cuda_major == 12
    web = check.parse_arguments(["check_image.py", "/src/shared", "fastapi"])
    assert web.torch_cuda_major is None
    # A module list is required: an image checks what it installs.
    assert check.main(["check_image.py", "/src/shared"]) == 2


# --- the image's requirements resolve -------------------------------------------------------

# What pip prints when it cannot reach an index (as opposed to a resolution that fails).
NETWORK_FAILURES = (
    "NewConnectionError",
    "NameResolutionError",
    "connection broken by",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "SSLError",
    "Could not fetch URL",
)


def index_answers(folder: Path) -> bool:
    """Whether pip can fetch anything at all: setuptools, which every index has (the control
    for a resolution that failed without saying why)."""
    probe = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"),
            *("--dest", str(folder / "probe"), "setuptools"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_job_image_requirements_resolve(tmp_path: Path):
    """What the image installs (`pip install ".[learn,media]"`) resolves, with torch and
    torchvision at the learn extra's pins: pip's resolver, without installing anything, in a
    subprocess against the indexes pip is configured with. Skipped when pip cannot reach an
    index."""
    requirements = learn_extra()
    report = tmp_path / "report.json"
    try:
        resolved = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--report",
                str(report),
                f"{REPO}[learn,media]",
            ],
            capture_output=True,
            text=True,
            timeout=840,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("pip did not resolve within 14 minutes: no index answered in time")
    if resolved.returncode != 0:
        output = resolved.stdout + resolved.stderr
        lines = output.strip().splitlines() or ["(no output)"]
        why = next((line for line in lines if any(m in line for m in NETWORK_FAILURES)), None)
        if why is not None or not index_answers(tmp_path):
            pytest.skip(f"pip cannot reach an index: {(why or lines[-1]).strip()}")
        pytest.fail(f"the job image's requirements do not resolve:\n{output}")

    installed = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    for name in ("torch", "torchvision"):
        # The public version: a local label (+cu128) would come from another index.
        assert installed[name].split("+")[0] == pinned(requirements, name), name
    for module in set(check_image_arguments(LEARN.dockerfile).modules) & set(LEARN_MODULES):
        assert LEARN_MODULES[module] in installed, module
    assert "vidcurate" in installed

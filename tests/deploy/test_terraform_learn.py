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
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from docker_build import (
    build_arguments,
    check_image_arguments,
    dockerfile_instructions,
    dockerignore_includes,
    load_check_image,
)
from terraform_config import (
    BOOTSTRAP,
    REPO,
    TERRAFORM,
    Config,
    build_graph,
    evaluate,
    hcl_list,
    hcl_scope,
    local,
    outputs,
    parse,
    parse_text,
    references,
    resources,
    strings,
    variables,
)

from shared.config import Settings
from shared.platform.settings import BUCKET_ROLES

CLOUDBUILD = REPO / "cloudbuild.yaml"
DOCKERFILE = REPO / "infra" / "learn" / "Dockerfile"
TORCH_REQUIREMENTS = REPO / "infra" / "learn" / "torch_requirements.py"
LEARN_TF = TERRAFORM / "learn.tf"
ENTRY_POINT = "/app/jobs/active_learning/main.py"

JOB = "google_cloud_run_v2_job.learn"
LEARN_SA = "google_service_account.learn"
OPERATORS = "google_cloud_run_v2_job_iam_member.learn_operators"
ENABLED = "google_project_service.enabled"

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


@pytest.fixture(scope="module")
def root() -> Config:
    return parse(TERRAFORM)


@pytest.fixture(scope="module")
def bootstrap() -> Config:
    return parse(BOOTSTRAP)


@pytest.fixture(scope="module")
def cloudbuild() -> dict[str, Any]:
    return yaml.safe_load(CLOUDBUILD.read_text())


def by_address(config: Config) -> dict[str, Any]:
    return {r.address: r for r in resources(config, "")}


def job(root: Config) -> Any:
    return by_address(root)[JOB]


def task_template(root: Config) -> dict[str, Any]:
    (execution,) = job(root).body["template"]
    (task,) = execution["template"]
    return task


def container(root: Config) -> dict[str, Any]:
    (found,) = task_template(root)["containers"]
    return found


def hcl_regex(condition: str, subject: str) -> re.Pattern[str]:
    """The pattern of ``regex("...", <subject>)`` in a validation condition, HCL escapes
    undone (RE2 and Python agree on these patterns)."""
    match = re.search(r'regex\("((?:[^"\\]|\\.)*)", ' + re.escape(subject) + r"\)", condition)
    assert match, condition
    return re.compile(match[1].replace("\\\\", "\\"))


def render(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda match: values[match[1]], template)


def learn_extra() -> list[str]:
    """pyproject.toml's ``learn`` extra; the test skips until it exists."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {}
    )
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
    declared = variables(root)["learn_image"]
    learn_tf = parse_text(LEARN_TF.read_text())
    graph = build_graph(root)

    assert declared["default"] is None
    assert declared["type"] == "string"
    assert "null" in declared["description"]
    assert local(root, "learn_enabled") == "${var.learn_image != null}"
    names = [r.address for r in resources(learn_tf, "")]
    assert set(names) == {
        JOB,
        LEARN_SA,
        OPERATORS,
        "google_project_iam_member.learn_datastore_user",
        "google_storage_bucket_iam_member.learn",
    }
    for address in names:
        body = by_address(root)[address].body
        gate = body.get("count", body.get("for_each"))
        assert gate is not None, f"{address} is created without an image"
        graph.add(f"<gate of {address}>", references(gate))
        assert graph.reaches(f"<gate of {address}>", "local.learn_enabled"), address
    assert job(root).body["count"] == "${local.learn_enabled ? 1 : 0}"


def test_the_image_variable_accepts_what_cloudbuild_passes(root):
    rule = variables(root)["learn_image"]["validation"][0]["condition"]
    pattern = hcl_regex(rule, "var.learn_image")

    assert rule.startswith("${var.learn_image == null ? true :")
    for good in (
        "europe-west1-docker.pkg.dev/my-project/vidcurate/learn:0b7c6e0e-1d2f-4a57-9d3e-2b2f9f1c7a10",
        "us-docker.pkg.dev/p/r/learn@sha256:" + "a" * 64,
    ):
        assert pattern.fullmatch(good), good
    for bad in ("", "learn", "learn:latest", "europe-west1-docker.pkg.dev/p/r/learn", "a b/c:d"):
        assert not pattern.fullmatch(bad), bad


# --- the job --------------------------------------------------------------------------------


def test_the_job_runs_one_task_on_one_l4_without_zonal_redundancy(root):
    body = job(root).body
    (execution,) = body["template"]
    task = task_template(root)
    (selector,) = task["node_selector"]
    (limits,) = container(root)["resources"]

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
    assert container(root)["image"] == "${var.learn_image}"
    # The arguments come from each execution's override, the command from the image.
    assert "args" not in container(root)
    assert "command" not in container(root)
    assert "${google_project_service.enabled}" in body["depends_on"]


def test_the_timeout_and_retries_come_from_the_variables(root):
    task = task_template(root)
    declared = variables(root)
    timeout_rule = declared["learn_task_timeout_seconds"]["validation"][0]["condition"]
    retries_rule = declared["learn_max_retries"]["validation"][0]["condition"]

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
    assert job(root).body["launch_stage"] == (
        '${var.learn_task_timeout_seconds > local.learn_ga_timeout_seconds ? "BETA" : null}'
    )


def test_the_job_runs_only_where_cloud_run_offers_l4_to_jobs(root):
    (precondition,) = job(root).body["lifecycle"][0]["precondition"]
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
    member = "serviceAccount:${google_service_account.learn[0].email}"
    account = by_address(root)[LEARN_SA]
    granted = [r for r in resources(root, "") if any(LEARN_SA in text for text in strings(r.body))]
    by_type = {r.type: r for r in granted if r.type != "google_cloud_run_v2_job"}

    assert account.body["account_id"] == "vidcurate-learn"
    assert task_template(root)["service_account"] == "${google_service_account.learn[0].email}"
    assert set(by_type) == {"google_project_iam_member", "google_storage_bucket_iam_member"}
    project = by_type["google_project_iam_member"]
    assert project.body["role"] == "roles/datastore.user"
    assert project.body["member"] == member
    buckets = by_type["google_storage_bucket_iam_member"]
    assert buckets.body["member"] == member
    assert buckets.body["bucket"] == "${google_storage_bucket.data[each.key].name}"
    assert buckets.body["role"] == "${each.value}"
    assert "local.learn_buckets" in buckets.body["for_each"]
    assert local(root, "learn_buckets") == {
        "frames": "roles/storage.objectViewer",
        "models": "roles/storage.objectUser",
    }
    # The models bucket exists, as a bucket role of the settings.
    assert set(local(root, "learn_buckets")) <= set(hcl_list(local(root, "data_buckets")))
    assert "models" in BUCKET_ROLES
    # It holds its roles before the first execution.
    depends_on = job(root).body["depends_on"]
    assert "${google_project_iam_member.learn_datastore_user}" in depends_on
    assert "${google_storage_bucket_iam_member.learn}" in depends_on
    # The function module never receives it.
    for call in root["module"]:
        assert not any(LEARN_SA in text for text in strings(call))


def test_the_job_gets_the_functions_settings_models_bucket_included(root):
    """The same VIDCURATE_* environment as the functions (the local itself, not a copy), in
    which every data bucket, the models bucket among them, is VIDCURATE_<ROLE>_BUCKET; no
    secret, no volume."""
    (env,) = container(root)["dynamic"]
    functions_environment = local(root, "function_environment")

    assert local(root, "learn_environment") == "${local.function_environment}"
    assert env["env"]["for_each"] == "${local.learn_environment}"
    assert env["env"]["content"][0] == {
        "name": "${env.key}",
        "value": "${env.value}",
        "__is_block__": True,
    }
    assert "env" not in container(root)  # no literal env, no value_source (secret)
    assert "volumes" not in task_template(root)
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
    principal = hcl_regex(declared["validation"][0]["condition"], "member")

    assert local(root, "learn_operator_roles") == [
        "roles/run.jobsExecutorWithOverrides",
        "roles/run.viewer",
    ]
    assert grant.body["for_each"] == "${local.learn_operator_grants}"
    assert grant.body["role"] == "${each.value.role}"
    assert grant.body["member"] == "${each.value.member}"
    assert grant.body["name"] == "${google_cloud_run_v2_job.learn[0].name}"
    assert grant.body["location"] == "${google_cloud_run_v2_job.learn[0].location}"
    assert grant.body["project"] == "${var.project_id}"
    assert "setproduct(toset(var.learn_operators), local.learn_operator_roles)" in grants
    assert "if local.learn_enabled" in grants
    assert declared["default"] == []
    assert declared["type"] == "${list(string)}"
    for good in (
        "user:a@example.com",
        "group:ml@example.com",
        "serviceAccount:x@p.iam.gserviceaccount.com",
    ):
        assert principal.fullmatch(good), good
    for bad in ("allUsers", "allAuthenticatedUsers", "a@example.com", "user:"):
        assert not principal.fullmatch(bad), bad
    # Nothing on the job for anyone else; nothing public anywhere.
    job_grants = [
        r for r in resources(root, "") if r.type.startswith("google_cloud_run_v2_job_iam")
    ]
    assert [g.address for g in job_grants] == [OPERATORS]


def test_the_output_names_the_job_or_is_null(root):
    assert outputs(root)["learn_job"]["value"] == "${one(google_cloud_run_v2_job.learn[*].id)}"


def test_the_apis_of_the_job_are_enabled_first(root, bootstrap):
    graph = build_graph(root)

    for apis in (local(root, "apis"), local(bootstrap, "apis")):
        assert "run.googleapis.com" in hcl_list(apis)
    for node in (JOB, OPERATORS, LEARN_SA, "google_project_iam_member.learn_datastore_user"):
        assert graph.reaches(node, ENABLED), node


def test_the_deployer_may_deploy_the_job(bootstrap):
    """run.admin (jobs and their IAM policy), serviceAccountUser (deploying as the job's
    account), projectIamAdmin limited to datastore.user (the job's one project role)."""
    roles = set(hcl_list(local(bootstrap, "deployer_roles")))

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
    steps = {step["id"]: step for step in cloudbuild["steps"]}
    image_step = steps["learn-image"]
    script = image_step["args"][-1]
    plan = " ".join(steps["plan"]["args"])
    repository = by_address(bootstrap)["google_artifact_registry_repository.images"]

    assert image_step["name"] == "gcr.io/cloud-builders/docker"
    assert image_step["waitFor"] == ["test"]
    assert "learn-image" in steps["plan"]["waitFor"]
    ids = [step["id"] for step in cloudbuild["steps"]]
    assert ids.index("test") < ids.index("learn-image") < ids.index("plan")

    (image,) = re.findall(r'^image="([^"]+)"$', script, flags=re.MULTILINE)
    assert image == (
        "${_REGION}-docker.pkg.dev/${PROJECT_ID}/"
        f"{repository.body['repository_id']}/learn:${{BUILD_ID}}"
    )
    assert 'docker build --file infra/learn/Dockerfile --tag "$$image" .' in script
    assert 'docker push "$$image"' in script
    assert script.index("docker build") < script.index("docker push")
    assert image_step["args"][:3] == ["-euo", "pipefail", "-c"]
    # The plan deploys exactly the image pushed ...
    assert f'-var="learn_image={image}"' in plan
    # ... which the variable's validation accepts.
    rule = variables(root)["learn_image"]["validation"][0]["condition"]
    pushed = render(
        image, {"_REGION": "europe-west1", "PROJECT_ID": "my-project", "BUILD_ID": "b-1"}
    )
    assert hcl_regex(rule, "var.learn_image").fullmatch(pushed), pushed


# --- the image ------------------------------------------------------------------------------


def test_the_image_runs_the_entry_point_with_the_execution_arguments():
    """ENTRYPOINT (exec form), no CMD: an execution's container override sets the container's
    args, which replace the image's CMD and follow its ENTRYPOINT."""
    instructions = dockerfile_instructions(DOCKERFILE)
    kinds = [kind for kind, _ in instructions]
    (entrypoint,) = [rest for kind, rest in instructions if kind == "ENTRYPOINT"]
    (user,) = [rest for kind, rest in instructions if kind == "USER"]
    copies = [rest.split() for kind, rest in instructions if kind == "COPY"]

    assert json.loads(entrypoint) == ["python", ENTRY_POINT]
    assert "CMD" not in kinds
    assert ["jobs/active_learning/", "/app/jobs/active_learning/"] in copies
    assert user not in {"root", "0"}
    assert kinds.index("USER") < kinds.index("ENTRYPOINT")
    assert [rest for kind, rest in instructions if kind == "FROM"] == ["python:3.11-slim"]


def test_the_image_installs_torch_for_cuda_12_then_the_package():
    """torch and torchvision at the learn extra's pins, from PyTorch's CUDA 12 index first
    (the L4 machines' driver runs CUDA 12.x, not PyPI's CUDA 13 wheels); then the package
    with the learn and media extras, which keeps them; then the check."""
    instructions = dockerfile_instructions(DOCKERFILE)
    runs = " && ".join(rest for kind, rest in instructions if kind == "RUN")
    arguments = build_arguments(DOCKERFILE)
    torch_install = 'pip install --index-url "${TORCH_INDEX_URL}" --requirement /tmp/torch.txt'
    package_install = 'pip install ".[learn,media]"'

    assert "python /tmp/torch_requirements.py pyproject.toml > /tmp/torch.txt" in runs
    assert runs.index("torch_requirements.py") < runs.index(torch_install)
    assert runs.index(torch_install) < runs.index(package_install) < runs.index("pip check")
    assert runs.index("pip check") < runs.index("check_image.py")
    assert arguments["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cu128"
    assert arguments["TORCH_CUDA_MAJOR"] == "12"
    assert "dev" not in runs
    assert "-e " not in runs  # from site-packages, not the sources


def test_the_image_checks_the_package_the_modules_and_the_cuda_build():
    arguments = check_image_arguments(DOCKERFILE)

    assert arguments.sources == Path("/tmp/vidcurate/shared")
    assert REQUIRED_MODULES <= set(arguments.modules) <= set(LEARN_MODULES)
    assert arguments.torch_cuda_major == 12


def test_the_checked_modules_are_those_of_the_extras_installed():
    """A module is checked exactly when the learn or media extra installs its distribution."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    requirements = learn_extra() + extras["media"]
    distributions = {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements
    }
    checked = set(check_image_arguments(DOCKERFILE).modules)

    for module, distribution in LEARN_MODULES.items():
        installed = distribution in distributions
        assert (module in checked) == installed, (
            f"{distribution} is {'' if installed else 'not '}in the learn/media extras: "
            f"infra/learn/Dockerfile's check_image.py must {'' if installed else 'not '}"
            f"import {module}"
        )


def test_the_build_context_holds_what_the_image_copies():
    copied = [
        rest.split()[:-1] for kind, rest in dockerfile_instructions(DOCKERFILE) if kind == "COPY"
    ]
    sources = {source for group in copied for source in group}

    assert {
        "pyproject.toml",
        "README.md",
        "shared",
        "jobs/active_learning/",
        "infra/web/check_image.py",
        "infra/learn/torch_requirements.py",
    } <= sources
    for source in sources:
        assert dockerignore_includes(source), f"{source} is left out of the build context"
    for kept in (
        "jobs/active_learning/main.py",
        "infra/learn/Dockerfile",
        "infra/learn/torch_requirements.py",
    ):
        assert dockerignore_includes(kept), kept
    for left_out in (
        "jobs/other_job/main.py",
        "jobs/active_learning/__pycache__/main.cpython-311.pyc",
        "functions/ping/main.py",
        "tests/deploy/test_terraform_learn.py",
        "terraform/learn.tf",
        ".venv/bin/python",
    ):
        assert not dockerignore_includes(left_out), left_out


# --- the build's helpers --------------------------------------------------------------------


def load_torch_requirements() -> ModuleType:
    import importlib.util  # noqa: PLC0415

    name = "vidcurate_torch_requirements"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, TORCH_REQUIREMENTS)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


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
    for module in check_image_arguments(DOCKERFILE).modules:
        assert LEARN_MODULES[module] in installed, module
    assert "vidcurate" in installed

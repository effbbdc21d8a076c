"""Feature extraction runs as a Cloud Run job of N tasks, each on one NVIDIA L4 GPU (or on
CPUs only), deployed by the same run as everything else: it runs the active-learning job's
image (infra/learn/Dockerfile, which cloudbuild.yaml builds and pushes) with its own command,
and terraform/features.tf runs it as its own service account, which reads the videos and
reads and writes the features bucket, nothing else; the operators freeze runs in the
features bucket, start executions with their own arguments and task count, and write the
runs' tables.

terraform cannot plan here, and docker does not run here: these tests read the terraform
(terraform_config.py), cloudbuild.yaml, the Dockerfile and .dockerignore (docker_build.py),
and run the parts of the build that run anywhere: the check of onnxruntime in
infra/web/check_image.py, against stand-ins, and the Dockerfile's pip check filter, against
a stand-in pip. One test resolves the image's Python requirements with pip (it needs an
index).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from docker_build import (
    arguments_of,
    assert_build_context,
    build_arguments,
    check_image_arguments,
    copied_sources,
    distributions,
    dockerfile_instructions,
    load_check_image,
    optional_dependencies,
    run_script,
)
from terraform_config import (
    REPO,
    TERRAFORM,
    CloudRunApp,
    assert_accepts_only,
    build_graph,
    by_address,
    evaluate,
    hcl_list,
    hcl_regex,
    hcl_scope,
    local,
    local_set,
    outputs,
    parse_text,
    references,
    resources,
    step_script,
    strings,
    validation_condition,
    variables,
)
from test_terraform_learn import LEARN_MODULES

from shared.config import Settings
from shared.platform.settings import BUCKET_ROLES

FEATURES = CloudRunApp("features", "google_cloud_run_v2_job.features")
DOCKERFILE = REPO / "infra" / "learn" / "Dockerfile"
ENTRY_POINT = "/app/jobs/features/main.py"
ACTIVE_LEARNING_ENTRY_POINT = "/app/jobs/active_learning/main.py"
OPERATORS = "google_cloud_run_v2_job_iam_member.features_operators"
OPERATOR_BUCKETS = "google_storage_bucket_iam_member.features_operators"
BUCKET_GRANTS = "google_storage_bucket_iam_member.features"

# The one complaint of pip check that the image accepts after swapping onnxruntime for
# onnxruntime-gpu (rapidocr-onnxruntime names the CPU distribution).
EXPECTED_COMPLAINT = "rapidocr-onnxruntime 1.4.4 requires onnxruntime, which is not installed."

# Import name -> distribution, for what the features extra installs and the job imports
# (onnxruntime through rapidocr-onnxruntime, swapped for onnxruntime-gpu in the image).
FEATURES_MODULES = {
    "cv2": "opencv-python",
    "scenedetect": "scenedetect",
    "rapidocr_onnxruntime": "rapidocr-onnxruntime",
    "onnxruntime": "onnxruntime",
    "pyarrow": "pyarrow",
}


def features_extra() -> list[str]:
    """pyproject.toml's ``features`` extra; the test skips until it exists."""
    extras = optional_dependencies()
    if "features" not in extras:
        pytest.skip("pyproject.toml has no `features` extra yet (the job's Python side adds it)")
    return list(extras["features"])


def chosen(expression: str, gpu: bool) -> str:
    """The branch of ``${var.features_gpu ? A : B}`` that terraform takes."""
    match = re.fullmatch(r"\$\{var\.features_gpu \? (.+?) : (.+)\}", expression)
    assert match, expression
    return match[1] if gpu else match[2]


def task_shape(root: dict[str, Any], gpu: bool) -> dict[str, Any]:
    """The task template's machine with var.features_gpu = ``gpu``: its limits, its node
    selectors' accelerators and its zonal redundancy flag (None: unset)."""
    task = FEATURES.template(root)
    (limits,) = FEATURES.container(root)["resources"]
    (selector,) = [block["node_selector"] for block in task["dynamic"] if "node_selector" in block]
    (content,) = selector["content"]
    assert content["accelerator"] == "${node_selector.value}"
    flag = chosen(task["gpu_zonal_redundancy_disabled"], gpu)
    return {
        "limits": local(root, chosen(limits["limits"], gpu).removeprefix("local.")),
        "accelerators": json.loads(chosen(selector["for_each"], gpu)),
        "gpu_zonal_redundancy_disabled": json.loads(flag),
    }


def precondition(root: dict[str, Any], mentioning: str) -> dict[str, Any]:
    """The job's one precondition whose condition mentions ``mentioning``."""
    (found,) = [
        rule
        for rule in FEATURES.resource(root).body["lifecycle"][0]["precondition"]
        if mentioning in rule["condition"]
    ]
    return found


# --- only with the image ----------------------------------------------------------------------


def test_the_job_is_deployed_only_with_the_learn_image(root):
    """The job runs the active-learning job's image: var.learn_image = null (the default)
    deploys nothing of features.tf either, so a plan without an image works."""
    tf_file = TERRAFORM / "features.tf"
    names = [r.address for r in resources(parse_text(tf_file.read_text()), "")]
    graph = build_graph(root)
    resources_ = by_address(root)

    assert local(root, "features_enabled") == "${local.learn_enabled}"
    assert local(root, "learn_enabled") == "${var.learn_image != null}"
    assert variables(root)["learn_image"]["default"] is None
    assert "feature-extraction" in variables(root)["learn_image"]["description"]
    for address in names:
        body = resources_[address].body
        gate = body.get("count", body.get("for_each"))
        assert gate is not None, f"{address} is created without an image"
        graph.add(f"<gate of {address}>", references(gate))
        assert graph.reaches(f"<gate of {address}>", "local.features_enabled"), address
    assert FEATURES.resource(root).body["count"] == "${local.features_enabled ? 1 : 0}"
    assert set(names) == {
        FEATURES.address,
        FEATURES.account,
        BUCKET_GRANTS,
        OPERATORS,
        OPERATOR_BUCKETS,
    }


def test_cloudbuild_deploys_the_pushed_learn_image(cloudbuild):
    """No image of its own: the plan's learn_image is the one the learn-image step pushed."""
    plan = step_script(cloudbuild, "plan")

    assert '-var="learn_image=${_REGION}-docker.pkg.dev/${PROJECT_ID}/vidcurate/learn:' in plan
    assert "learn-image" in {step["id"] for step in cloudbuild["steps"]}


# --- the job --------------------------------------------------------------------------------


def test_the_job_runs_the_feature_entry_point_of_the_learn_image(root):
    """The image's ENTRYPOINT runs the active-learning round: the job's command replaces it
    with the feature-extraction entry point; each execution's override gives the arguments,
    which follow the command."""
    body = FEATURES.resource(root).body
    container = FEATURES.container(root)

    assert body["name"] == "${local.features_job_name}"
    assert local(root, "features_job_name") == "vidcurate-features"
    assert body["location"] == "${var.region}"
    assert body["project"] == "${var.project_id}"
    assert body["deletion_protection"] is False
    assert "provider" not in body
    assert container["image"] == "${var.learn_image}"
    assert container["command"] == ["python", ENTRY_POINT]
    assert "args" not in container
    assert "${google_project_service.enabled}" in body["depends_on"]
    # The command names the entry point where the image puts it, in a folder of its own.
    copies = [rest.split() for rest in arguments_of(dockerfile_instructions(DOCKERFILE), "COPY")]
    assert ["jobs/features/", "/app/jobs/features/"] in copies
    assert PurePosixPath(ENTRY_POINT).parent == PurePosixPath("/app/jobs/features")


def test_the_tasks_parallelism_timeout_and_retries_come_from_the_variables(root):
    (execution,) = FEATURES.resource(root).body["template"]
    task = FEATURES.template(root)
    declared = variables(root)

    assert execution["task_count"] == "${var.features_task_count}"
    assert execution["parallelism"] == "${var.features_parallelism}"
    assert task["timeout"] == "${var.features_task_timeout_seconds}s"
    assert task["max_retries"] == "${var.features_max_retries}"
    defaults = {
        "features_task_count": 20,
        "features_parallelism": 10,
        "features_task_timeout_seconds": 3600,
        "features_max_retries": 10,
    }
    for name, default in defaults.items():
        assert declared[name]["type"] == "number", name
        assert declared[name]["default"] == default, name
        assert declared[name]["nullable"] is False, name

    def accepts(name: str, value: float) -> bool:
        return evaluate(validation_condition(root, name), hcl_scope({name: value}))

    cases = {
        "features_task_count": ((1, 20, 10000), (0, 10001, 2.5, -1)),
        "features_parallelism": ((1, 10, 10000), (0, 10001, 1.5)),
        "features_task_timeout_seconds": ((60, 3600, 43200), (0, 59, 43201, 90.5)),
        "features_max_retries": ((0, 10), (-1, 11, 1.5)),
    }
    for name, (good, bad) in cases.items():
        for value in good:
            assert accepts(name, value), (name, value)
        for value in bad:
            assert not accepts(name, value), (name, value)


def test_parallelism_never_exceeds_the_task_count(root):
    """A variable's validation cannot compare two variables before terraform 1.9 (versions.tf
    accepts 1.7): a precondition on the job does, and the variable says so."""
    rule = precondition(root, "features_parallelism")

    def holds(parallelism: float, tasks: float) -> bool:
        values = {"features_parallelism": parallelism, "features_task_count": tasks}
        return evaluate(rule["condition"], hcl_scope(values))

    assert holds(10, 20)
    assert holds(20, 20)
    assert not holds(21, 20)
    assert "${var.features_parallelism}" in rule["error_message"]
    assert "precondition" in variables(root)["features_parallelism"]["description"]


def test_each_task_has_one_l4_without_zonal_redundancy_or_cpus_only(root):
    declared = variables(root)["features_gpu"]

    assert declared["type"] == "bool"
    assert declared["default"] is True
    assert task_shape(root, gpu=True) == {
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        "accelerators": ["nvidia-l4"],
        "gpu_zonal_redundancy_disabled": True,
    }
    assert task_shape(root, gpu=False) == {
        "limits": {"cpu": "4", "memory": "8Gi"},
        "accelerators": [],
        "gpu_zonal_redundancy_disabled": None,
    }


def test_a_longer_gpu_timeout_declares_the_preview_launch_stage(root):
    """GPU tasks longer than an hour are a preview feature (launch stage BETA); CPU tasks run
    up to 24 hours in general availability."""
    stage = FEATURES.resource(root).body["launch_stage"]
    condition = (
        "var.features_gpu && var.features_task_timeout_seconds > local.learn_ga_timeout_seconds"
    )

    assert stage == f'${{{condition} ? "BETA" : null}}'

    def beta(gpu: bool, seconds: float) -> bool:
        values = {"features_gpu": gpu, "features_task_timeout_seconds": seconds}
        return evaluate(condition, hcl_scope(values, {"learn_ga_timeout_seconds": 3600}))

    assert not beta(True, 3600)
    assert beta(True, 3601)
    assert not beta(False, 43200)


def test_a_gpu_job_runs_only_where_cloud_run_offers_l4_to_jobs(root):
    rule = precondition(root, "learn_gpu_regions")
    regions = hcl_list(local(root, "learn_gpu_regions"))

    def holds(gpu: bool, region: str) -> bool:
        scope = hcl_scope({"features_gpu": gpu, "region": region}, {"learn_gpu_regions": regions})
        scope["contains"] = lambda items, item: item in items
        return evaluate(rule["condition"], scope)

    assert holds(True, "europe-west1")
    assert not holds(True, "us-east1")
    assert holds(False, "us-east1")
    assert "${var.region}" in rule["error_message"]
    assert "features_gpu = false" in rule["error_message"]
    assert "learn_image null" in rule["error_message"]


def test_the_job_runs_as_its_own_account_with_exactly_its_bucket_roles(root):
    """objectViewer on the videos bucket, objectUser on the features bucket; no project
    role (no Firestore), no topic, no secret: nothing else names the account."""
    account = by_address(root)[FEATURES.account]
    member = "serviceAccount:${google_service_account.features[0].email}"
    naming = [
        r for r in resources(root, "") if any(FEATURES.account in text for text in strings(r.body))
    ]
    grants = by_address(root)[BUCKET_GRANTS]

    assert account.body["account_id"] == "vidcurate-features"
    assert (
        FEATURES.template(root)["service_account"] == "${google_service_account.features[0].email}"
    )
    assert {r.address for r in naming} == {FEATURES.address, BUCKET_GRANTS}
    assert local(root, "features_buckets") == {
        "videos": "roles/storage.objectViewer",
        "features": "roles/storage.objectUser",
    }
    assert grants.body["member"] == member
    assert grants.body["bucket"] == "${google_storage_bucket.data[each.key].name}"
    assert grants.body["role"] == "${each.value}"
    assert "local.features_buckets" in grants.body["for_each"]
    assert "if local.features_enabled" in grants.body["for_each"]
    assert set(local(root, "features_buckets")) <= local_set(root, "data_buckets")
    for call in root["module"]:
        assert not any(FEATURES.account in text for text in strings(call))
    # It holds its roles before the first execution.
    assert f"${{{BUCKET_GRANTS}}}" in FEATURES.resource(root).body["depends_on"]


def test_the_features_bucket_is_a_data_bucket_of_the_settings(root):
    """A data bucket like the others (uniform access, versions, logs), named in the same
    order as the settings' bucket roles, read as VIDCURATE_FEATURES_BUCKET."""
    roles = re.findall(r'"([a-z]+)"', local(root, "data_buckets").split(":")[0])

    assert tuple(roles) == BUCKET_ROLES
    assert "features" in roles
    assert "features_bucket" in Settings.model_fields


def test_the_job_gets_the_functions_settings_features_bucket_included(root):
    """The same VIDCURATE_* environment as the functions (the local itself), in which every
    data bucket, the features bucket among them, is VIDCURATE_<ROLE>_BUCKET; no secret, no
    volume; the task's slice comes from Cloud Run's own CLOUD_RUN_TASK_* variables."""
    assert local(root, "features_environment") == "${local.function_environment}"
    FEATURES.assert_gets_its_environment(root)
    squeezed = re.sub(r"\s+", "", local(root, "function_environment"))
    assert (
        '{forrole,bucketingoogle_storage_bucket.data:"VIDCURATE_${upper(role)}_BUCKET"=>bucket.name}'
    ) in squeezed
    assert "features" in hcl_list(local(root, "data_buckets"))
    assert not any("CLOUD_RUN_TASK" in text for text in strings(FEATURES.resource(root).body))


def test_the_operators_may_run_the_job_with_overrides_and_keep_its_run(root):
    """On the job: start executions with their own arguments and task count, follow them.
    On the buckets, what `vidcurate features run` does from their machine
    (shared/cli/features.py): list the selection in the videos bucket, write the run's
    manifest and tables to the features bucket (rewriting tables: objectUser)."""
    grant = by_address(root)[OPERATORS]
    buckets = by_address(root)[OPERATOR_BUCKETS]
    declared = variables(root)["features_operators"]
    principal = hcl_regex(validation_condition(root, "features_operators"), "member")
    grants = local(root, "features_operator_grants")

    assert local(root, "features_operator_roles") == [
        "roles/run.jobsExecutorWithOverrides",
        "roles/run.viewer",
    ]
    FEATURES.assert_grant_on_it(grant)
    assert grant.body["for_each"] == "${local.features_operator_grants}"
    assert grant.body["role"] == "${each.value.role}"
    assert grant.body["member"] == "${each.value.member}"
    assert "setproduct(toset(var.features_operators), local.features_operator_roles)" in grants
    assert "if local.features_enabled" in grants
    assert local(root, "features_operator_buckets") == {
        "videos": "roles/storage.objectViewer",
        "features": "roles/storage.objectUser",
    }
    assert buckets.body["for_each"] == "${local.features_operator_bucket_grants}"
    assert buckets.body["bucket"] == "${google_storage_bucket.data[each.value.bucket].name}"
    assert buckets.body["role"] == "${local.features_operator_buckets[each.value.bucket]}"
    assert buckets.body["member"] == "${each.value.member}"
    bucket_grants = local(root, "features_operator_bucket_grants")
    assert (
        "setproduct(toset(var.features_operators), keys(local.features_operator_buckets))"
        in bucket_grants
    )
    assert "if local.features_enabled" in bucket_grants
    assert declared["default"] == []
    assert declared["type"] == "${list(string)}"
    assert declared["nullable"] is False
    assert_accepts_only(
        principal,
        good=(
            "user:a@example.com",
            "group:ml@example.com",
            "serviceAccount:x@p.iam.gserviceaccount.com",
        ),
        bad=("allUsers", "allAuthenticatedUsers", "a@example.com", "user:"),
    )
    # The operators get nothing else, anywhere.
    granting = [
        r.address
        for r in resources(root, "")
        if any(
            "var.features_operators" in text
            or "local.features_operator_grants" in text
            or "local.features_operator_bucket" in text
            for text in strings(r.body)
        )
    ]
    assert sorted(granting) == sorted([OPERATORS, OPERATOR_BUCKETS])


def test_the_output_names_the_job_or_is_null(root):
    assert (
        outputs(root)["features_job"]["value"] == "${one(google_cloud_run_v2_job.features[*].id)}"
    )


def test_the_apis_of_the_job_are_enabled_first(root, bootstrap):
    FEATURES.assert_enabled_first(
        root,
        bootstrap,
        {"run.googleapis.com", "storage.googleapis.com"},
        (OPERATORS, OPERATOR_BUCKETS, BUCKET_GRANTS),
    )


def test_the_deployer_may_deploy_the_job(bootstrap):
    """run.admin (the job and its IAM policy), serviceAccountAdmin and serviceAccountUser
    (its account, deploying as it), storage.admin (the bucket grants); no project role to
    grant beyond the one the deployer may already grant."""
    roles = local_set(bootstrap, "deployer_roles")

    assert {
        "roles/run.admin",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.serviceAccountUser",
        "roles/storage.admin",
    } <= roles
    assert local(bootstrap, "deployer_grantable_roles") == ["roles/datastore.user"]


# --- the image ------------------------------------------------------------------------------


def test_the_image_keeps_the_active_learning_entry_point():
    """The job sets its own command; the image's ENTRYPOINT stays the active-learning one."""
    instructions = dockerfile_instructions(DOCKERFILE)
    (entrypoint,) = arguments_of(instructions, "ENTRYPOINT")

    assert json.loads(entrypoint) == ["python", ACTIVE_LEARNING_ENTRY_POINT]


def test_the_image_installs_opencvs_system_libraries_first():
    """opencv-python links libGL and GLib, which python:3.11-slim lacks."""
    instructions = dockerfile_instructions(DOCKERFILE)
    runs = arguments_of(instructions, "RUN")
    (apt,) = [run for run in runs if "apt-get install" in run]
    words = shlex.split(apt)

    assert {"libgl1", "libglib2.0-0"} <= set(words)
    assert "--no-install-recommends" in words
    assert "rm -rf /var/lib/apt/lists/*" in apt
    assert runs.index(apt) < next(i for i, run in enumerate(runs) if "pip install" in run)


def test_the_image_swaps_onnxruntime_for_the_gpu_build_of_the_same_version():
    """The package installs with onnxruntime pinned to ONNXRUNTIME_VERSION (a release both
    distributions have, whose onnxruntime-gpu is a CUDA 12 build); pip check sees the whole
    install; then onnxruntime gives way to onnxruntime-gpu of that version, and only then the
    filtered pip check and check_image.py run."""
    runs = run_script(dockerfile_instructions(DOCKERFILE))
    arguments = build_arguments(DOCKERFILE)
    steps = [
        'echo "onnxruntime==${ONNXRUNTIME_VERSION}" > /tmp/onnxruntime.txt',
        'pip install --constraint /tmp/onnxruntime.txt ".[learn,media,features]"',
        "pip check",
        "pip uninstall --yes onnxruntime",
        'pip install "onnxruntime-gpu==${ONNXRUNTIME_VERSION}"',
        "pip check > /tmp/pip-check.txt",
        "check_image.py",
    ]

    positions = [runs.index(step) for step in steps]
    assert positions == sorted(positions), steps
    assert re.fullmatch(r"1\.(\d+)\.\d+", arguments["ONNXRUNTIME_VERSION"] or "")
    # PyPI's onnxruntime-gpu is a CUDA 13 build from 1.27 on, which the L4's driver cannot run.
    assert int(arguments["ONNXRUNTIME_VERSION"].split(".")[1]) <= 26
    assert arguments["ONNXRUNTIME_CUDA_MAJOR"] == "12"


def test_the_image_checks_the_features_modules_and_the_onnxruntime_cuda_build():
    arguments = check_image_arguments(DOCKERFILE)

    assert set(FEATURES_MODULES) <= set(arguments.modules)
    assert arguments.onnxruntime_cuda_major == 12
    assert arguments.torch_cuda_major == 12


def test_the_checked_modules_are_those_the_features_extra_installs():
    """Every distribution of the features extra has its module checked (onnxruntime comes
    with rapidocr-onnxruntime), and nothing checked is foreign to it or to the learn job."""
    installed = distributions(features_extra()) - {"vidcurate"}
    checked = set(check_image_arguments(DOCKERFILE).modules)

    assert installed <= set(FEATURES_MODULES.values()), installed
    for module, distribution in FEATURES_MODULES.items():
        if distribution in installed:
            assert module in checked, module
    assert "rapidocr-onnxruntime" in installed
    assert "onnxruntime" in checked
    assert checked <= set(FEATURES_MODULES) | set(LEARN_MODULES), checked


def test_the_build_context_holds_the_entry_point():
    sources = copied_sources(DOCKERFILE)

    assert "jobs/features/" in sources
    assert_build_context(
        kept=("jobs/features/main.py", "jobs/active_learning/main.py", "infra/learn/Dockerfile"),
        left_out=(
            "jobs/features/__pycache__/main.cpython-311.pyc",
            "jobs/other_job/main.py",
            "tests/deploy/test_terraform_features.py",
            "terraform/features.tf",
        ),
    )


# --- the build's pip check filter -----------------------------------------------------------


def pip_check_filter() -> str:
    """The Dockerfile's second pip check, as the shell runs it."""
    runs = run_script(dockerfile_instructions(DOCKERFILE))
    match = re.search(r"\{ pip check > /tmp/pip-check\.txt .*?; \}", runs)
    assert match, "the filtered pip check is not in the Dockerfile"
    return match[0]


@pytest.mark.parametrize(
    ("complaints", "passes"),
    [
        ([], True),
        ([EXPECTED_COMPLAINT], True),
        (
            [EXPECTED_COMPLAINT, "opencv-python 5.1.0 requires numpy, which is not installed."],
            False,
        ),
        (["scenedetect 0.7.2 has requirement numpy<2, but you have numpy 2.4.6."], False),
        (["something-else 1.0 requires onnxruntime, which is not installed."], False),
    ],
)
def test_the_second_pip_check_accepts_only_rapidocrs_onnxruntime_requirement(
    tmp_path: Path, complaints: list[str], passes: bool
):
    """Against a stand-in pip that prints ``complaints`` (and fails if there are any)."""
    fake = tmp_path / "bin" / "pip"
    fake.parent.mkdir()
    output = "\n".join(complaints) if complaints else "No broken requirements found."
    fake.write_text(
        f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {1 if complaints else 0}\n", encoding="utf-8"
    )
    fake.chmod(0o755)
    script = pip_check_filter().replace("/tmp/pip-check.txt", str(tmp_path / "pip-check.txt"))

    ran = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": f"{fake.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert (ran.returncode == 0) == passes, ran


# --- the onnxruntime check ------------------------------------------------------------------


def fake_onnxruntime(
    monkeypatch: pytest.MonkeyPatch,
    *,
    providers: list[str],
    cuda_version: str | None,
    loads: bool = True,
    preload_says: str = "",
) -> list[str]:
    """Stand-ins for onnxruntime and its build information; returns the libraries the check
    tried to load."""
    module = ModuleType("onnxruntime")
    module.__file__ = "/site-packages/onnxruntime/__init__.py"
    module.__version__ = "1.26.0"  # type: ignore[attr-defined]
    module.get_available_providers = lambda: providers  # type: ignore[attr-defined]
    module.preload_dlls = lambda: print(preload_says, end="")  # type: ignore[attr-defined]
    info = ModuleType("onnxruntime.capi.build_and_package_info")
    if cuda_version is not None:
        info.cuda_version = cuda_version  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "onnxruntime", module)
    monkeypatch.setitem(sys.modules, "onnxruntime.capi", ModuleType("onnxruntime.capi"))
    monkeypatch.setitem(sys.modules, "onnxruntime.capi.build_and_package_info", info)
    loaded: list[str] = []

    def load(path: str) -> SimpleNamespace:
        loaded.append(path)
        if not loads:
            raise OSError("libcudnn.so.9: cannot open shared object file")
        return SimpleNamespace()

    monkeypatch.setattr(load_check_image().ctypes, "CDLL", load)
    return loaded


GPU_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_the_check_accepts_onnxruntime_gpu_whose_cuda_provider_loads(monkeypatch):
    loaded = fake_onnxruntime(monkeypatch, providers=GPU_PROVIDERS, cuda_version="12.8")

    assert load_check_image().onnxruntime_problems(12) == []
    assert loaded == ["/site-packages/onnxruntime/capi/libonnxruntime_providers_cuda.so"]


def test_the_check_refuses_a_cpu_onnxruntime(monkeypatch):
    fake_onnxruntime(monkeypatch, providers=["CPUExecutionProvider"], cuda_version=None)

    (problem,) = load_check_image().onnxruntime_problems(12)
    assert "CPU build" in problem
    assert "onnxruntime-gpu" in problem


def test_the_check_refuses_an_onnxruntime_for_another_cuda(monkeypatch):
    fake_onnxruntime(monkeypatch, providers=GPU_PROVIDERS, cuda_version="13.0")

    (problem,) = load_check_image().onnxruntime_problems(12)
    assert "onnxruntime is built for CUDA 13.0" in problem


def test_the_check_refuses_a_cuda_provider_that_does_not_load(monkeypatch):
    said = "Failed to load libcudnn.so.9: cannot open shared object file\n"
    fake_onnxruntime(
        monkeypatch, providers=GPU_PROVIDERS, cuda_version="12.8", loads=False, preload_says=said
    )

    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    (problem,) = load_check_image().onnxruntime_problems(12)
    assert "does not load" in problem
    assert "libcudnn.so.9" in problem
    assert "preload_dlls: Failed to load libcudnn.so.9" in problem
    assert stdout.getvalue() == ""


def test_the_check_reads_the_onnxruntime_option():
    check = load_check_image()

    arguments = check.parse_arguments(
        ["check_image.py", "/src/shared", "onnxruntime", "--onnxruntime-cuda-major", "12"]
    )
    assert arguments.onnxruntime_cuda_major == 12
    assert arguments.modules == ["onnxruntime"]
    assert check.parse_arguments(["check_image.py", "/s", "av"]).onnxruntime_cuda_major is None
    # The torch check's messages are unchanged.
    assert check.cuda_problem(None, 12) == "torch is a CPU build: the image needs a CUDA 12.x build"


# --- the image's requirements resolve -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_image_requirements_resolve_with_the_pinned_onnxruntime(tmp_path: Path):
    """What the image installs (`pip install --constraint ... ".[learn,media,features]"`)
    resolves with onnxruntime at ONNXRUNTIME_VERSION, and onnxruntime-gpu exists at that
    version: pip's resolver, installing nothing. Skipped when pip cannot reach an index."""
    features_extra()
    version = build_arguments(DOCKERFILE)["ONNXRUNTIME_VERSION"]
    constraint = tmp_path / "onnxruntime.txt"
    constraint.write_text(f"onnxruntime=={version}\n")
    report = tmp_path / "report.json"
    pip = (sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed")

    def resolve(*arguments: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [*pip, *arguments], capture_output=True, text=True, timeout=840, check=False
            )
        except subprocess.TimeoutExpired:
            pytest.skip("pip did not resolve within 14 minutes: no index answered in time")

    resolved = resolve(
        "--constraint", str(constraint), "--report", str(report), f"{REPO}[learn,media,features]"
    )
    gpu = resolve("--no-deps", f"onnxruntime-gpu=={version}")
    for result in (resolved, gpu):
        if result.returncode != 0:
            output = result.stdout + result.stderr
            if "Could not fetch URL" in output or "NewConnectionError" in output:
                pytest.skip(f"pip cannot reach an index: {output.strip().splitlines()[-1]}")
            pytest.fail(f"the image's requirements do not resolve:\n{output}")

    installed = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert installed["onnxruntime"] == version
    for module, distribution in FEATURES_MODULES.items():
        assert distribution in installed, module

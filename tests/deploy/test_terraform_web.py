"""The web app is deployed to Cloud Run behind Identity-Aware Proxy by the same run as
everything else: cloudbuild.yaml builds and pushes its image (infra/web/Dockerfile) into the
repository terraform/bootstrap creates, and terraform/web.tf runs it as its own, least
privileged service account, reachable through IAP only.

terraform cannot plan here, and docker does not run here: these tests read the terraform
(terraform_config.py), cloudbuild.yaml, the Dockerfile and .dockerignore.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker_build import (
    check_image_arguments,
    dockerignore_includes,
    load_check_image,
)
from docker_build import (
    dockerfile_instructions as read_dockerfile,
)
from terraform_config import (
    BOOTSTRAP,
    REPO,
    TERRAFORM,
    Config,
    build_graph,
    hcl_list,
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
from shared.learning.settings import LabelSettings

CLOUDBUILD = REPO / "cloudbuild.yaml"
DOCKERFILE = REPO / "infra" / "web" / "Dockerfile"
WEB_TF = TERRAFORM / "web.tf"

SERVICE = "google_cloud_run_v2_service.web"
WEB_SA = "google_service_account.web"
ENABLED = "google_project_service.enabled"


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


def service(root: Config) -> Any:
    return by_address(root)[SERVICE]


def container(root: Config) -> dict[str, Any]:
    (template,) = service(root).body["template"]
    (found,) = template["containers"]
    return found


def hcl_regex(condition: str, subject: str) -> re.Pattern[str]:
    """The pattern of ``regex("...", <subject>)`` in a validation condition, HCL escapes
    undone (RE2 and Python agree on these patterns)."""
    match = re.search(r'regex\("((?:[^"\\]|\\.)*)", ' + re.escape(subject) + r"\)", condition)
    assert match, condition
    return re.compile(match[1].replace("\\\\", "\\"))


def render(template: str, values: dict[str, str]) -> str:
    """A string template such as ``/projects/${var.project_number}/...`` with its
    references replaced."""
    return re.sub(r"\$\{([^}]+)\}", lambda match: values[match[1]], template)


# --- only with an image ---------------------------------------------------------------------


def test_the_web_app_is_deployed_only_with_an_image(root):
    """var.web_image = null (the default): no service, account, agent or grant, so a plan
    without an image (the tests, a first look) works; cloudbuild.yaml always passes one."""
    declared = variables(root)["web_image"]
    web_tf = parse_text(WEB_TF.read_text())
    graph = build_graph(root)

    assert declared["default"] is None
    assert declared["type"] == "string"
    assert "null" in declared["description"]
    assert local(root, "web_enabled") == "${var.web_image != null}"
    names = [r.address for r in resources(web_tf, "")]
    assert SERVICE in names
    assert len(names) >= 7
    for address in names:
        body = by_address(root)[address].body
        gate = body.get("count", body.get("for_each"))
        assert gate is not None, f"{address} is created without an image"
        graph.add(f"<gate of {address}>", references(gate))
        assert graph.reaches(f"<gate of {address}>", "local.web_enabled"), address
    assert service(root).body["count"] == "${local.web_enabled ? 1 : 0}"


def test_the_image_variable_accepts_what_cloudbuild_passes(root):
    rule = variables(root)["web_image"]["validation"][0]["condition"]
    pattern = hcl_regex(rule, "var.web_image")

    assert rule.startswith("${var.web_image == null ? true :")
    for good in (
        "europe-west1-docker.pkg.dev/my-project/vidcurate/web:0b7c6e0e-1d2f-4a57-9d3e-2b2f9f1c7a10",
        "us-docker.pkg.dev/p/r/web@sha256:" + "a" * 64,
        "localhost:5000/web:dev",
    ):
        assert pattern.fullmatch(good), good
    for bad in ("", "web", "web:latest", "europe-west1-docker.pkg.dev/p/r/web", "a b/c:d"):
        assert not pattern.fullmatch(bad), bad


# --- the service ----------------------------------------------------------------------------


def test_the_service_is_behind_iap_and_admits_only_iap(root):
    body = service(root).body

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
    found = container(root)
    (template,) = service(root).body["template"]
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
    (template,) = service(root).body["template"]
    account = by_address(root)[WEB_SA]

    assert template["service_account"] == "${google_service_account.web[0].email}"
    assert account.body["account_id"] == "${local.web_service_name}"
    # Not a function's account, not the default compute account.
    assert by_address(root)["google_service_account.function"].body["account_id"].startswith("fn-")
    # It holds its roles before the first request.
    assert "${google_project_iam_member.web_datastore_user}" in service(root).body["depends_on"]
    assert "${google_storage_bucket_iam_member.web}" in service(root).body["depends_on"]


def test_the_web_account_holds_exactly_its_roles(root):
    """datastore.user on the project (label documents: Firestore has no narrower role that
    writes) and objectViewer on the frames and videos buckets; nothing else, anywhere."""
    member = "serviceAccount:${google_service_account.web[0].email}"
    granted = [r for r in resources(root, "") if any(WEB_SA in text for text in strings(r.body))]
    by_type = {r.type: r for r in granted if r.type != "google_cloud_run_v2_service"}

    assert set(by_type) == {"google_project_iam_member", "google_storage_bucket_iam_member"}
    project = by_type["google_project_iam_member"]
    assert project.body["role"] == "roles/datastore.user"
    assert project.body["member"] == member
    buckets = by_type["google_storage_bucket_iam_member"]
    assert buckets.body["member"] == member
    assert buckets.body["bucket"] == "${google_storage_bucket.data[each.key].name}"
    assert buckets.body["role"] == "${each.value}"
    assert "local.web_buckets" in buckets.body["for_each"]
    assert local(root, "web_buckets") == {
        "frames": "roles/storage.objectViewer",
        "videos": "roles/storage.objectViewer",
    }
    assert set(local(root, "web_buckets")) <= set(hcl_list(local(root, "data_buckets")))
    # The function module never receives it.
    for call in root["module"]:
        assert not any(WEB_SA in text for text in strings(call))


# --- IAP ------------------------------------------------------------------------------------


def test_the_iap_service_agent_invokes_the_service(root):
    resources_ = by_address(root)
    agent = resources_["google_project_service_identity.iap"]
    invoker = resources_["google_cloud_run_v2_service_iam_member.web_iap_invoker"]

    assert agent.body["provider"] == "google-beta"
    assert agent.body["service"] == "iap.googleapis.com"
    assert "${google_project_service.enabled}" in agent.body["depends_on"]
    assert invoker.body["role"] == "roles/run.invoker"
    assert (
        invoker.body["member"] == "serviceAccount:${google_project_service_identity.iap[0].email}"
    )
    assert invoker.body["name"] == "${google_cloud_run_v2_service.web[0].name}"
    assert invoker.body["location"] == "${google_cloud_run_v2_service.web[0].location}"


def test_web_users_and_admins_may_pass_iap(root):
    grant = by_address(root)["google_iap_web_cloud_run_service_iam_member.web_users"]
    accessors = local(root, "web_accessors")

    assert grant.body["role"] == "roles/iap.httpsResourceAccessor"
    assert grant.body["member"] == "${each.key}"
    assert grant.body["for_each"] == "${local.web_accessors}"
    assert grant.body["project"] == "${var.project_id}"
    assert grant.body["cloud_run_service_name"] == "${google_cloud_run_v2_service.web[0].name}"
    assert grant.body["location"] == "${google_cloud_run_v2_service.web[0].location}"
    assert "var.web_users" in accessors
    assert '[for email in var.web_admins : "user:${email}"]' in accessors
    assert "local.web_enabled" in accessors


def test_web_users_are_principals_and_never_public(root):
    declared = variables(root)
    users = hcl_regex(declared["web_users"]["validation"][0]["condition"], "member")
    admins = hcl_regex(declared["web_admins"]["validation"][0]["condition"], "email")

    assert declared["web_users"]["default"] == []
    assert declared["web_admins"]["default"] == []
    assert declared["web_users"]["type"] == declared["web_admins"]["type"] == "${list(string)}"
    for good in ("user:a@example.com", "group:annotators@example.com", "domain:example.com"):
        assert users.fullmatch(good), good
    for bad in ("allUsers", "allAuthenticatedUsers", "a@example.com", "user:", "user:a b@x.com"):
        assert not users.fullmatch(bad), bad
    assert admins.fullmatch("lead@example.com")
    for bad in ("user:lead@example.com", "lead", "lead@example", "a b@example.com"):
        assert not admins.fullmatch(bad), bad


def test_the_app_gets_the_functions_settings_and_its_audience(root):
    """The same VIDCURATE_* environment as the functions (the local, not a copy), the IAP
    audience of this very service, the admins as JSON, and no secret."""
    environment = local(root, "web_environment")
    audience = local(root, "web_iap_audience")
    (env,) = container(root)["dynamic"]
    fields = set(Settings.model_fields) | set(LabelSettings.model_fields)

    assert environment.startswith("${merge(local.function_environment, {")
    assert "VIDCURATE_WEB_IAP_AUDIENCE = local.web_iap_audience" in environment
    assert "VIDCURATE_WEB_ADMINS = jsonencode(var.web_admins)" in environment
    for name in re.findall(r"\bVIDCURATE_([A-Z_]+) =", environment):
        assert name.lower() in fields, f"VIDCURATE_{name} is not a setting"
    assert env["env"]["for_each"] == "${local.web_environment}"
    assert env["env"]["content"][0] == {
        "name": "${env.key}",
        "value": "${env.value}",
        "__is_block__": True,
    }
    assert "env" not in container(root)  # no literal env, no value_source (secret)
    assert "volumes" not in service(root).body["template"][0]

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
    graph = build_graph(root)

    for apis in (local(root, "apis"), local(bootstrap, "apis")):
        assert {"iap.googleapis.com", "run.googleapis.com"} <= set(hcl_list(apis))
    for node in (
        SERVICE,
        "google_iap_web_cloud_run_service_iam_member.web_users",
        "google_cloud_run_v2_service_iam_member.web_iap_invoker",
        "google_project_service_identity.iap",
        WEB_SA,
    ):
        assert graph.reaches(node, ENABLED), node


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
    assert "artifactregistry.googleapis.com" in hcl_list(local(bootstrap, "apis"))
    # The deploy pushes to the region it deploys to.
    assert local(bootstrap, "substitutions")["_REGION"] == "${var.region}"
    assert outputs(bootstrap)["image_repository"]["value"] == (
        "${google_artifact_registry_repository.images.location}-docker.pkg.dev/"
        "${google_artifact_registry_repository.images.project}/"
        "${google_artifact_registry_repository.images.repository_id}"
    )


def test_the_deployer_pushes_to_that_repository_only(bootstrap):
    grant = by_address(bootstrap)["google_artifact_registry_repository_iam_member.deployer_images"]
    roles = set(hcl_list(local(bootstrap, "deployer_roles")))

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
    steps = {step["id"]: step for step in cloudbuild["steps"]}
    image_step = steps["web-image"]
    script = image_step["args"][-1]
    plan = " ".join(steps["plan"]["args"])
    repository = by_address(bootstrap)["google_artifact_registry_repository.images"]

    assert image_step["name"] == "gcr.io/cloud-builders/docker"
    assert image_step["waitFor"] == ["test"]
    assert "web-image" in steps["plan"]["waitFor"]
    ids = [step["id"] for step in cloudbuild["steps"]]
    assert ids.index("test") < ids.index("web-image") < ids.index("plan")

    (image,) = re.findall(r'^image="([^"]+)"$', script, flags=re.MULTILINE)
    assert image == (
        "${_REGION}-docker.pkg.dev/${PROJECT_ID}/"
        f"{repository.body['repository_id']}/web:${{BUILD_ID}}"
    )
    assert 'docker build --file infra/web/Dockerfile --tag "$$image" .' in script
    assert 'docker push "$$image"' in script
    assert script.index("docker build") < script.index("docker push")
    assert image_step["args"][:3] == ["-euo", "pipefail", "-c"]
    # The plan deploys exactly the image pushed.
    assert f'-var="web_image={image}"' in plan
    # ... which the variable's validation accepts.
    rule = variables(root)["web_image"]["validation"][0]["condition"]
    pushed = render(
        image,
        {"_REGION": "europe-west1", "PROJECT_ID": "my-project", "BUILD_ID": "b-1"},
    )
    assert hcl_regex(rule, "var.web_image").fullmatch(pushed), pushed


# --- the image ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of infra/web/Dockerfile, continuation lines joined."""
    return read_dockerfile(DOCKERFILE)


def test_the_image_installs_the_web_app_and_runs_it_as_a_user():
    instructions = dockerfile_instructions()
    kinds = [kind for kind, _ in instructions]
    arguments = dict(reversed(instructions))  # the first of each kind
    runs = " && ".join(rest for kind, rest in instructions if kind == "RUN")
    (command,) = [rest for kind, rest in instructions if kind == "CMD"]
    (user,) = [rest for kind, rest in instructions if kind == "USER"]

    assert arguments["FROM"] == "python:3.11-slim"
    assert kinds.count("FROM") == 1
    assert 'pip install ".[web,media,cli]"' in runs
    assert "dev" not in runs
    assert "-e " not in runs  # from site-packages, not the sources
    assert user not in {"root", "0"}
    assert kinds.index("USER") < kinds.index("CMD")
    # Shell form (or sh -c), so that $PORT expands; exec hands it the signals.
    assert not command.startswith("[") or '"sh", "-c"' in command
    assert 'vidcurate web --host 0.0.0.0 --port "${PORT:-8080}"' in command
    assert command.startswith("exec ")


def test_the_image_copies_what_the_package_build_needs():
    """pyproject.toml names README.md as the package's readme: the build reads it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    copied = [rest.split()[:-1] for kind, rest in dockerfile_instructions() if kind == "COPY"]
    sources = {source for group in copied for source in group}

    assert {"pyproject.toml", "shared", "infra/web/check_image.py"} <= sources
    if isinstance(project.get("readme"), str):
        assert project["readme"] in sources
    for source in sources:
        assert dockerignore_includes(source), f"{source} is left out of the build context"


def test_the_build_context_is_the_package_only():
    for kept in (
        "pyproject.toml",
        "README.md",
        "shared/__init__.py",
        "shared/web/templates/index.html",
        "infra/web/Dockerfile",
        "infra/web/check_image.py",
    ):
        assert dockerignore_includes(kept), kept
    for left_out in (
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
    ):
        assert not dockerignore_includes(left_out), left_out


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
    arguments = check_image_arguments(DOCKERFILE)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    if "web" not in extras:
        pytest.skip("pyproject.toml has no `web` extra yet (shared/web is being written)")
    distributions = {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()
        for extra in ("web", "media", "cli")
        for requirement in extras[extra]
    }
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
        assert distribution in distributions, (module, distribution)

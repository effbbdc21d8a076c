"""Reading the terraform configurations without terraform: python-hcl2 (v8 keeps the quotes
around labels and string literals) plus what the deployment tests need on top of it.

- ``parse``/``resources``/``local``: the blocks of one folder of ``*.tf`` files.
- ``Graph``: what each resource, data source, local and module call depends on, from the
  references in its arguments and its ``depends_on``, the way terraform orders an apply;
  a module's resources also depend on the module call's ``depends_on`` and ``for_each``,
  and on the arguments their ``var.<name>`` references receive.
- ``evaluate``: the arithmetic and boolean HCL of the back-pressure preconditions, in
  Python, so that a test can check a precondition against ``shared.platform.backpressure``.
- ``api_of``: the Google API a resource or data source type calls.
- ``CloudRunApp``: the web service (web.tf) and the learning job (learn.tf), and the checks
  both pass: what gates them on their image, their account's roles, their environment, their
  APIs, the cloudbuild.yaml step that pushes their image before the plan deploys it.
- ``cloudbuild_steps``/``step_script``: cloudbuild.yaml's steps, which run the terraform.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import yaml

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULE = TERRAFORM / "modules" / "event_function"
BOOTSTRAP = TERRAFORM / "bootstrap"
CLOUDBUILD = REPO / "cloudbuild.yaml"
ENABLED = "google_project_service.enabled"

Config = dict[str, list[dict[str, Any]]]


def unquote(value: Any) -> Any:
    """A string literal without its quotes; expressions (``${...}``) unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {unquote(key): unquote(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unquote(item) for item in value]
    return value


def parse(folder: Path) -> Config:
    merged: Config = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open() as handle:
            for kind, blocks in unquote(hcl2.load(handle)).items():
                merged.setdefault(kind, []).extend(blocks)
    return merged


def parse_text(text: str) -> Config:
    return {kind: list(blocks) for kind, blocks in unquote(hcl2.loads(text)).items()}


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

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


def resources(config: Config, where: str) -> Iterator[Resource]:
    for entry in config.get("resource", []):
        for kind, named in entry.items():
            if kind.startswith("__"):
                continue
            for name, body in named.items():
                if not name.startswith("__"):
                    yield Resource(where, kind, name, body)


def data_sources(config: Config, where: str) -> Iterator[Resource]:
    for entry in config.get("data", []):
        for kind, named in entry.items():
            if kind.startswith("__"):
                continue
            for name, body in named.items():
                if not name.startswith("__"):
                    yield Resource(where, kind, name, body)


def locals_of(config: Config) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for block in config.get("locals", []):
        found.update({name: value for name, value in block.items() if not name.startswith("__")})
    return found


def local(config: Config, name: str) -> Any:
    values = locals_of(config)
    assert name in values, f"local.{name} is not defined"
    return values[name]


def variables(config: Config) -> dict[str, dict[str, Any]]:
    return {name: body for entry in config.get("variable", []) for name, body in entry.items()}


def outputs(config: Config) -> dict[str, dict[str, Any]]:
    return {name: body for entry in config.get("output", []) for name, body in entry.items()}


def module_calls(config: Config) -> dict[str, dict[str, Any]]:
    return {name: body for entry in config.get("module", []) for name, body in entry.items()}


def hcl_list(expression: str | list[str]) -> list[str]:
    """The strings of a list literal such as ``${toset(["a", "b"])}`` (or ``["a", "b"]``,
    which hcl2 gives as a list)."""
    if isinstance(expression, list):
        return [unquote(item) for item in expression]
    return re.findall(r'"([^"]*)"', expression)


def local_set(config: Config, name: str) -> set[str]:
    """The strings of the list local ``local.<name>`` (``apis``, ``deployer_roles``)."""
    return set(hcl_list(local(config, name)))


def by_address(config: Config) -> dict[str, Resource]:
    """The resources of ``config``, by address (``google_x.name``)."""
    return {r.address: r for r in resources(config, "")}


def assert_arguments(resource: Resource, expected: Mapping[str, Any]) -> None:
    """Each argument of ``expected`` is set on ``resource``, to its value there."""
    for key, value in expected.items():
        assert key in resource.body, f"{resource.address} sets no {key}"
        assert resource.body[key] == value, (resource.address, key, resource.body[key])


def one_block(body: Mapping[str, Any], *path: str) -> dict[str, Any]:
    """The nested block at ``path``, each step a block that occurs exactly once
    (``one_block(job.body, "template", "template")``: a job's task template)."""
    found: Any = body
    for key in path:
        (found,) = found[key]
    return found


def validation_condition(config: Config, variable: str) -> str:
    """The condition of ``var.<variable>``'s (first) validation."""
    return variables(config)[variable]["validation"][0]["condition"]


def hcl_regex(condition: str, subject: str) -> re.Pattern[str]:
    """The pattern of ``regex("...", <subject>)`` in a validation condition, HCL escapes
    undone (RE2 and Python agree on these patterns)."""
    match = re.search(r'regex\("((?:[^"\\]|\\.)*)", ' + re.escape(subject) + r"\)", condition)
    assert match, condition
    return re.compile(match[1].replace("\\\\", "\\"))


def assert_accepts_only(
    pattern: re.Pattern[str], *, good: Iterable[str], bad: Iterable[str] = ()
) -> None:
    """``pattern`` matches each of ``good`` whole and none of ``bad``."""
    for text in good:
        assert pattern.fullmatch(text), text
    for text in bad:
        assert not pattern.fullmatch(text), text


def render(template: str, values: Mapping[str, str]) -> str:
    """A string template such as ``/projects/${var.project_number}/...`` with its
    references replaced."""
    return re.sub(r"\$\{([^}]+)\}", lambda match: values[match[1]], template)


# --- references and the dependency graph --------------------------------------------------

REFERENCE = re.compile(
    r"(?<![\w.-])("
    r"data\.[a-z][a-z0-9_]*\.[A-Za-z_][\w-]*"
    r"|module\.[A-Za-z_][\w-]*"
    r"|local\.[A-Za-z_]\w*"
    r"|var\.[A-Za-z_]\w*"
    r"|google(?:_[a-z0-9]+)+\.[A-Za-z_][\w-]*"
    r")"
)


def strings(value: Any) -> Iterator[str]:
    """Every string in a parsed value, keys of expression maps included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not key.startswith("__"):
                yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def references(value: Any) -> set[str]:
    """What the expressions in ``value`` refer to (string literals hold none)."""
    found: set[str] = set()
    for text in strings(value):
        if "${" in text:
            found.update(REFERENCE.findall(text))
    return found


@dataclass
class Graph:
    """Node -> the nodes it depends on. Root nodes are terraform addresses
    (``google_x.name``, ``data.google_x.name``, ``local.name``, ``module.name``); a module's
    are prefixed with its call (``module.function/google_x.name``)."""

    edges: dict[str, set[str]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    """Resource and data source nodes -> their type."""

    def add(self, node: str, depends: set[str]) -> None:
        self.edges.setdefault(node, set()).update(depends)

    def reaches(self, start: str, target: str) -> bool:
        seen = {start}
        todo = [start]
        while todo:
            node = todo.pop()
            for dependency in self.edges.get(node, ()):
                if dependency == target:
                    return True
                if dependency not in seen:
                    seen.add(dependency)
                    todo.append(dependency)
        return False

    def closure(self, start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for dependency in self.edges.get(todo.pop(), ()):
                if dependency not in seen:
                    seen.add(dependency)
                    todo.append(dependency)
        return seen


def _scope(graph: Graph, config: Config, prefix: str, var_node: Callable[[str], str]) -> None:
    """Add the blocks of one configuration; ``var_node`` names the node of ``var.<name>``."""

    def resolve(refs: set[str]) -> set[str]:
        resolved = set()
        for ref in refs:
            if ref.startswith("var."):
                resolved.add(var_node(ref.removeprefix("var.")))
            else:
                resolved.add(prefix + ref)
        return resolved

    for name, value in locals_of(config).items():
        graph.add(f"{prefix}local.{name}", resolve(references(value)))
    for resource in resources(config, prefix):
        node = prefix + resource.address
        graph.types[node] = resource.type
        graph.add(node, resolve(references(resource.body)))
    for source in data_sources(config, prefix):
        node = f"{prefix}data.{source.address}"
        graph.types[node] = source.type
        graph.add(node, resolve(references(source.body)))


def build_graph(root: Config, modules: Mapping[str, Config] | None = None) -> Graph:
    """The dependency graph of ``root`` and of the modules it calls (source path -> config,
    e.g. ``{"./modules/event_function": parse(MODULE)}``)."""
    graph = Graph()
    _scope(graph, root, "", lambda name: f"var.{name}")
    for call, body in module_calls(root).items():
        call_node = f"module.{call}"
        arguments = {key: value for key, value in body.items() if not key.startswith("__")}
        meta = {
            key: arguments.pop(key)
            for key in ("depends_on", "for_each", "count")
            if key in arguments
        }
        meta_node = f"{call_node}/meta"
        graph.add(meta_node, references(meta))
        graph.add(call_node, references(arguments) | {meta_node})
        for argument, value in arguments.items():
            graph.add(f"{call_node}/var.{argument}", references(value) | {meta_node})
        source = unquote(body.get("source"))
        module = (modules or {}).get(source)
        if module is None:
            continue
        prefix = f"{call_node}/"
        _scope(graph, module, prefix, lambda name, prefix=prefix: f"{prefix}var.{name}")
        for node in list(graph.types):
            if node.startswith(prefix):
                # depends_on and for_each of the call hold for every resource of the module.
                graph.add(node, {meta_node})
    return graph


# --- which API a type calls ---------------------------------------------------------------

# Type prefix -> the API; the longest matching prefix wins. A google_ type that matches none
# is an error: map it here.
API_PREFIXES = {
    "google_storage_": "storage.googleapis.com",
    "google_pubsub_": "pubsub.googleapis.com",
    "google_cloudfunctions2_": "cloudfunctions.googleapis.com",
    "google_cloudfunctions_": "cloudfunctions.googleapis.com",
    "google_cloud_run_": "run.googleapis.com",
    "google_secret_manager_": "secretmanager.googleapis.com",
    "google_firestore_": "firestore.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_project_iam_custom_role": "iam.googleapis.com",
    "google_project_iam_": "cloudresourcemanager.googleapis.com",
    "google_project_service_identity": "serviceusage.googleapis.com",
    "google_project_service": "serviceusage.googleapis.com",
    "google_project": "cloudresourcemanager.googleapis.com",
    "google_folder": "cloudresourcemanager.googleapis.com",
    "google_organization": "cloudresourcemanager.googleapis.com",
    "google_active_folder": "cloudresourcemanager.googleapis.com",
    "google_tags_": "cloudresourcemanager.googleapis.com",
    "google_cloud_scheduler_": "cloudscheduler.googleapis.com",
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_cloudbuild_": "cloudbuild.googleapis.com",
    "google_logging_": "logging.googleapis.com",
    "google_iap_": "iap.googleapis.com",
    "google_eventarc_": "eventarc.googleapis.com",
}
# Types that call no Google API (they read the provider's configuration).
NO_API = {"google_client_config"}


def api_of(kind: str) -> str | None:
    """The API ``kind`` calls; None for a non-Google type or one that calls none."""
    if not kind.startswith("google_") or kind in NO_API:
        return None
    matches = [prefix for prefix in API_PREFIXES if kind.startswith(prefix)]
    if not matches:
        raise AssertionError(f"{kind}: which API does it call? Map it in API_PREFIXES")
    return API_PREFIXES[max(matches, key=len)]


# --- evaluating HCL arithmetic --------------------------------------------------------------

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ceil": math.ceil,
    "floor": math.floor,
    "log": math.log,
    "max": max,
    "min": min,
    "abs": abs,
    "tonumber": float,
    "trimsuffix": lambda text, suffix: text.removesuffix(suffix),
}
_UNSUPPORTED = re.compile(r"\?|\bfor\b|\[|\$\{|%\{|=>")


class _Namespace:
    """A mapping as attributes, recursively (``var.delivery.expected_burst``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._values[name]
        return _Namespace(value) if isinstance(value, Mapping) else value


class _Locals:
    """``local.<name>``: each evaluated on first use, in the same scope."""

    def __init__(self, expressions: Mapping[str, Any], scope: dict[str, Any]) -> None:
        self._expressions = expressions
        self._scope = scope
        self._values: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._values:
            value = self._expressions[name]
            self._values[name] = evaluate(value, self._scope) if isinstance(value, str) else value
        return self._values[name]


def hcl_scope(
    variables: Mapping[str, Any], locals_: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What ``evaluate`` reads ``var.<name>`` and ``local.<name>`` from."""
    scope: dict[str, Any] = {"__builtins__": {}, **_FUNCTIONS, "var": _Namespace(variables)}
    scope["local"] = _Locals(locals_ or {}, scope)
    return scope


def evaluate(expression: str, scope: dict[str, Any]) -> Any:
    """The value of an HCL expression made of numbers, strings, arithmetic, comparisons,
    ``&&``, ``||``, ``!`` and the functions in ``_FUNCTIONS``: enough for the back-pressure
    preconditions, and an error for anything else."""
    text = expression.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    if _UNSUPPORTED.search(text):
        raise ValueError(f"evaluate() does not handle this expression: {text}")
    python = re.sub(r"&&", " and ", text)
    python = re.sub(r"\|\|", " or ", python)
    python = re.sub(r"!(?!=)", " not ", python)
    python = re.sub(r"\btrue\b", "True", python)
    python = re.sub(r"\bfalse\b", "False", python)
    python = re.sub(r"\bnull\b", "None", python)
    # Our own configuration, reduced to arithmetic above, with no builtins in scope.
    return eval(python.replace("\n", " "), scope)


# --- version constraints --------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.strip().split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def satisfies(version: str, constraint: str) -> bool:
    """Whether ``version`` meets a terraform version constraint (``>= 6.47, < 8.0``; the
    operators =, !=, >, >=, <, <= and ~>)."""
    wanted = _version(version)
    for clause in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|!=|~>|=|>|<)?\s*(\d+(?:\.\d+)*)\s*", clause)
        assert match, f"cannot read the constraint {clause!r}"
        operator, bound_text = match[1] or "=", match[2]
        bound = _version(bound_text)
        ok = {
            "=": wanted == bound,
            "!=": wanted != bound,
            ">": wanted > bound,
            ">=": wanted >= bound,
            "<": wanted < bound,
            "<=": wanted <= bound,
        }.get(operator)
        if operator == "~>":
            # ~> 1.2 allows 1.x >= 1.2; ~> 1.2.3 allows 1.2.x >= 1.2.3.
            kept = max(1, len(bound_text.split(".")) - 1)
            ok = wanted >= bound and wanted[:kept] == bound[:kept]
        if not ok:
            return False
    return True


# --- Cloud Run: the web service (web.tf) and the learning job (learn.tf) ------------------


@dataclass(frozen=True)
class CloudRunApp:
    """An app the main configuration runs on Cloud Run from an image cloudbuild.yaml builds
    (``CloudRunApp("web", "google_cloud_run_v2_service.web")``): terraform/<name>.tf declares
    it, deployed only when var.<name>_image is set (local.<name>_enabled); it runs as
    google_service_account.<name> with the environment local.<name>_environment and the
    bucket roles local.<name>_buckets; the step <name>-image builds infra/<name>/Dockerfile.
    The checks both apps pass are its ``assert_*`` methods."""

    name: str
    address: str
    """The service or job (``google_cloud_run_v2_job.learn``)."""

    @property
    def tf_file(self) -> Path:
        return TERRAFORM / f"{self.name}.tf"

    @property
    def account(self) -> str:
        return f"google_service_account.{self.name}"

    @property
    def dockerfile(self) -> Path:
        return REPO / "infra" / self.name / "Dockerfile"

    def resource(self, root: Config) -> Resource:
        return by_address(root)[self.address]

    def template(self, root: Config) -> dict[str, Any]:
        """The template the container runs in: a service's revision template, a job's task
        template (inside its execution template)."""
        resource = self.resource(root)
        if resource.type == "google_cloud_run_v2_job":
            return one_block(resource.body, "template", "template")
        return one_block(resource.body, "template")

    def container(self, root: Config) -> dict[str, Any]:
        """The one container."""
        return one_block(self.template(root), "containers")

    def assert_grant_on_it(self, grant: Resource, name_argument: str = "name") -> None:
        """``grant`` is on the app's service or job (the argument ``name_argument`` names
        it), in var.project_id."""
        assert_arguments(
            grant,
            {
                "project": "${var.project_id}",
                "location": f"${{{self.address}[0].location}}",
                name_argument: f"${{{self.address}[0].name}}",
            },
        )

    def assert_deployed_only_with_image(self, root: Config) -> list[str]:
        """var.<name>_image = null (the default) deploys nothing of terraform/<name>.tf: each
        resource it declares is gated (count or for_each) on local.<name>_enabled, so a plan
        without an image works. The addresses of those resources."""
        declared = variables(root)[f"{self.name}_image"]
        enabled = f"local.{self.name}_enabled"
        graph = build_graph(root)
        resources_ = by_address(root)

        assert declared["default"] is None
        assert declared["type"] == "string"
        assert "null" in declared["description"]
        assert local(root, f"{self.name}_enabled") == f"${{var.{self.name}_image != null}}"
        names = [r.address for r in resources(parse_text(self.tf_file.read_text()), "")]
        for address in names:
            body = resources_[address].body
            gate = body.get("count", body.get("for_each"))
            assert gate is not None, f"{address} is created without an image"
            graph.add(f"<gate of {address}>", references(gate))
            assert graph.reaches(f"<gate of {address}>", enabled), address
        assert self.resource(root).body["count"] == f"${{{enabled} ? 1 : 0}}"
        return names

    def image_pattern(self, root: Config) -> re.Pattern[str]:
        """What var.<name>_image accepts when it is set (null is always accepted)."""
        rule = validation_condition(root, f"{self.name}_image")
        assert rule.startswith(f"${{var.{self.name}_image == null ? true :")
        return hcl_regex(rule, f"var.{self.name}_image")

    def assert_holds_exactly(
        self,
        root: Config,
        buckets: dict[str, str],
        secrets: Iterable[str] = (),
        others: Iterable[str] = (),
    ) -> None:
        """The app's account holds datastore.user on the project and, through
        local.<name>_buckets, ``buckets`` (data bucket -> role); with ``secrets`` (the
        environment variables of local.secrets it reads), secretAccessor on their secrets
        through local.<name>_secrets; with ``others``, the grants at those addresses (which
        the caller checks); nothing else anywhere: besides those grants only the service or
        job that runs as it names it, and the function module never receives it."""
        account = self.account
        buckets_local = f"{self.name}_buckets"
        member = f"serviceAccount:${{{account}[0].email}}"
        everything = [
            r for r in resources(root, "") if any(account in text for text in strings(r.body))
        ]
        others = set(others)
        assert others <= {r.address for r in everything}, others
        granted = [r for r in everything if r.address not in others]
        by_type = {r.type: r for r in granted if r.type != self.resource(root).type}
        expected_types = {"google_project_iam_member", "google_storage_bucket_iam_member"}
        if secrets:
            expected_types.add("google_secret_manager_secret_iam_member")

        assert len(granted) == len(by_type) + 1, [r.address for r in granted]
        assert set(by_type) == expected_types
        project = by_type["google_project_iam_member"]
        assert project.body["role"] == "roles/datastore.user"
        assert project.body["member"] == member
        bucket_grants = by_type["google_storage_bucket_iam_member"]
        assert bucket_grants.body["member"] == member
        assert bucket_grants.body["bucket"] == "${google_storage_bucket.data[each.key].name}"
        assert bucket_grants.body["role"] == "${each.value}"
        assert f"local.{buckets_local}" in bucket_grants.body["for_each"]
        assert local(root, buckets_local) == buckets
        assert set(local(root, buckets_local)) <= local_set(root, "data_buckets")
        if secrets:
            secret_grants = by_type["google_secret_manager_secret_iam_member"]
            assert secret_grants.body["member"] == member
            assert secret_grants.body["role"] == "roles/secretmanager.secretAccessor"
            assert secret_grants.body["secret_id"] == "${each.value}"
            assert secret_grants.body["project"] == "${var.project_id}"
            assert secret_grants.body["for_each"] == f"${{local.{self.name}_secrets}}"
            assert hcl_list(local(root, f"{self.name}_secret_keys")) == list(secrets)
            assert set(secrets) <= set(local(root, "secrets"))
        for call in root["module"]:
            assert not any(account in text for text in strings(call))

    def assert_gets_its_environment(self, root: Config, *, secrets: bool = False) -> None:
        """The container's environment is local.<name>_environment, one variable per entry,
        and, with ``secrets``, one variable per entry of local.<name>_secrets read from its
        secret at the version the plan found (secrets.tf); no literal env, no volume, and
        without ``secrets`` no value_source (secret) at all."""
        template = self.template(root)
        container = one_block(template, "containers")
        dynamic = container["dynamic"]

        env = dynamic[0]
        assert env["env"]["for_each"] == f"${{local.{self.name}_environment}}"
        assert env["env"]["content"][0] == {
            "name": "${env.key}",
            "value": "${env.value}",
            "__is_block__": True,
        }
        if secrets:
            (mounted,) = dynamic[1:]
            assert mounted["env"]["for_each"] == f"${{local.{self.name}_secrets}}"
            (content,) = mounted["env"]["content"]
            assert content["name"] == "${env.key}"
            assert "value" not in content
            (reference,) = one_block(content, "value_source")["secret_key_ref"]
            assert reference["secret"] == "${env.value}"
            assert reference["version"] == (
                "${data.google_secret_manager_secret_version.api[env.key].version}"
            )
        else:
            assert len(dynamic) == 1
            assert "value_source" not in str(container)
        assert "env" not in container
        assert "volumes" not in template

    def assert_enabled_first(
        self, root: Config, bootstrap: Config, apis: set[str], nodes: Iterable[str]
    ) -> None:
        """Both configurations enable ``apis``; the app, its account and each of ``nodes``
        wait for the APIs."""
        graph = build_graph(root)

        for config in (root, bootstrap):
            assert apis <= local_set(config, "apis")
        for node in (self.address, self.account, *nodes):
            assert graph.reaches(node, ENABLED), node

    def assert_image_pushed_before_plan(
        self, cloudbuild: Mapping[str, Any], bootstrap: Config, root: Config
    ) -> None:
        """The ``<name>-image`` step builds infra/<name>/Dockerfile and pushes it to the
        repository the bootstrap creates, after the tests and before the plan, which deploys
        exactly that image as var.<name>_image; the variable's validation accepts it."""
        steps = cloudbuild_steps(cloudbuild)
        step_id = f"{self.name}-image"
        image_step = steps[step_id]
        script = image_step["args"][-1]
        plan = step_script(cloudbuild, "plan")
        repository = by_address(bootstrap)["google_artifact_registry_repository.images"]

        assert image_step["name"] == "gcr.io/cloud-builders/docker"
        assert image_step["waitFor"] == ["test"]
        assert step_id in steps["plan"]["waitFor"]
        ids = [step["id"] for step in cloudbuild["steps"]]
        assert ids.index("test") < ids.index(step_id) < ids.index("plan")

        (image,) = re.findall(r'^image="([^"]+)"$', script, flags=re.MULTILINE)
        assert image == (
            "${_REGION}-docker.pkg.dev/${PROJECT_ID}/"
            f"{repository.body['repository_id']}/{self.name}:${{BUILD_ID}}"
        )
        dockerfile = self.dockerfile.relative_to(REPO).as_posix()
        assert f'docker build --file {dockerfile} --tag "$$image" .' in script
        assert 'docker push "$$image"' in script
        assert script.index("docker build") < script.index("docker push")
        assert image_step["args"][:3] == ["-euo", "pipefail", "-c"]
        # The plan deploys exactly the image pushed ...
        assert f'-var="{self.name}_image={image}"' in plan
        # ... which the variable's validation accepts.
        pushed = render(
            image, {"_REGION": "europe-west1", "PROJECT_ID": "my-project", "BUILD_ID": "b-1"}
        )
        assert self.image_pattern(root).fullmatch(pushed), pushed


# --- cloudbuild.yaml ----------------------------------------------------------------------


def load_cloudbuild() -> dict[str, Any]:
    return yaml.safe_load(CLOUDBUILD.read_text())


def cloudbuild_steps(cloudbuild: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The steps, by id (each id once)."""
    ids = [step["id"] for step in cloudbuild["steps"]]
    assert len(ids) == len(set(ids)), f"a step id occurs twice: {ids}"
    return {step["id"]: step for step in cloudbuild["steps"]}


def step_script(cloudbuild: Mapping[str, Any], step_id: str) -> str:
    """A step's arguments, joined with spaces."""
    return " ".join(cloudbuild_steps(cloudbuild)[step_id]["args"])

"""A contract type for import-linter: a capability's public surface.

``lint-imports`` (``[tool.importlinter]`` in pyproject.toml) loads it by path; the repository
root is on ``sys.path`` when it runs. The built-in contracts cannot say "any module may
import ``shared.critiques`` or ``shared.critiques.messages`` but not ``shared.critiques.plan``"
without listing exceptions; this one says it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


@dataclass(frozen=True)
class _Violation:
    importer: str
    imported: str
    capability: str
    lines: tuple[int, ...]


class CapabilitySurfaceContract(Contract):
    """Modules outside a capability import it only through its surface.

    Options:
        - capabilities:      the capability packages (``shared.captions``, ...).
        - surface:           submodule names importable from anywhere, at any depth
                             (``messages``, ``settings``); the package itself (its
                             ``__init__``) always is.
        - allowed_importers: packages that may import any module of a capability (the CLI and
                             the composition root, which wire use cases to entry points).
    """

    type_name = "capability_surface"

    capabilities = fields.ListField(subfield=fields.ModuleField())
    surface = fields.ListField(subfield=fields.StringField())
    allowed_importers = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        """Every direct import of a capability's inner module from outside it."""
        surface = {str(name) for name in self.surface}
        allowed = [module.name for module in self.allowed_importers]
        violations: list[_Violation] = []
        for capability in self.capabilities:
            for module in sorted(graph.find_descendants(capability.name)):
                if module.rsplit(".", 1)[-1] in surface:
                    continue
                for importer in sorted(graph.find_modules_that_directly_import(module)):
                    if _within(importer, [capability.name, *allowed]):
                        continue
                    details = graph.get_import_details(importer=importer, imported=module)
                    lines = tuple(sorted(detail["line_number"] for detail in details))
                    violations.append(_Violation(importer, module, capability.name, lines))
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """One line per import that goes past a capability's surface."""
        for violation in check.metadata["violations"]:
            lines = ", ".join(f"l.{line}" for line in violation.lines)
            output.print_error(
                f"{violation.importer} imports {violation.imported} ({lines}): import "
                f"{violation.capability} (its __init__), its messages or its settings instead",
                bold=False,
            )
            output.new_line()


def _within(module: str, packages: list[str]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)

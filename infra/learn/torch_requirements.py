"""Prints the torch and torchvision requirements of pyproject.toml's ``learn`` extra, one a
line, for infra/learn/Dockerfile to install them from PyTorch's own index first:

    python torch_requirements.py pyproject.toml > torch.txt
    pip install --index-url https://download.pytorch.org/whl/cu128 --requirement torch.txt

PyPI's Linux wheels of torch are built for one CUDA version (13.x for torch 2.14), which
needs a newer NVIDIA driver than Cloud Run's L4 machines have (535, CUDA 12.2); PyTorch's
index has the same release built for CUDA 12.x (``2.14.1+cu128``), which that driver runs.
Installed first, it satisfies ``torch==2.14.1`` when the package and its extras are installed
next, so pip keeps it. Both must be pinned exactly (``==``): a range could resolve to a release
PyTorch's index lacks, or let the second install replace the build.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PACKAGES = ("torch", "torchvision")
EXTRA = "learn"


def torch_requirements(pyproject: dict[str, object]) -> list[str]:
    """The exact pins of PACKAGES in the EXTRA extra; ValueError when one is missing or not
    pinned with ``==``."""
    project = pyproject.get("project")
    extras = project.get("optional-dependencies", {}) if isinstance(project, dict) else {}
    requirements = extras.get(EXTRA) if isinstance(extras, dict) else None
    if not isinstance(requirements, list):
        raise ValueError(f"pyproject.toml has no `{EXTRA}` extra")
    found = {}
    for requirement in requirements:
        name = re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower()
        if name in PACKAGES:
            found[name] = requirement.strip()
    pins = []
    for name in PACKAGES:
        requirement = found.get(name)
        if requirement is None:
            raise ValueError(f"the `{EXTRA}` extra does not require {name}")
        if not re.fullmatch(rf"{name}\s*==\s*[0-9][0-9A-Za-z.]*", requirement, re.IGNORECASE):
            raise ValueError(f"the `{EXTRA}` extra must pin {name} exactly (==): {requirement!r}")
        pins.append(requirement)
    return pins


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} <pyproject.toml>", file=sys.stderr)
        return 2
    try:
        pins = torch_requirements(tomllib.loads(Path(argv[1]).read_text()))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

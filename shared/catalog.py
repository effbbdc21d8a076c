"""Every deployed function: the one list the local runtime, the archive builder and the
terraform consistency test read, assembled from each capability's ``functions.py``.

A function named ``x`` lives in ``functions/x/main.py`` with an entry point also named ``x``,
and is deployed by ``module.function["x"]`` from ``local.function_catalog`` in
``terraform/functions.tf``.
"""

from __future__ import annotations

from shared.captions import functions as captions
from shared.critiques import functions as critiques
from shared.discovery import functions as discovery
from shared.media import functions as media
from shared.platform import functions as platform
from shared.platform.runtime.catalog import FunctionSpec
from shared.publishing import functions as publishing
from shared.trainsets import functions as trainsets
from shared.vision import functions as vision

FUNCTIONS: tuple[FunctionSpec, ...] = (
    *platform.FUNCTIONS,
    *captions.FUNCTIONS,
    *publishing.FUNCTIONS,
    *critiques.FUNCTIONS,
    *media.FUNCTIONS,
    *vision.FUNCTIONS,
    *trainsets.FUNCTIONS,
    *discovery.FUNCTIONS,
)


def function_spec(name: str) -> FunctionSpec:
    """The catalogue entry for ``name``."""
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in FUNCTIONS)
    raise KeyError(f"unknown function {name!r} (known: {known})")

"""vidcurate: the library every Cloud Function, job and the CLI import.

Layout: ``domain`` (pydantic models), ``services`` (the logic), ``ports`` (small Protocols),
``adapters`` (``local`` embedded stand-ins and ``gcp`` clients), ``runtime`` (the local
event runtime and the function entry-point contract), ``cli`` and ``bootstrap`` (the one
composition root).
"""

__version__ = "0.1.0"

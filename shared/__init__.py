"""vidcurate: the library every Cloud Function, job and the CLI import.

One package per capability (``captions``, ``publishing``, ``critiques``, ``media``,
``vision``, ``demo``) over shared layers: ``llm`` (model client, ledger, prompts),
``platform`` (context, settings, events, topics, leases, fan-out, the runtime), ``ports``
(small Protocols) and ``core`` (pure building blocks). ``adapters`` hold the local and cloud
implementations of the ports; ``bootstrap`` (the one composition root, the only importer
of adapters), ``config`` and ``catalog`` sit on top with ``cli``. README.md ("Architecture")
has the import rules; ``lint-imports`` checks them.
"""

__version__ = "0.1.0"

"""The Firestore queries the code makes, and the indexes firestore.tf declares for them.

- ``QueryRecorder``: a document store that notes each query and count query it is asked (and
  where in the source it was asked), so a test can run the code and see the queries it
  builds; alone it finds nothing, over a store (``recording``: a local one, seeded) it answers
  what that store holds, so the code goes on to the queries that depend on what it found.
- ``discovery_queries``/``explorer_queries``: every query of shared/discovery and of the web
  app's clip explorer, as the code builds them.
- ``page_recorder``: every query and count query of the web app's pages over training sets,
  learning rounds, discovery, costs and status (``PAGE_MODULES``), as the code builds them.
- ``Query.needs_composite_index``/``composite_fields``: whether Firestore needs a composite
  index for a query, and which.
- ``index_instances``: the composite indexes firestore.tf declares, one per instance (a
  ``for_each`` over a list variable expanded with its default).
- ``exempt_fields``: the (collection group, field) pairs whose single-field indexes
  firestore.tf removes; ``indexed_fields``: those it indexes again (a subfield of an exempt
  map); ``served_by_single_field_index``: whether a query's fields keep their indexes.
- ``ledger_queries``: the queries of the cost ledger and its day and hour totals.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from terraform_config import REPO, Config, Resource, hcl_list, local, render, resources, variables

from shared.bootstrap import build_context, build_subscriber
from shared.config import Settings
from shared.critiques.store import RUNS as CRITIQUE_RUNS
from shared.discovery.overview import bundle_report, discovery_overview, discovery_run
from shared.discovery.runs import RUNS as DISCOVERY_RUNS
from shared.discovery.runs import latest_run
from shared.discovery.store import BUNDLES, bundle_words, videos_for_word
from shared.learning.roundstore import ROUNDS
from shared.learning.roundviews import round_report, round_rows
from shared.llm.ledger import recent_requests, spend_report, summarize_costs
from shared.media.api import clip_page
from shared.ops.costs import WINDOWS, collect_costs
from shared.ops.status import collect_status
from shared.platform.context import Context
from shared.ports import DocumentStore
from shared.trainsets.api import CHANGES_SHOWN, SET_STATUSES, set_page, set_review
from shared.trainsets.execute import SETS, changes_collection
from shared.vision.api import IN_LIMIT, analyses_of, analysis_summaries

INEQUALITIES = {"<", "<=", ">", ">=", "!=", "not-in"}
FIRESTORE_ORDER = {"asc": "ASCENDING", "desc": "DESCENDING"}

# The modules of the clip explorer that query documents or read objects.
EXPLORER_MODULES = (
    "shared/web/explorer.py",
    "shared/web/streaming.py",
    "shared/media/api.py",
    "shared/vision/api.py",
)
# The web app's pages over training sets, learning rounds, discovery, costs and status: each
# page's module (which queries nothing itself) and the module that reads for it.
PAGE_MODULES = (
    "shared/web/sets_page.py",
    "shared/trainsets/api.py",
    "shared/web/rounds_page.py",
    "shared/learning/roundviews.py",
    "shared/web/discovery_page.py",
    "shared/discovery/overview.py",
    "shared/web/costs.py",
    "shared/ops/costs.py",
    "shared/web/status.py",
    "shared/ops/status.py",
)


@dataclass(frozen=True)
class Query:
    collection: str
    where: tuple[tuple[str, str, Any], ...]
    order_by: tuple[tuple[str, str], ...]
    # Where in the source it was asked (repository path, line); not part of what it is.
    site: tuple[str, int] | None = field(default=None, compare=False)

    @property
    def fields(self) -> set[str]:
        return {name for name, _op, _value in self.where} | {name for name, _ in self.order_by}

    @property
    def needs_composite_index(self) -> bool:
        """Firestore serves equality and array-contains filters on several fields by merging
        single-field indexes, and one field's filter and order by that field's own index; an
        order, or a range or inequality filter, combined with another field needs a
        composite index."""
        ranged = any(op in INEQUALITIES for _name, op, _value in self.where)
        return len(self.fields) > 1 and (bool(self.order_by) or ranged)

    def composite_fields(self) -> list[dict[str, str]]:
        """The index that serves it: equality fields first (``in`` is an equality for
        Firestore's indexes), then the order."""
        ordered = [name for name, _ in self.order_by]
        fields = [
            {"field_path": name, "order": "ASCENDING"}
            for name, op, _value in self.where
            if name not in ordered and op in ("==", "in")
        ]
        fields += [
            {"field_path": name, "order": FIRESTORE_ORDER[direction]}
            for name, direction in self.order_by
        ]
        return fields

    @property
    def index_key(self) -> tuple[str, tuple[str, ...]]:
        return (self.collection, tuple(map(str, self.composite_fields())))


@dataclass
class QueryRecorder:
    """A document store that notes the queries and count queries it is asked, and the source
    line of each call. Alone it finds nothing (and counts 0); over ``store`` it answers (and
    reads, and writes) with that store."""

    queries: list[Query] = field(default_factory=list)
    sites: set[tuple[str, int]] = field(default_factory=set)
    counts: list[Query] = field(default_factory=list)
    count_sites: set[tuple[str, int]] = field(default_factory=set)
    store: DocumentStore | None = None

    def query(
        self,
        collection: str,
        where: Sequence[tuple[str, str, Any]] = (),
        order_by: Sequence[tuple[str, str]] = (),
        limit: int | None = None,
    ) -> list[Any]:
        site = _site(sys._getframe(1))
        self.sites.add(site)
        self.queries.append(Query(collection, tuple(where), tuple(order_by), site))
        if self.store is None:
            return []
        return self.store.query(collection, where, order_by, limit)

    def count(
        self, collection: str, where: Sequence[tuple[str, str, Any]] = (), **options: Any
    ) -> int:
        """Noted as a query with no order (a count uses the indexes its query would);
        ``options`` (``up_to``: a bounded count) are the store's."""
        site = _site(sys._getframe(1))
        self.count_sites.add(site)
        self.counts.append(Query(collection, tuple(where), (), site))
        if self.store is None:
            return 0
        return self.store.count(collection, where, **options)

    def __getattr__(self, name: str) -> Any:
        # Everything else (reads by id, writes, transactions) is the store's.
        store = self.__dict__.get("store")
        if store is None:
            raise AttributeError(name)
        return getattr(store, name)

    @property
    def documents(self) -> DocumentStore:
        return cast(DocumentStore, self)

    @property
    def services(self) -> Any:
        """A context whose document store is this recorder."""
        return SimpleNamespace(documents=self.documents)

    def under(self, paths: Iterable[str]) -> tuple[list[Query], list[Query]]:
        """The queries and count queries asked from the source of ``paths`` (files, or the
        folders they are in)."""
        prefixes = tuple(paths)

        def asked_there(query: Query) -> bool:
            return query.site is not None and query.site[0].startswith(prefixes)

        return (
            [q for q in self.queries if asked_there(q)],
            [q for q in self.counts if asked_there(q)],
        )


def _site(caller: Any) -> tuple[str, int]:
    path = Path(caller.f_code.co_filename).resolve()
    return (path.relative_to(REPO).as_posix(), caller.f_lineno)


@contextmanager
def recording(
    seed: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[tuple[QueryRecorder, Context[Settings]]]:
    """A context over a fresh local home whose documents are ``seed`` (path -> data), and
    the recorder its document store is: the code runs against real stores, and its queries
    are noted."""
    with tempfile.TemporaryDirectory(prefix="vidcurate-queries-") as home:
        settings = Settings(
            _env_file=None,
            backend="local",
            home=Path(home) / "home",
            log_level="CRITICAL",
            llm_provider="offline",
        )
        services = build_context(settings)
        try:
            with services.documents.batch() as batch:
                for path, data in (seed or {}).items():
                    batch.set(path, dict(data))
            recorder = QueryRecorder(store=services.documents)
            yield recorder, dataclasses.replace(services, documents=recorder.documents)
        finally:
            services.close()


DISCOVERY_RUN = "discover-20261204-1905"
BUNDLE = "toefl-intermediate"


def discovery_recorder() -> QueryRecorder:
    """Every query of shared/discovery, as the code builds it: a word's clips, a bundle's
    words, the latest run; the discovery page's overview (the latest runs with their words
    counted by status, the bundles, the relevance histogram), a run's page and a bundle's,
    over a store holding one run and one bundle (so the page goes on to count each run's
    words and report each bundle). Other packages' queries the pages make on the way (a
    run's costs: shared/llm) are recorded too, with their sites."""
    seed = {
        f"{DISCOVERY_RUNS}/{DISCOVERY_RUN}": {
            "created_at": datetime(2026, 12, 4, 19, 5, tzinfo=UTC),
            "queued": 3,
            "max_cost_usd": 2.5,
        },
        f"{BUNDLES}/{BUNDLE}": {"languages": ["en"]},
    }
    with recording(seed) as (recorder, services):
        videos_for_word(recorder.documents, "Serendipity", "en", 10)
        list(bundle_words(recorder.documents, BUNDLE))
        latest_run(services)
        discovery_overview(services)
        discovery_run(services, DISCOVERY_RUN)
        bundle_report(recorder.documents, BUNDLE)
    return recorder


def discovery_queries() -> list[Query]:
    """Every query of shared/discovery, as the code builds it (discovery_recorder)."""
    return discovery_recorder().under(["shared/discovery/"])[0]


def explorer_recorder(metadata_fields: Iterable[str] = ("factory_id",)) -> QueryRecorder:
    """Every query of the clip explorer (shared/media/api.py, shared/vision/api.py), as the
    code builds it: a page of clips with and without a name prefix, a cursor and a search by
    each of ``metadata_fields``; one clip's analyses; a page's summaries (more names than one
    ``in`` takes)."""
    recorder = QueryRecorder()
    for prefix in ("", "factory-7/"):
        for after in (None, "factory-7/cam-2/0001.mp4"):
            clip_page(recorder.services, prefix=prefix, after=after)
            for name in metadata_fields:
                clip_page(recorder.services, prefix=prefix, field=name, value="7", after=after)
    analyses_of(recorder.services, "factory-7/cam-2/0001.mp4")
    analysis_summaries(recorder.services, [f"clip-{i:03}.mp4" for i in range(IN_LIMIT + 1)])
    return recorder


def explorer_queries(metadata_fields: Iterable[str] = ("factory_id",)) -> list[Query]:
    return explorer_recorder(metadata_fields).queries


def ledger_queries() -> list[Query]:
    """Every query of shared/llm, as the code builds it: a run's costs (its ledger entries),
    the spend since a day (the day totals), the last hour's requests per minute (the hour
    totals)."""
    recorder = QueryRecorder()
    summarize_costs(recorder.documents, run="discover-20261204-1905")
    spend_report(recorder.documents, since=date(2026, 12, 4))
    recent_requests(recorder.documents, now=datetime(2026, 12, 4, 19, 5, tzinfo=UTC))
    return recorder.queries


TRAINING_SET = "set-1"
CRITIQUE_FOLDER = "export_20250101_0000"


def page_recorder() -> QueryRecorder:
    """Every query and count query of the web app's pages over training sets, learning
    rounds, discovery, costs and status (PAGE_MODULES), as the code builds them, over a store
    holding a set (with a full page of changes, so its page counts them all), a round, a
    discovery run and a critique run under budget caps (so the pages go on to read each):

    - the image-sets page (shared/trainsets/api.py set_page): every status and none, with and
      without a cursor; the counts by status; a set's page (set_review), its changes;
    - the rounds page (shared/learning/roundviews.py): the rounds, newest first; a round's;
    - the discovery page (shared/discovery/overview.py, discovery_recorder);
    - the costs page (shared/ops/costs.py collect_costs): each window the page offers;
    - the status page (shared/ops/status.py collect_status): documents per collection, clips,
      analyses and shards by status, the latest critique runs and their failed items.

    The queries of other packages the pages make on the way are recorded too, each with its
    site (``QueryRecorder.under`` picks a module's)."""
    now = datetime(2026, 12, 4, 19, 5, tzinfo=UTC)
    seed: dict[str, Mapping[str, Any]] = {
        f"{SETS}/{TRAINING_SET}": {
            "set_id": TRAINING_SET,
            "status": "evaluated",
            "balanced": False,
            "run": "sets-20261204-1905",
        },
        **{
            f"{changes_collection(TRAINING_SET)}/{i:04}": {
                "id": f"{i:04}",
                "operation": "sets-20261204-1905",
                "kind": "delete",
                "status": "done",
            }
            for i in range(CHANGES_SHOWN)
        },
        f"{ROUNDS}/round_00": {"round": 0, "status": "done"},
        f"{CRITIQUE_RUNS}/{CRITIQUE_FOLDER}": {
            "planned_at": now,
            "captions": 1,
            "request": {"export_folder": CRITIQUE_FOLDER, "max_cost_usd": 5.0},
        },
        f"{DISCOVERY_RUNS}/{DISCOVERY_RUN}": {"created_at": now, "max_cost_usd": 2.5},
    }
    with recording(seed) as (recorder, services):
        for status in (None, *SET_STATUSES):
            for after in (None, "set-0"):
                set_page(services, status=status, after=after)
        set_review(services, TRAINING_SET)
        round_rows(services)
        round_report(services, 0)
        for days in WINDOWS:
            collect_costs(services, days=days, now=now)
        collect_status(services, build_subscriber(services))
    discovery = discovery_recorder()
    recorder.queries += discovery.queries
    recorder.sites |= discovery.sites
    recorder.counts += discovery.counts
    recorder.count_sites |= discovery.count_sites
    return recorder


def query_calls(paths: Iterable[str]) -> dict[tuple[str, int], range]:
    """The ``<something>.query(...)`` calls in the source of ``paths``: (path, first line) ->
    the lines the call spans."""
    calls: dict[tuple[str, int], range] = {}
    for path in paths:
        tree = ast.parse((REPO / path).read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "query"
            ):
                end = node.end_lineno or node.lineno
                calls[(path, node.lineno)] = range(node.lineno, end + 1)
    return calls


def count_calls(paths: Iterable[str]) -> dict[tuple[str, int], range]:
    """The count queries in the source of ``paths``, ``documents.count(...)`` or
    ``<something>.documents.count(...)`` (not a string's or a list's count): (path, first
    line) -> the lines the call spans."""
    calls: dict[tuple[str, int], range] = {}
    for path in paths:
        tree = ast.parse((REPO / path).read_text())
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "count"
            ):
                continue
            owner = node.func.value
            if (isinstance(owner, ast.Name) and owner.id == "documents") or (
                isinstance(owner, ast.Attribute) and owner.attr == "documents"
            ):
                end = node.end_lineno or node.lineno
                calls[(path, node.lineno)] = range(node.lineno, end + 1)
    return calls


def recorded_everywhere(
    calls: Mapping[tuple[str, int], range], sites: Iterable[tuple[str, int]]
) -> list[tuple[str, int]]:
    """The calls (path, first line) that no recorded site lies in: none, when a recorder ran
    every one of them."""
    sites = list(sites)
    return [
        (path, first)
        for (path, first), lines in calls.items()
        if not any(p == path and line in lines for p, line in sites)
    ]


# --- what firestore.tf declares --------------------------------------------------------------


def composite_indexes(root: Config) -> list[Resource]:
    return [r for r in resources(root, "terraform") if r.type == "google_firestore_index"]


def index_fields(index: Resource, each_key: str | None = None) -> list[dict[str, str]]:
    """The index's fields; with ``each_key``, ``${each.key}`` rendered as that key."""
    found = []
    for block in index.body["fields"]:
        entry = {key: value for key, value in block.items() if key != "__is_block__"}
        if each_key is not None:
            entry = {key: render(value, {"each.key": each_key}) for key, value in entry.items()}
        found.append(entry)
    return found


@dataclass(frozen=True)
class IndexInstance:
    """One index terraform creates: a resource, or one instance of a ``for_each`` one."""

    resource: Resource
    key: str | None
    fields: tuple[dict[str, str], ...]

    @property
    def address(self) -> str:
        return self.resource.address + (f'["{self.key}"]' if self.key is not None else "")

    @property
    def index_key(self) -> tuple[str, tuple[str, ...]]:
        return (self.resource.body["collection"], tuple(map(str, self.fields)))


def for_each_variable(resource: Resource) -> str | None:
    """The list variable a ``for_each = toset(var.<name>)`` resource iterates, or None."""
    gate = resource.body.get("for_each")
    if gate is None:
        return None
    match = re.fullmatch(r"\$\{toset\(var\.(\w+)\)\}", gate)
    assert match, f"{resource.address}: for_each {gate!r} is not toset(var.<list>)"
    return match[1]


def index_instances(
    root: Config, values: dict[str, list[str]] | None = None
) -> list[IndexInstance]:
    """Every composite index, a ``for_each`` over ``var.<name>`` expanded with
    ``values[name]``, else the variable's default."""
    values = values or {}
    found = []
    for index in composite_indexes(root):
        assert "count" not in index.body, index.address
        name = for_each_variable(index)
        if name is None:
            found.append(IndexInstance(index, None, tuple(index_fields(index))))
            continue
        keys = values.get(name, variables(root)[name]["default"])
        for key in keys:
            found.append(IndexInstance(index, key, tuple(index_fields(index, key))))
    return found


def field_configs(root: Config) -> dict[tuple[str, str], list[dict[str, str]]]:
    """(collection group, field) -> the single-field indexes a google_firestore_field
    declares for it (``[]``: an empty index_config, every index removed)."""
    found: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in resources(root, "terraform"):
        if r.type != "google_firestore_field":
            continue
        collection = r.body["collection"]
        match = re.fullmatch(r"\$\{local\.(\w+)\}", collection)
        if match:
            collection = local(root, match[1])
        if r.body["field"] == "${each.key}":
            match = re.fullmatch(r"\$\{toset\(local\.(\w+)\)\}", r.body["for_each"])
            assert match, r.address
            names = hcl_list(local(root, match[1]))
        else:
            names = [r.body["field"]]
        (config,) = r.body["index_config"]
        indexes = [
            {key: value for key, value in index.items() if key != "__is_block__"}
            for index in config.get("indexes", [])
        ]
        for name in names:
            assert (collection, name) not in found, (r.address, name)  # one override a field
            found[(collection, name)] = indexes
    return found


def exempt_fields(root: Config) -> set[tuple[str, str]]:
    """(collection group, field) pairs whose single-field indexes a google_firestore_field
    removes (an empty index_config)."""
    return {key for key, indexes in field_configs(root).items() if not indexes}


def indexed_fields(root: Config) -> dict[tuple[str, str], list[dict[str, str]]]:
    """(collection group, field) pairs a google_firestore_field gives indexes of its own (a
    subfield of an exempt map that a query filters on), and those indexes."""
    return {key: indexes for key, indexes in field_configs(root).items() if indexes}


def served_by_single_field_index(
    query: Query, exempt: set[tuple[str, str]], indexed: dict[tuple[str, str], Any]
) -> bool:
    """Whether each field of a query that needs no composite index keeps a single-field
    index: neither it nor a map above it is exempt, unless a field override of its own
    indexes it again (the nearest override wins, as in Firestore)."""
    collection = query.collection.split("/")[-1]
    for name in query.fields:
        parts = name.split(".")
        for depth in range(len(parts), 0, -1):
            path = ".".join(parts[:depth])
            if (collection, path) in indexed:
                # What an adapter's query of one collection uses: an ordered index at
                # collection scope (the provider's default scope).
                if not any(
                    "order" in index and index.get("query_scope", "COLLECTION") == "COLLECTION"
                    for index in indexed[(collection, path)]
                ):
                    return False
                break
            if (collection, path) in exempt:
                return False
    return not query.needs_composite_index

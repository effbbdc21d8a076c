"""What the web app's image-sets pages ask of training sets: a page of sets with their state
(keyset-paged in id order, with counts by status), the sets of the bucket's first objects that
were never evaluated, and one set's review: its evaluation (mix against the target, every
verdict, the sheets the model was shown), its plan, and the changes its executions made.

Every read is bounded: a page of set documents (``limit``), count queries, a capped look at
the sets bucket's first objects, one set's folder, its evaluation file, and its latest change
documents (``limit``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from shared.core.errors import NotFoundError, PermanentError
from shared.platform.context import Context
from shared.ports import Filter
from shared.trainsets.evaluate import composite_name, evaluation_key, evaluation_name, set_path
from shared.trainsets.execute import SETS, changes_collection, planned_changes
from shared.trainsets.grid import layout
from shared.trainsets.manifest import MANIFEST_NAME, Manifest, read_manifest, set_images
from shared.trainsets.messages import SET_ID_PATTERN
from shared.trainsets.sets import set_states
from shared.trainsets.settings import TrainsetSettings

__all__ = [
    "CHANGES_SHOWN",
    "PAGE_SIZE",
    "SET_STATUSES",
    "CategoryRow",
    "ChangeRow",
    "OperationRow",
    "SetPage",
    "SetReview",
    "SetStatus",
    "SheetRow",
    "VerdictRow",
    "composite_image",
    "is_set_id",
    "set_page",
    "set_review",
]

PAGE_SIZE = 50
"""Sets on one page."""
SCAN_OBJECTS = 2000
"""Objects of the sets bucket looked at for sets never evaluated (its first, in name order)."""
SCAN_SETS = 100
"""Sets never evaluated shown at most."""
CHANGES_SHOWN = 200
"""Change documents shown at most (the latest operations')."""

SetStatus = Literal["evaluated", "failed", "evaluating", "pending", "rolled back"]
SET_STATUSES: tuple[str, ...] = get_args(SetStatus)


def is_set_id(text: str) -> bool:
    """Whether ``text`` is a set id (the pattern, whole: no trailing line break)."""
    return SET_ID_PATTERN.fullmatch(text) is not None


class SetPage(BaseModel):
    """One page of sets in id order, as ``vidcurate sets status`` shows them."""

    sets: list[dict[str, Any]] = Field(description="Rows of `sets status --json`.")
    status: str | None = Field(description="The status the page is filtered on, if any.")
    after: str | None = Field(description="The page starts after this set id.")
    next_cursor: str | None = Field(description="The next page starts after it; None: last.")
    counts: dict[str, int] = Field(
        description="Sets with a document (every one ever evaluated), in all and by status; "
        "'unbalanced': evaluated and not balanced."
    )
    never_evaluated: list[str] = Field(
        description="Sets with a manifest and no evaluation, among the bucket's first objects."
    )
    scanned_all: bool = Field(description="Whether that look covered the whole sets bucket.")
    categories: list[str] = Field(description="The configured categories, in order.")


class CategoryRow(BaseModel):
    """One category of an evaluated set against its target."""

    name: str
    description: str | None
    count: int
    percentage: float
    target: float = Field(description="Target share, in percent.")
    target_count: int | None = Field(description="Images of it in a set of the target size.")
    deviation: float = Field(description="Points over (+) or under (-) the target.")
    within: bool = Field(description="Within the tolerance (exact, as the plan decides).")
    generate: int = Field(0, description="Images of it the plan generates.")
    delete: int = Field(0, description="Images of it the plan deletes.")


class VerdictRow(BaseModel):
    """The model's verdict on one image, and what the plan does with it."""

    number: int
    file: str
    category: str
    quality: int
    reason: str
    delete_reason: str | None = Field(description="Why the plan deletes it; None: kept.")
    in_set: bool | None = Field(description="Still listed in the manifest (None: unknown).")


class SheetRow(BaseModel):
    """One contact sheet the model was shown."""

    index: int
    name: str
    first: int | None = Field(description="The first image number on it, when known.")
    last: int | None


class ChangeRow(BaseModel):
    """One change of an operation (a deletion or a generation)."""

    id: str
    kind: str
    file: str | None
    category: str | None
    prompt: str | None
    model: str | None
    reason: str | None
    status: str
    note: str | None
    cost_usd: float | None


class OperationRow(BaseModel):
    """An execution of a plan (named by its run), and its changes."""

    operation: str
    changes: list[ChangeRow]
    deleted: int
    generated: int
    skipped: int
    rolled_back: int
    planned: int
    cost_usd: float


class SetReview(BaseModel):
    """Everything the set's page shows."""

    set_id: str
    state: dict[str, Any] = Field(description="The row of `sets status --json`.")
    subject: str | None
    manifest_images: int | None = Field(description="Images the manifest lists now.")
    generated_images: int = Field(description="Of them, generated by an operation.")
    manifest_error: str | None
    own_distribution: bool = Field(description="The set has its own target mix.")
    evaluation: dict[str, Any] | None = Field(
        description="The evaluation's facts (run, time, model, tokens, cost, balance), "
        "without its lists; None: never evaluated."
    )
    evaluation_error: str | None
    analysis: str
    categories: list[CategoryRow]
    verdicts: list[VerdictRow]
    quality: dict[str, list[int]] = Field(description="Category -> images scored 1..10.")
    sheets: list[SheetRow]
    plan_state: Literal["none", "pending", "applied", "void"] = Field(
        description="none: nothing to change; pending: not applied; applied: by an "
        "operation; void: the set was rolled back or changed since the evaluation."
    )
    plan_delete: list[VerdictRow]
    plan_generate: dict[str, int]
    planned_prompts: list[dict[str, str]] = Field(
        description="What each generation of a pending plan would be asked for."
    )
    current: bool | None = Field(
        description="The evaluation describes the set as it is (None: cannot tell)."
    )
    added: list[str] = Field(description="Images in the set since the evaluation.")
    removed: list[str] = Field(description="Images of the evaluation no longer in the set.")
    missing: list[str] = Field(description="Images the manifest names that are not stored.")
    operations: list[OperationRow]
    changes_total: int
    changes_shown: int
    notices: list[str] = Field(description="What the reviewer should know first.")


# -- the list -------------------------------------------------------------------------------


def set_page(
    services: Context[TrainsetSettings],
    *,
    status: str | None = None,
    after: str | None = None,
    size: int = PAGE_SIZE,
) -> SetPage:
    """The sets after ``after`` in id order (with ``status`` only, if given): one indexed
    query of ``size + 1`` documents; the counts by status; on the first page, the sets of
    the bucket's first objects never evaluated."""
    if status is not None and status not in SET_STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(SET_STATUSES)}")
    documents = services.documents
    where: list[Filter] = []
    if status is not None:
        where.append(("status", "==", status))
    if after:
        where.append(("set_id", ">", after))
    found = documents.query(SETS, where=where, order_by=[("set_id", "asc")], limit=size + 1)
    ids = [str(doc.data.get("set_id")) for doc in found[:size]]
    rows = set_states(services, ids) if ids else []
    counts = {"all": documents.count(SETS)}
    for name in SET_STATUSES:
        counts[name] = documents.count(SETS, [("status", "==", name)])
    counts["unbalanced"] = documents.count(
        SETS, [("status", "==", "evaluated"), ("balanced", "==", False)]
    )
    never: list[str] = []
    scanned_all = True
    if not after and status is None:
        never, scanned_all = _never_evaluated(services)
    return SetPage(
        sets=rows,
        status=status,
        after=after,
        next_cursor=ids[-1] if len(found) > size and ids else None,
        counts=counts,
        never_evaluated=never,
        scanned_all=scanned_all,
        categories=list(services.settings.set_distribution.categories),
    )


def _never_evaluated(services: Context[TrainsetSettings]) -> tuple[list[str], bool]:
    """Sets with a manifest among the sets bucket's first :data:`SCAN_OBJECTS` objects that
    have no document (never evaluated), at most :data:`SCAN_SETS`; and whether the look
    covered the whole bucket."""
    suffix = f"/{MANIFEST_NAME}"
    manifests: list[str] = []
    # the listing is lazy: only the objects looked at are read
    for seen, info in enumerate(services.blobs.list(services.settings.sets_bucket), 1):
        if seen > SCAN_OBJECTS or len(manifests) >= 2 * SCAN_SETS:
            return _without_document(services, manifests), False
        if info.name.endswith(suffix) and info.name.count("/") == 1:
            manifests.append(info.name.removesuffix(suffix))
    return _without_document(services, manifests), True


def _without_document(services: Context[TrainsetSettings], ids: Sequence[str]) -> list[str]:
    known = services.documents.get_many([set_path(set_id) for set_id in ids])
    return [set_id for set_id in ids if set_path(set_id) not in known][:SCAN_SETS]


# -- one set --------------------------------------------------------------------------------


def set_review(services: Context[TrainsetSettings], set_id: str) -> SetReview | None:
    """The set's review, or None when there is no such set (no document, no manifest)."""
    if not is_set_id(set_id):
        return None
    settings = services.settings
    document = services.documents.get(set_path(set_id))
    data: dict[str, Any] = dict(document.data) if document is not None else {}
    manifest: Manifest | None = None
    manifest_error: str | None = None
    try:
        found = read_manifest(services.blobs, settings.sets_bucket, set_id)
    except PermanentError as exc:
        manifest_error = str(exc)
        found = None
    if found is not None:
        manifest = found[0]
    if document is None and manifest is None and manifest_error is None:
        return None
    state = set_states(services, [set_id])[0]
    evaluation, evaluation_error = _evaluation(services, set_id)
    review = _Review(services, set_id, data, manifest, evaluation)
    notices = review.notices(state)
    return SetReview(
        set_id=set_id,
        state=state,
        subject=manifest.subject if manifest is not None else None,
        manifest_images=len(manifest.images) if manifest is not None else None,
        generated_images=sum(1 for i in manifest.images if i.source == "generated")
        if manifest is not None
        else 0,
        manifest_error=manifest_error,
        own_distribution=manifest is not None and manifest.distribution is not None,
        evaluation=_facts(evaluation) if evaluation is not None else None,
        evaluation_error=evaluation_error,
        analysis=str((evaluation or {}).get("analysis") or ""),
        categories=review.categories(),
        verdicts=review.verdicts(),
        quality=review.quality(),
        sheets=review.sheets(),
        plan_state=review.plan_state,
        plan_delete=review.plan_delete(),
        plan_generate=review.generate,
        planned_prompts=review.planned_prompts(),
        current=review.current,
        added=review.added,
        removed=review.removed,
        missing=review.missing,
        operations=review.operations,
        changes_total=review.changes_total,
        changes_shown=sum(len(o.changes) for o in review.operations),
        notices=notices,
    )


def composite_image(
    services: Context[TrainsetSettings], set_id: str, index: int
) -> tuple[str, bytes] | None:
    """The ``index``-th sheet of the set's evaluation (its name and JPEG), or None."""
    if not is_set_id(set_id) or index < 0:
        return None
    evaluation, _error = _evaluation(services, set_id)
    names = _composites(set_id, evaluation)
    if index >= len(names):
        return None
    try:
        return names[index], services.blobs.read(services.settings.evaluations_bucket, names[index])
    except NotFoundError:
        return None


def _evaluation(
    services: Context[TrainsetSettings], set_id: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The set's evaluation file, or None, and why it could not be read (if so)."""
    bucket = services.settings.evaluations_bucket
    name = evaluation_name(set_id)
    try:
        body = services.blobs.read(bucket, name)
    except NotFoundError:
        return None, None
    try:
        found = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None, f"{bucket}/{name} is not JSON"
    if not isinstance(found, dict) or found.get("set_id") != set_id:
        return None, f"{bucket}/{name} is not an evaluation of set {set_id}"
    return found, None


def _composites(set_id: str, evaluation: Mapping[str, Any] | None) -> list[str]:
    """The sheets an evaluation lists that are sheets of this set (by their names)."""
    own = re.compile(rf"{re.escape(set_id)}_composite(_[0-9]+)?\.jpg")
    listed = (evaluation or {}).get("composites") or []
    return [str(n) for n in listed if isinstance(n, str) and own.fullmatch(n)]


FACTS = (
    "run",
    "evaluated_at",
    "model",
    "requested_model",
    "provider",
    "calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "balanced",
    "total",
    "tolerance",
    "key",
    "grid_seconds",
)


def _facts(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    return {name: evaluation.get(name) for name in FACTS}


def _number(value: Any, default: float = 0.0) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


class _Review:
    """The parts of a set's review, from its document, manifest and evaluation."""

    def __init__(
        self,
        services: Context[TrainsetSettings],
        set_id: str,
        data: Mapping[str, Any],
        manifest: Manifest | None,
        evaluation: Mapping[str, Any] | None,
    ) -> None:
        self.services = services
        self.set_id = set_id
        self.data = data
        self.manifest = manifest
        self.evaluation: Mapping[str, Any] = evaluation or {}
        self.evaluated = evaluation is not None
        plan = self.evaluation.get("plan") or {}
        self.delete: dict[str, str] = {
            str(entry.get("file")): str(entry.get("reason") or "")
            for entry in plan.get("delete") or []
            if isinstance(entry, Mapping)
        }
        self.generate: dict[str, int] = {
            str(k): int(_number(v)) for k, v in (plan.get("generate") or {}).items()
        }
        self.generate = {k: v for k, v in self.generate.items() if v > 0}
        self.images: list[Mapping[str, Any]] = [
            i for i in self.evaluation.get("images") or [] if isinstance(i, Mapping)
        ]
        self.added: list[str] = []
        self.removed: list[str] = []
        self.missing: list[str] = []
        self.current: bool | None = None
        self._compare()
        self.plan_state = self._plan_state()
        self.operations, self.changes_total = self._operations()

    # the set now against the evaluation

    def _compare(self) -> None:
        if self.manifest is None:
            return
        settings = self.services.settings
        files = self.manifest.files()
        evaluated = [str(i.get("file")) for i in self.images]
        before, now = set(evaluated), set(files)
        self.added = [f for f in files if f not in before] if self.evaluated else []
        self.removed = [f for f in evaluated if f not in now]
        present = set_images(self.services.blobs, settings.sets_bucket, self.set_id)
        self.missing = [f for f in files if f not in present]
        if not self.evaluated or self.missing or not files:
            self.current = False if self.evaluated else None
            return
        generations = {f: present[f].generation for f in files}
        key = evaluation_key(self.manifest, generations, settings)
        self.current = key == self.evaluation.get("key")

    def _plan_state(self) -> Literal["none", "pending", "applied", "void"]:
        if not self.delete and not self.generate:
            return "none"
        run = self.evaluation.get("run")
        if run is not None and self.data.get("executed_run") == run:
            return "applied"
        if self.data.get("status") == "rolled back" or self.current is False:
            return "void"
        return "pending"

    # the evaluation

    def categories(self) -> list[CategoryRow]:
        if not self.evaluated:
            return []
        target = self.evaluation.get("target") or {}
        counts = self.evaluation.get("counts") or {}
        total = int(_number(self.evaluation.get("total")))
        tolerance = Fraction(str(_number(self.evaluation.get("tolerance"))))
        percentages = self.evaluation.get("percentages") or {}
        deviations = self.evaluation.get("deviations") or {}
        target_counts = self.evaluation.get("target_counts") or {}
        descriptions = self._distribution_categories()
        deleted: dict[str, int] = {}
        for image in self.images:
            if str(image.get("file")) in self.delete:
                name = str(image.get("category"))
                deleted[name] = deleted.get(name, 0) + 1
        rows = []
        for name in dict.fromkeys([*target, *counts]):
            count = int(_number(counts.get(name)))
            share = Fraction(str(_number(target.get(name))))
            within = total > 0 and abs(Fraction(count, total) - share) <= tolerance
            rows.append(
                CategoryRow(
                    name=name,
                    description=descriptions.get(name),
                    count=count,
                    percentage=_number(percentages.get(name)),
                    target=round(float(share * 100), 1),
                    target_count=int(target_counts[name]) if name in target_counts else None,
                    deviation=_number(deviations.get(name)),
                    within=within,
                    generate=self.generate.get(name, 0),
                    delete=deleted.get(name, 0),
                )
            )
        return rows

    def _distribution_categories(self) -> dict[str, str]:
        if self.manifest is not None and self.manifest.distribution is not None:
            return dict(self.manifest.distribution.categories)
        return dict(self.services.settings.set_distribution.categories)

    def verdicts(self) -> list[VerdictRow]:
        files = set(self.manifest.files()) if self.manifest is not None else None
        return [
            VerdictRow(
                number=int(_number(i.get("number"))),
                file=str(i.get("file")),
                category=str(i.get("category")),
                quality=int(_number(i.get("quality"))),
                reason=str(i.get("reason") or ""),
                delete_reason=self.delete.get(str(i.get("file"))),
                in_set=None if files is None else str(i.get("file")) in files,
            )
            for i in self.images
        ]

    def plan_delete(self) -> list[VerdictRow]:
        """The images the plan deletes, in its order (the first to go first)."""
        by_file = {v.file: v for v in self.verdicts()}
        return [by_file[file] for file in self.delete if file in by_file]

    def quality(self) -> dict[str, list[int]]:
        scores: dict[str, list[int]] = {row.name: [0] * 10 for row in self.categories()}
        for image in self.images:
            quality = int(_number(image.get("quality")))
            if 1 <= quality <= 10:
                scores.setdefault(str(image.get("category")), [0] * 10)[quality - 1] += 1
        return scores

    def sheets(self) -> list[SheetRow]:
        names = _composites(self.set_id, self.evaluation)
        # the numbers on each sheet, when the configured sheets would split the set so
        numbers = [
            (sheet.numbers[0], sheet.numbers[-1])
            for sheet in layout(len(self.images), self.services.settings.set_grid)
        ]
        known = len(numbers) == len(names) and all(
            names[i] == composite_name(self.set_id, i) for i in range(len(names))
        )
        return [
            SheetRow(
                index=index,
                name=name,
                first=numbers[index][0] if known else None,
                last=numbers[index][1] if known else None,
            )
            for index, name in enumerate(names)
        ]

    def planned_prompts(self) -> list[dict[str, str]]:
        if self.plan_state != "pending" or not self.generate:
            return []
        subject = (self.manifest.subject if self.manifest is not None else None) or self.set_id
        with contextlib.suppress(KeyError, TypeError, ValueError):
            changes = planned_changes(
                self.services.settings,
                self.set_id,
                subject,
                "next",
                {"generate": self.generate},
                {},
            )
            return [
                {"category": str(c["category"]), "prompt": str(c["prompt"])}
                for c in changes
                if c["kind"] == "generate"
            ]
        return []

    # what executions changed

    def _operations(self) -> tuple[list[OperationRow], int]:
        documents = self.services.documents
        collection = changes_collection(self.set_id)
        found = documents.query(collection, order_by=[("id", "desc")], limit=CHANGES_SHOWN)
        total = len(found) if len(found) < CHANGES_SHOWN else documents.count(collection)
        categories = {str(i.get("file")): str(i.get("category")) for i in self.images}
        grouped: dict[str, list[ChangeRow]] = {}
        for document in found:
            row = _change(document.data)
            if row.category is None and row.file is not None:
                row.category = categories.get(row.file)  # a deletion: the model's verdict
            grouped.setdefault(str(document.data.get("operation")), []).append(row)
        operations = []
        for operation, changes in grouped.items():
            changes.sort(key=lambda c: c.id)
            operations.append(
                OperationRow(
                    operation=operation,
                    changes=changes,
                    deleted=sum(1 for c in changes if c.kind == "delete" and c.status == "done"),
                    generated=sum(
                        1 for c in changes if c.kind == "generate" and c.status == "done"
                    ),
                    skipped=sum(1 for c in changes if c.status == "skipped"),
                    rolled_back=sum(1 for c in changes if c.status == "rolled_back"),
                    planned=sum(1 for c in changes if c.status == "planned"),
                    cost_usd=round(sum(c.cost_usd or 0.0 for c in changes), 8),
                )
            )
        return operations, total

    def notices(self, state: Mapping[str, Any]) -> list[str]:
        """Sentences for what the page's tables do not say at a glance."""
        out: list[str] = []
        status = self.data.get("status")
        set_id = self.set_id
        run = self.evaluation.get("run")
        if status == "failed":
            since = f" The evaluation shown is the last that succeeded (run {run})." if run else ""
            out.append(f"The last evaluation failed: {self.data.get('error')}.{since}")
        elif status in ("evaluating", "pending"):
            out.append(
                f"An evaluation is {'under way' if status == 'evaluating' else 'waiting'} "
                f"(run {self.data.get('run')}); the page shows the last one finished."
            )
        elif status == "rolled back":
            out.append(
                f"Operation {state.get('rolled_back') or self.data.get('rolled_back')} was "
                "rolled back: what it deleted is back and what it generated is gone. "
                f"`vidcurate sets evaluate --set {set_id}` makes a new plan."
            )
        if not self.evaluated and status is None:
            out.append(f"Never evaluated: `vidcurate sets evaluate --set {set_id}` evaluates it.")
        if self.missing:
            shown = ", ".join(self.missing[:10]) + (" ..." if len(self.missing) > 10 else "")
            out.append(
                f"The manifest names {len(self.missing)} image(s) not in the bucket ({shown}): "
                "the next evaluation of the set fails until they are back or unlisted."
            )
        if self.evaluated and self.current is False and status != "rolled back":
            if self.plan_state == "applied":
                out.append(
                    f"The plan was applied by operation {run}: the set changed since this "
                    "evaluation, and the next one evaluates it as it is now."
                )
            elif self.added or self.removed:
                out.append(
                    f"The set changed since this evaluation ({len(self.added)} image(s) "
                    f"added, {len(self.removed)} gone): `vidcurate sets evaluate --set "
                    f"{set_id}` evaluates it again."
                )
            else:
                out.append(
                    "Its images, target mix, model or sheets changed since this evaluation: "
                    f"`vidcurate sets evaluate --set {set_id}` evaluates it again."
                )
        return out


def _change(change: Mapping[str, Any]) -> ChangeRow:
    def text(name: str) -> str | None:
        value = change.get(name)
        return None if value is None else str(value)

    cost = change.get("cost_usd")
    return ChangeRow(
        id=str(change.get("id") or ""),
        kind=str(change.get("kind") or ""),
        file=text("file"),
        category=text("category"),
        prompt=text("prompt"),
        model=text("model"),
        reason=text("reason"),
        status=str(change.get("status") or "planned"),
        note=text("note"),
        cost_usd=_number(cost) if cost is not None else None,
    )

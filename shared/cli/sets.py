"""``vidcurate sets add|evaluate|status``: training image sets and their mix of styles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from shared.cli.running import run_locally
from shared.cli.session import (
    JsonOption,
    console,
    echo_json,
    err_console,
    exit_if,
    fail_usage,
    output_console,
    session,
)
from shared.cli.tables import table
from shared.core.errors import NotFoundError, PermanentError
from shared.core.files import write_whole
from shared.trainsets.evaluate import evaluation_name
from shared.trainsets.execute import rollback
from shared.trainsets.sets import (
    add_folder,
    check_set_id,
    estimate,
    new_run,
    request_evaluations,
    set_ids,
    set_states,
)

sets_app = typer.Typer(
    help="Training image sets: evaluate each set's mix of styles and rebalance it.",
    no_args_is_help=True,
)

SetOption = Annotated[list[str] | None, typer.Option("--set", "-s", help="A set id (repeatable).")]


@sets_app.command("add")
def sets_add(
    folder: Annotated[Path, typer.Argument(help="A folder of images (.jpg, .png, .webp).")],
    set_id: Annotated[str, typer.Option("--set", "-s", help="The set's id.")],
    as_json: JsonOption = False,
) -> None:
    """Upload a folder of images as a set and list them in its manifest."""
    if not folder.is_dir():
        fail_usage(f"{folder}: no such folder")
    _checked([set_id])
    with session() as services:
        added = add_folder(services, folder, set_id)
    if as_json:
        echo_json({"set_id": added.set_id, "uploaded": added.uploaded, "skipped": added.skipped})
        exit_if(not added.uploaded)
        return
    for name, why in added.skipped.items():
        console.print(f"[yellow]skipped[/] {name}: {why}")
    if not added.uploaded:
        err_console.print(
            f"[red]error:[/] {folder}: no image to upload (.jpg, .jpeg, .png or .webp directly "
            "in the folder; subfolders are not read)"
        )
        raise typer.Exit(1)
    console.print(f"Set {added.set_id}: {len(added.uploaded)} image(s) uploaded")


@sets_app.command("evaluate")
def sets_evaluate(
    set_id: SetOption = None,
    all_sets: Annotated[bool, typer.Option("--all", help="Every set with a manifest.")] = False,
    execute: Annotated[
        bool,
        typer.Option("--execute", help="Apply the plans (delete, generate); default: dry run."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Evaluate sets that did not change too.")
    ] = False,
    max_cost_usd: Annotated[
        float | None,
        typer.Option("--max-cost-usd", min=0, help="Call nothing if the estimate exceeds it."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Local folder for the sheets and evaluations.")
    ] = Path("set_evaluations"),
    as_json: JsonOption = False,
) -> None:
    """Classify every image of the sets, compare with the target mix, plan the changes."""
    if bool(set_id) == all_sets:
        fail_usage("name sets with --set, or pass --all")
    if out.exists() and not out.is_dir():
        fail_usage(f"--out {out}: not a folder")
    named = _checked(set_id or [])
    report = output_console(as_json)
    with session() as services:
        ids = set_ids(services) if all_sets else named
        if not ids:
            console.print("No sets: add one with `vidcurate sets add FOLDER --set ID`.")
            return
        guess = estimate(services, ids, force=force)
        model = services.settings.set_model
        price = (
            f"offline: no API key for {model}, answers are rule-based and free"
            if guess.offline
            else f"estimated ${guess.cost_usd:.4f} with {model}"
        )
        report.print(
            f"{len(guess.to_evaluate)} set(s) to evaluate ({guess.images} images on "
            f"{guess.sheets} sheet(s), {price}); {len(guess.unchanged)} unchanged"
            + (" (their last evaluation's plan is applied, no model call)" if execute else "")
        )
        if max_cost_usd is not None and guess.cost_usd > max_cost_usd:
            fail_usage(
                f"the estimate ${guess.cost_usd:.4f} exceeds --max-cost-usd {max_cost_usd}: "
                "nothing was called"
            )
        run = new_run()
        request_evaluations(services, ids, run, execute=execute, force=force)
        stats = run_locally(
            report,
            services,
            timeout=3600,
            elsewhere=f"Requested {len(ids)} evaluation(s) (run {run}); "
            "`vidcurate sets status` shows them as they finish.",
        )
        rows = set_states(services, ids)
        categories = list(services.settings.set_distribution.categories)
        copied = _copy_evaluations(services, ids, out) if stats is not None else []
    if as_json:
        echo_json({"run": run, "estimate": guess.__dict__, "sets": rows, "files": copied})
    else:
        print_states(console, rows, categories)
        if copied:
            console.print(f"Sheets and evaluations in {out.resolve()}")
    exit_if(any(row["status"] == "failed" for row in rows))


@sets_app.command("rollback")
def sets_rollback(
    set_id: Annotated[str, typer.Option("--set", "-s", help="The set's id.")],
    operation: Annotated[
        str | None,
        typer.Option("--operation", help="The operation (run) to undo; default: the latest."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Restore the images an operation deleted and remove the ones it generated."""
    (checked,) = _checked([set_id])
    with session() as services:
        undone = rollback(services, checked, operation)
    if as_json:
        echo_json(
            {
                "set_id": checked,
                "operation": undone.operation,
                "restored": undone.deleted,
                "removed": undone.generated,
                "skipped": undone.skipped,
            }
        )
        return
    console.print(
        f"Set {checked}, operation {undone.operation}: {len(undone.deleted)} image(s) "
        f"restored, {len(undone.generated)} generated image(s) removed"
    )
    for name, why in undone.skipped.items():
        console.print(f"[yellow]left alone[/] {name}: {why}")


@sets_app.command("status")
def sets_status(set_id: SetOption = None, as_json: JsonOption = False) -> None:
    """Each set's last evaluation: balanced or not, pending actions, cost, error."""
    with session(create_home=False) as services:
        rows = set_states(services, _checked(set_id) if set_id else None)
        categories = list(services.settings.set_distribution.categories)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        console.print("No sets: add one with `vidcurate sets add FOLDER --set ID`.")
        return
    print_states(console, rows, categories)


def _checked(ids: list[str]) -> list[str]:
    """The set ids given, or a usage error naming the first that is not one."""
    try:
        return [check_set_id(set_id) for set_id in ids]
    except PermanentError as exc:
        fail_usage(f"--set: {exc}")


def print_states(out: Console, rows: list[dict[str, Any]], categories: Sequence[str] = ()) -> None:
    """One row per set: status, images, mix (the count of each category, in the order of
    ``categories`` first), balanced, the plan (images to delete and to generate), cost;
    errors below the table."""
    categories = list(
        dict.fromkeys([*categories, *(name for row in rows for name in row["counts"])])
    )
    grid = table(
        f"{len(rows)} set(s)",
        ("set", "status", "images", "mix", "balanced", "plan", "USD"),
        right=("images", "USD"),
        caption=f"mix: {' / '.join(categories)}" if categories else None,
    )
    for row in rows:
        mix = " / ".join(str(row["counts"].get(name, 0)) for name in categories)
        balanced = {True: "yes", False: "no", None: "-"}[row["balanced"]]
        plan = " ".join(
            f"{sign}{n}" for sign, n in (("-", row["delete"]), ("+", row["generate"])) if n
        )
        grid.add_row(
            row["set_id"],
            row["status"],
            "-" if row["images"] is None else str(row["images"]),
            mix or "-",
            balanced,
            plan or "-",
            f"{row['cost_usd'] or 0:.4f}",
        )
    out.print(grid)
    for row in rows:
        done = row.get("executed")
        if done:
            out.print(
                f"{row['set_id']}: operation {done['operation']} deleted "
                f"{len(done['deleted'])} and generated {len(done['generated'])} image(s) "
                f"(`vidcurate sets rollback --set {row['set_id']} --operation "
                f"{done['operation']}` undoes it)"
            )
        if row["error"]:
            out.print(f"[red]{row['set_id']}[/]: {escape(row['error'])}")


def _copy_evaluations(services: Any, ids: list[str], out: Path) -> list[str]:
    """Copy each set's evaluation and sheets from the evaluations bucket into ``out``."""
    bucket = services.settings.evaluations_bucket
    copied: list[str] = []
    for set_id in ids:
        try:
            body = services.blobs.read(bucket, evaluation_name(set_id))
        except NotFoundError:
            continue
        names = [evaluation_name(set_id), *json.loads(body).get("composites", [])]
        for name in names:
            data = body if name == evaluation_name(set_id) else services.blobs.read(bucket, name)
            write_whole(out / name, data)
            copied.append(str(out / name))
    return copied

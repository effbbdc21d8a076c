"""The rich tables (and counting progress bars) the commands print: the builders every
command uses, and the tables of ``vidcurate status``, ``costs`` and ``dlq list``."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shared.captions import STATUSES
from shared.llm.ledger import CostSummary
from shared.platform.deadletters import DeadLetter

CAPTION_STATUSES = tuple(status.value for status in STATUSES)


def table(
    title: str,
    columns: Iterable[str],
    *,
    right: Collection[str] = (),
    fold: bool = False,
    caption: str | None = None,
) -> Table:
    """A table with these columns: the ``right`` ones right-aligned, every one folding long
    cells onto more lines when ``fold``, else cutting them short."""
    built = Table(title=title, caption=caption)
    for column in columns:
        built.add_column(
            column,
            justify="right" if column in right else "left",
            overflow="fold" if fold else "ellipsis",
        )
    return built


def counting_progress(
    console: Console, label: str, *extra: ProgressColumn, transient: bool = False
) -> Progress:
    """A bar counting ``done/total`` under ``label``, then ``extra`` columns and the time."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )


def caption_tasks(
    title: str, tasks: Mapping[str, Mapping[str, int]], *, with_done: bool = False
) -> Table:
    """(video, task) counts per caption status, a task a row; ``with_done``: the share done."""
    rows = table(title, ["task", *CAPTION_STATUSES], right=CAPTION_STATUSES)
    if with_done:
        rows.add_column("done", justify="right")
    for task_name, counts in tasks.items():
        cells = [str(counts[s]) for s in CAPTION_STATUSES]
        if with_done:
            total = sum(counts.values())
            done = total - counts["not_completed"]
            cells.append(f"{done / total:.0%}" if total else "-")
        rows.add_row(task_name, *cells)
    return rows


def print_status(console: Console, report: dict[str, Any]) -> None:
    """``vidcurate status``: buckets, bus, documents, caption tasks, exports and clips."""
    where = report.get("home") or f"project {report.get('project')}"
    console.print(f"vidcurate status of {where} ({report.get('backend')} backend)")
    buckets = table("Buckets", ("role", "bucket", "objects", "bytes"), right=("objects", "bytes"))
    for row in report["buckets"]:
        more = "+" if row.get("more") else ""  # counted up to a cap: at least this many
        buckets.add_row(
            row["role"], row["bucket"], f"{row['objects']}{more}", f"{row['bytes']}{more}"
        )
    console.print(buckets)
    if report.get("refused_files"):
        console.print(
            f"[yellow]{report['refused_files']} file(s) refused in bucket folders[/] (links, "
            "special files or unusable names; never read): `vidcurate quarantine` lists them"
        )
    bus = table(
        "Message bus",
        ("function", "topic", "pending", "in flight", "retrying", "dead-lettered"),
        fold=True,
    )
    for row in report["bus"]:
        bus.add_row(
            row["function"],
            row["topic"],
            *(str(row[k]) for k in ("pending", "in_flight", "retrying", "dead_lettered")),
        )
    console.print(bus)
    docs = table("Documents", ("collection", "documents"), right=("documents",))
    over = set(report.get("documents_more", ()))
    for name, count in report["documents"].items():
        docs.add_row(name, f"{count}+" if name in over else str(count))
    console.print(docs)
    _print_caption_status(console, report)
    _print_video_status(console, report["videos"])


def _print_caption_status(console: Console, report: dict[str, Any]) -> None:
    for config in report["captions"]:
        if not config["registered_videos"] and not any(
            sum(counts.values()) for counts in config["tasks"].values()
        ):
            continue
        title = (
            f"Caption tasks, config {config['config_type']!r}: "
            f"{config['registered_videos']} videos, {config['edge_case_tasks']} tasks with edge "
            f"cases, {config['quarantined_files']} quarantined files"
        )
        console.print(caption_tasks(title, config["tasks"], with_done=True))
        console.print(
            "  (a progress view: tasks of videos no list registers count here, and "
            "not_completed is the registered videos minus the rest; the export counts "
            "registered videos only, so its statistics can differ by those)"
        )
    if report["exports"]:
        exports = table("Latest exports", ("folder", "state", "videos", "hub dataset"))
        for row in report["exports"]:
            exports.add_row(
                row.get("folder", "?"),
                row.get("state", "?"),
                str((row.get("totals") or {}).get("videos", "")),
                row.get("hf_dataset") or "",
            )
        console.print(exports)
    if report["hub_uploads"]:
        uploads = table(
            "Hub uploads", ("folder", "repo", "state", "attempts", "commit / last error"), fold=True
        )
        for row in report["hub_uploads"]:
            detail = row.get("commit_url") if row.get("state") == "done" else row.get("last_error")
            uploads.add_row(
                str(row.get("folder")),
                str(row.get("repo_id")),
                str(row.get("state")),
                str(row.get("attempts", "")),
                str(detail or ""),
            )
        console.print(uploads)


def _print_video_status(console: Console, videos: dict[str, Any]) -> None:
    clips, analyses = videos["clips"], videos["analyses"]
    shard_counts = videos["shard_counts"]
    if not any(clips.values()) and not any(analyses.values()) and not any(shard_counts.values()):
        return
    console.print(
        "Clips: "
        + ", ".join(f"{n} {status}" for status, n in clips.items())
        + " | frame analyses: "
        + ", ".join(f"{n} {status}" for status, n in analyses.items())
    )
    for row in videos["failed_clips"]:
        console.print(f"  [red]failed[/] {row['clip']}: {escape(str(row['error']))}")
    if any(shard_counts.values()):
        console.print(
            "Dataset shards: " + ", ".join(f"{n} {status}" for status, n in shard_counts.items())
        )
    if videos["shards"]:
        shards = table(
            "Dataset shards failed or being pulled",
            ("dataset", "shard", "status", "clips written", "already there", "error"),
            fold=True,
        )
        for row in videos["shards"]:
            shards.add_row(
                str(row.get("dataset")),
                str(row.get("shard")),
                str(row.get("status")),
                str(row.get("clips_written", "")),
                str(row.get("clips_present", "")),
                escape(str(row.get("error") or "")),
            )
        console.print(shards)


def print_costs(console: Console, summary: CostSummary) -> None:
    """``vidcurate costs``: spend by model and by kind, then the totals."""
    for title, rows in (("By model", summary.by_model), ("By kind", summary.by_kind)):
        columns = (title.split()[-1], "calls", "input tokens", "output tokens", "cost (USD)")
        costs = table(title, columns, right=columns[1:])
        for key, row in rows.items():
            costs.add_row(
                key,
                f"{int(row['calls']):,}",
                f"{int(row['input_tokens']):,}",
                f"{int(row['output_tokens']):,}",
                f"{row['cost_usd']:.4f}",
            )
        console.print(costs)
    console.print(
        f"{summary.calls:,} calls, {summary.input_tokens:,} input and "
        f"{summary.output_tokens:,} output tokens, [bold]${summary.cost_usd:.4f}[/]"
        + (" (offline calls cost nothing)" if summary.calls else "")
    )
    if summary.unused_calls:
        console.print(
            f"of which {summary.unused_calls:,} answers were billed but not used (a reply "
            f"that did not fit its schema, or a refusal): ${summary.unused_cost_usd:.4f}"
        )


def dead_letters(letters: Sequence[DeadLetter]) -> Table:
    """``vidcurate dlq list``: each dead letter, its attempts, error and data's start."""
    rows = table(
        f"{len(letters)} dead letters",
        ("function", "message id", "attempts", "failures", "error", "data"),
        fold=True,
    )
    for d in letters:
        preview = d.data[:80].decode("utf-8", errors="replace")
        failures = "?" if d.failures is None else str(d.failures)
        attempts = "?" if d.attempts is None else str(d.attempts)
        rows.add_row(d.function, d.message_id, attempts, failures, d.error or "?", preview)
    return rows

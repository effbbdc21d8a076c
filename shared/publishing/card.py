"""The dataset card (README.md) written with each export."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

README = "README.md"


CARD_BEGIN = "<!-- vidcurate:begin -->"


CARD_END = "<!-- vidcurate:end -->"


CARD_TAGS = ("video", "captioning", "vidcurate")


STATUSES = ("not_completed", "completed_not_reviewed", "approved", "rejected")


STATUS_TITLES = ("Not completed", "Completed, not reviewed", "Approved", "Rejected")


_YAML_HEADER = re.compile(r"^\s*---\r?\n[\s\S]*?\r?\n---(\r?\n|$)")


def render_dataset_card(
    statistics: Mapping[str, Any],
    *,
    repo_id: str,
    folder: str,
    existing: str | None,
    license: str | None = None,
) -> str:
    """README.md for the dataset repo: a YAML header, and the generated section.

    The section between ``CARD_BEGIN`` and ``CARD_END`` describes the latest export (folder,
    timestamp, per-task status breakdown, totals, annotators and reviewers, edge cases).
    With an ``existing`` README, only that section changes: everything outside the markers,
    YAML header included, stays as its authors wrote it (without markers, the section is
    appended). ``license`` goes into a new header; vidcurate cannot know it.
    """
    section = _card_section(statistics, folder=folder)
    if existing is not None and existing.strip():
        begin = existing.find(CARD_BEGIN)
        end = existing.find(CARD_END, begin + len(CARD_BEGIN)) if begin >= 0 else -1
        if begin >= 0 and end >= 0:
            return existing[:begin] + section + existing[end + len(CARD_END) :]
        body = existing.rstrip() + "\n\n" + section + "\n"
        return body if _YAML_HEADER.match(existing) else _card_header(repo_id, license) + body
    name = repo_id.split("/", 1)[-1]
    intro = (
        f"# {name}\n\nVideo captions curated with vidcurate: annotated, reviewed and exported "
        "per caption task. Each `export_YYYYMMDD_HHMM/` folder is one export, published as "
        "one commit.\n\n"
    )
    return _card_header(repo_id, license) + intro + section + "\n"


def _card_header(repo_id: str, license: str | None) -> str:
    # huggingface_hub is heavy to import; only the card needs it, and only here.
    from huggingface_hub import DatasetCardData  # noqa: PLC0415

    data = DatasetCardData(
        pretty_name=repo_id.split("/", 1)[-1], tags=list(CARD_TAGS), license=license
    )
    return f"---\n{data.to_yaml()}\n---\n\n"


# Columns of the totals table: (title, key in the statistics' totals).
_TOTAL_COLUMNS = (
    ("Videos", "videos"),
    ("With a completed task", "videos_with_any_completed_task"),
    ("With a reviewed task", "videos_with_any_reviewed_task"),
    ("Not started", "videos_not_started"),
    ("Edge cases", "edge_cases"),
    ("Quarantined files", "quarantined_files"),
)


def _card_section(statistics: Mapping[str, Any], *, folder: str) -> str:
    lines = [
        CARD_BEGIN,
        "<!-- Written by vidcurate at every export: edit outside these markers. -->",
        *_latest_export_lines(statistics, folder),
        "",
        *_totals_lines(_mapping(statistics.get("totals"))),
        "",
        "### Status by task",
        "",
        *_task_table(statistics),
        "",
        *_people_lines(statistics),
        "",
        "### Edge cases",
        "",
        *_edge_case_table(statistics.get("edge_case_counts")),
        "",
        CARD_END,
    ]
    return "\n".join(lines)


def _latest_export_lines(statistics: Mapping[str, Any], folder: str) -> list[str]:
    return [
        "## Latest export",
        "",
        f"- Folder: {_code(folder)}",
        f"- Export timestamp: {_cell(statistics.get('export_timestamp'))}",
        f"- Generated at: {_cell(statistics.get('generated_at'))}",
        f"- Config type: {_cell(statistics.get('config_type'))}",
        f"- Tasks: {', '.join(_text(t) for t in _tasks(statistics)) or 'n/a'}",
    ]


def _totals_lines(totals: Mapping[str, Any]) -> list[str]:
    return [
        "### Totals",
        "",
        *_table(
            [title for title, _key in _TOTAL_COLUMNS],
            [[totals.get(key) for _title, key in _TOTAL_COLUMNS]],
        ),
        "",
        "Status of every (video, task) pair:",
        "",
        *_table(list(STATUS_TITLES), [_status_counts(totals)]),
    ]


def _people_lines(statistics: Mapping[str, Any]) -> list[str]:
    return [
        "### Annotators",
        "",
        *_people_table(
            statistics.get("annotators"),
            ["Annotator", "Tasks", "Approved", "Rejected", "Pending review", "Approval rate"],
            ("tasks", "approved", "rejected", "pending_review"),
        ),
        "",
        "### Reviewers",
        "",
        *_people_table(
            statistics.get("reviewers"),
            ["Reviewer", "Reviews", "Approved", "Rejected", "Approval rate"],
            ("reviews", "approved", "rejected"),
        ),
    ]


def _tasks(statistics: Mapping[str, Any]) -> list[str]:
    listed = statistics.get("tasks")
    tasks = [str(t) for t in listed] if isinstance(listed, list) else []
    tasks += [str(t) for t in _mapping(statistics.get("per_task")) if str(t) not in tasks]
    return tasks


def _task_table(statistics: Mapping[str, Any]) -> list[str]:
    per_task = _mapping(statistics.get("per_task"))
    rows = []
    for task in _tasks(statistics):
        info = _mapping(per_task.get(task))
        rows.append(
            [
                task,
                info.get("long_name"),
                *_status_counts(info),
                _percent(info.get("completion_rate")),
                _percent(info.get("review_rate")),
                _percent(info.get("approval_rate")),
            ]
        )
    if not rows:
        return ["No per-task statistics in this export."]
    headers = ["Task", "Long name", *STATUS_TITLES, "Completion", "Review", "Approval"]
    return _table(headers, rows)


def _people_table(value: Any, headers: list[str], keys: tuple[str, ...]) -> list[str]:
    people = _mapping(value)
    if not people:
        return ["None in this export."]
    rows = [
        [
            name,
            *(_mapping(info).get(key) for key in keys),
            _percent(_mapping(info).get("approval_rate")),
        ]
        for name, info in sorted(people.items())
    ]
    return _table(headers, rows)


def _edge_case_table(value: Any) -> list[str]:
    counts = _mapping(value)
    if not counts:
        return ["None recorded."]
    return _table(["Kind", "Count"], [[kind, count] for kind, count in sorted(counts.items())])


def _status_counts(info: Mapping[str, Any]) -> list[Any]:
    counts = _mapping(info.get("status_counts"))
    return [counts.get(status) for status in STATUSES]


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class _Markdown(str):
    """Text the card writes itself (a percentage), shown as it is."""


def _percent(value: Any) -> _Markdown:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _Markdown("n/a")
    return _Markdown(f"{value * 100:.1f}%")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "n/a"
    if isinstance(value, _Markdown):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    return _text(value)


def _code(value: str) -> str:
    """A name in a code span when it is plain (an export folder), else escaped text."""
    return f"`{value}`" if _PLAIN.fullmatch(value) else _text(value)


_PLAIN = re.compile(r"[\w.-]+", re.ASCII)

# How each character that means something in Markdown or HTML is written as itself: &, < and >
# as entities (no tag, comment, autolink or entity can start); the punctuation of emphasis,
# code, links, images, headings, tables and strikethrough backslash-escaped, and ':', '.' and
# '@' too, so that no URL, bare domain or address becomes a link. Text never starts a line
# here, so the signs that only matter there (-, +, =, digits) stay as they are.
_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{c: f"\\{c}" for c in "\\`*[]()!#|~:.@"},
}
_MARKUP = re.compile("[" + re.escape("".join(_ESCAPES)) + "_]|[\x00-\x1f\x7f\u2028\u2029]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _text(value: Any) -> str:
    """Text from annotation files (names, tasks, kinds) shown as the characters it holds.

    Whatever it contains (HTML tags, ``<script>``, comments, entities, links, images, code,
    headings, table pipes, line breaks), it renders as plain text on one line of one cell,
    and it cannot close the generated section.
    """
    text = _BIDI.sub("", str(value))
    return _MARKUP.sub(lambda m: _escape(m.group(), m.string, m.start()), text)


def _escape(char: str, text: str, index: int) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char == "_":
        # Inside a word (subject_description, 20261123_1405) '_' cannot start emphasis.
        inside = (
            0 < index < len(text) - 1 and text[index - 1].isalnum() and text[index + 1].isalnum()
        )
        return "_" if inside else "\\_"
    return " "  # a control character or line break: the cell stays on its line

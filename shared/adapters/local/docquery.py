"""How the SQLite document store evaluates queries: filters, ordering, SQL pre-filters.

Firestore's semantics, in Python: a filter or an ordering on a missing field drops the
document, values of different types never compare equal, and types order as
null < bool < number < timestamp < string < bytes < array < map. :func:`sql_filters` lets
SQLite narrow the rows first where that cannot change the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.adapters.local.docencoding import encode_value
from shared.core.errors import VidcurateError
from shared.ports.documents import Document, Filter

# Dotted names of plain fields, which SQLite's json_extract can reach as "$.<name>".
SIMPLE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


# What field_value answers for a field the document does not have (None is a value).
MISSING = object()


def field_value(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted field path, or ``MISSING``."""
    node: Any = data
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return MISSING
        node = node[key]
    return node


def value_kind(value: Any) -> int:
    """The rank of a value's type in Firestore's ordering."""
    # Firestore orders values by type first: null < bool < number < timestamp < string < bytes
    # < array < map. Comparisons only match values of the same kind.
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 2
    if isinstance(value, datetime):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, bytes):
        return 5
    if isinstance(value, list):
        return 6
    return 7


def same_value(a: Any, b: Any) -> bool:
    """Equality as Firestore sees it: values of different kinds never match (1 != True)."""
    return value_kind(a) == value_kind(b) and a == b


def normalise(value: Any) -> Any:
    """A filter value as stored values compare with it."""
    # Writes store naive datetimes as UTC; filters must compare them the same way.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, list | tuple):
        return [normalise(item) for item in value]
    return value


def sql_filters(where: Sequence[Filter]) -> tuple[str, list[Any], bool]:
    """SQL pre-filters for equality and ``in`` on plain fields, and whether they are exact.

    Strings compare the same in SQL and in Firestore, so filters on strings alone need no
    re-check (counts and limits can then run in SQL); other values are re-checked in
    Python, which alone knows Firestore's typing rules.
    """
    sql = ""
    params: list[Any] = []
    exact = True
    for field, op, value in where:
        values = value if op == "in" and isinstance(value, list | tuple) else [value]
        if (
            op in ("==", "in")
            and SIMPLE_FIELD.match(field)
            and values
            and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        ):
            marks = ", ".join("?" * len(values))
            sql += f" AND json_extract(data, ?) IN ({marks})"
            params += ["$." + field, *values]
            exact = exact and all(isinstance(v, str) for v in values)
        else:
            exact = False
    return sql, params, exact


def matches(data: Mapping[str, Any], flt: Filter) -> bool:
    """Whether a document passes one filter, with Firestore's typing rules."""
    field, op, expected = flt
    expected = normalise(expected)
    value = field_value(data, field)
    if value is MISSING:
        return False
    if op == "==":
        return same_value(value, expected)
    if op == "!=":
        return value is not None and not same_value(value, expected)
    if op == "in":
        return any(same_value(value, item) for item in expected)
    if op == "not-in":
        return value is not None and not any(same_value(value, item) for item in expected)
    if op == "array-contains":
        return isinstance(value, list) and any(same_value(item, expected) for item in value)
    if value_kind(value) != value_kind(expected) or value_kind(value) in (0, 6, 7):
        return False
    if op == "<":
        return bool(value < expected)
    if op == "<=":
        return bool(value <= expected)
    if op == ">":
        return bool(value > expected)
    if op == ">=":
        return bool(value >= expected)
    raise VidcurateError(f"unsupported filter operator {op!r}")


def doc_sort_key(field: str, doc: Document) -> tuple[int, Any]:
    """The key that orders documents by ``field``."""
    return sort_key(field_value(doc.data, field))


def sort_key(value: Any) -> tuple[int, Any]:
    """The key that orders values as Firestore does: by kind, then by value."""
    kind = value_kind(value)
    if kind in (0, 6, 7):
        return kind, json.dumps(encode_value(value), sort_keys=True)
    return kind, value

"""How the SQLite document store evaluates queries: filters, ordering, SQL pre-filters.

Firestore's semantics, in Python: a filter or an ordering on a missing field drops the
document, values of different types never compare equal, and types order as
null < bool < number < timestamp < string < bytes < array < map. :func:`sql_filters` lets
SQLite narrow the rows first where that cannot change the answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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


# --- what SQLite can answer from an index ------------------------------------------------
#
# For a plain field, two SQL expressions stand for a value as Firestore orders it: its kind
# (Firestore's type rank) and a value that orders like Firestore within the kinds SQL can
# compare (null, bool as 0/1, numbers, timestamps as their UTC ISO text, strings as UTF-8
# bytes). The store indexes (collection, kind, value) per field it is asked about, so that
# equality, ``in``, ranges and ordering on those kinds are index seeks.

EXACT_KINDS = (0, 1, 2, 3, 4)
"""Kinds whose SQL order and equality are Firestore's (not bytes, arrays, maps)."""


def kind_sql(field: str) -> str:
    """The SQL expression of a field's kind (NULL when the document lacks the field)."""
    path = "$." + field
    return (
        f"CASE json_type(data, '{path}') WHEN 'null' THEN 0 WHEN 'true' THEN 1 "
        "WHEN 'false' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 4 "
        f"WHEN 'array' THEN 6 WHEN 'object' THEN CASE "
        f"WHEN json_type(data, '{path}.__datetime__') = 'text' THEN 3 "
        f"WHEN json_type(data, '{path}.__bytes__') = 'text' THEN 5 ELSE 7 END END"
    )


def value_sql(field: str) -> str:
    """The SQL expression of a field's value, as it orders within its kind."""
    path = "$." + field
    return f"coalesce(json_extract(data, '{path}.__datetime__'), json_extract(data, '{path}'))"


def sql_value(value: Any) -> tuple[int, Any] | None:
    """``(kind, SQL parameter)`` of a filter value SQL compares exactly, else None."""
    value = normalise(value)
    if isinstance(value, bool):
        return 1, int(value)
    if isinstance(value, int | float):
        return None if math.isnan(value) else (2, value)  # NaN: Python decides
    if isinstance(value, datetime):
        return 3, value.astimezone(UTC).isoformat()
    if isinstance(value, str):
        return 4, value
    return None


RANGE_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass
class SqlQuery:
    """What SQLite answers of a query: conditions (placeholders only), their parameters,
    whether they decide alone (no re-check in Python needed), and the fields an index
    should cover: equality fields first, then the range or ordering field."""

    conditions: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    exact: bool = True
    equality_fields: list[str] = field(default_factory=list)
    trailing_field: str | None = None
    constant_kind: set[str] = field(default_factory=set)  # fields whose kind is fixed by a filter
    expandable: tuple[int, str, int, int] | None = None
    """An ``in`` of several values: (its condition, field, first parameter, values)."""

    def each_value(self) -> Iterator[tuple[str, list[Any]]]:
        """The conditions and parameters of the query once per value of its ``in``."""
        assert self.expandable is not None
        condition, name, first, count = self.expandable
        kind, values = self.params[first], self.params[first + 1 : first + 1 + count]
        for value in values:
            conditions = list(self.conditions)
            conditions[condition] = f"{kind_sql(name)} = ? AND {value_sql(name)} = ?"
            params = [*self.params[:first], kind, value, *self.params[first + 1 + count :]]
            yield "".join(f" AND {c}" for c in conditions), params

    def order_by_sql(self, name: str, way: str) -> str:
        """``ORDER BY`` of one field in the index's terms (a kind fixed by a filter is left
        out: SQLite would not see that the index already orders by it)."""
        kind = [] if name in self.constant_kind else [f"{kind_sql(name)} {way}"]
        return " ORDER BY " + ", ".join([*kind, f"{value_sql(name)} {way}", f"id {way}"])

    def where(self) -> str:
        return "".join(f" AND {c}" for c in self.conditions)

    def index_columns(self) -> list[str]:
        """The expressions of the index that serves this query, after ``collection``."""
        fields = sorted(set(self.equality_fields))
        if self.trailing_field is not None and self.trailing_field not in fields:
            fields.append(self.trailing_field)
        return [expr for name in fields for expr in (kind_sql(name), value_sql(name))]


def plan_sql(where: Sequence[Filter], order_by: Sequence[tuple[str, str]] = ()) -> SqlQuery:
    """The SQL part of a query (see :class:`SqlQuery`)."""
    plan = SqlQuery()
    for name, op, value in where:
        if not SIMPLE_FIELD.match(name):
            plan.exact = False
            continue
        if op in ("==", "in"):
            values = list(value) if op == "in" and isinstance(value, list | tuple) else [value]
            typed = [sql_value(v) for v in values]
            kinds = {t[0] for t in typed if t is not None}
            if not typed or None in typed or len(kinds) != 1:
                plan.exact = False  # None, lists, maps, mixed kinds: Python decides
                continue
            (kind,) = kinds
            marks = ", ".join("?" * len(typed))
            plan.conditions.append(f"{kind_sql(name)} = ? AND {value_sql(name)} IN ({marks})")
            if len(typed) > 1 and plan.expandable is None:
                plan.expandable = (len(plan.conditions) - 1, name, len(plan.params), len(typed))
            plan.params += [kind, *(t[1] for t in typed if t is not None)]
            plan.equality_fields.append(name)
            plan.constant_kind.add(name)
        elif op in RANGE_OPS:
            typed_one = sql_value(value)
            if typed_one is None or typed_one[0] not in EXACT_KINDS:
                plan.exact = False
                continue
            plan.conditions.append(f"{kind_sql(name)} = ? AND {value_sql(name)} {op} ?")
            plan.params += [typed_one[0], typed_one[1]]
            plan.trailing_field = plan.trailing_field or name
            plan.constant_kind.add(name)
        else:  # !=, not-in, array-contains: Python decides
            plan.exact = False
    if order_by and plan.trailing_field is None and SIMPLE_FIELD.match(order_by[0][0]):
        plan.trailing_field = order_by[0][0]
    return plan


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

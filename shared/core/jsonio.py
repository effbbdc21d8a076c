"""JSON in and out: one parser for what users send, fast encoding for large exports.

Exports re-read every stored annotation with orjson and write it back with orjson, so user
JSON is parsed with orjson too, under limits it can write back: what :func:`decode_json`
accepts, an export can encode.
"""

from __future__ import annotations

import gc
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

MAX_JSON_DEPTH = 64
"""Deepest nesting of objects and arrays accepted from users.

Real annotations nest a few levels. orjson writes at most 254 levels (an export puts each file
a few levels down), and Python code that walks a value recursively (pydantic, the stdlib)
stops near 1,000 frames: at 64, a file that is accepted can always be validated, stored and
exported.
"""

INT64_RANGE = (-(2**63), 2**63 - 1)

# Tokens of JSON text that orjson has already accepted: strings (skipped whole, so digits in
# them never count) and numbers.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?', re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NOT_A_NUMBER = re.compile(r"-?(?:NaN|Infinity)")


class InvalidJsonError(ValueError):
    """JSON that vidcurate will not store: not valid JSON, or valid but beyond what the
    document store or an export can hold. The message says why in the user's words; the
    caller adds the file name."""


def decode_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON from users, or raise :class:`InvalidJsonError` saying why not.

    orjson itself refuses lone surrogates, ``NaN`` and ``Infinity``, numbers beyond a double
    (``1e400``) and absurd nesting, without recursing in Python. On top of that, nesting is
    capped at ``max_depth`` and integers must fit in 64 bits (orjson would silently turn a
    longer one into an approximate float, and the export would not be what was written).
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJsonError(_reason(exc, max_depth)) from None
    if _check_tree(value, max_depth):
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if (literal := _long_integer(text)) is not None:
            raise InvalidJsonError(_integer_reason(literal))
    return value


def _reason(exc: orjson.JSONDecodeError, max_depth: int) -> str:
    """orjson's complaint, told in the words of the person who wrote the file."""
    message, doc, pos = exc.msg, str(exc.doc), exc.pos
    where = f"at line {exc.lineno} column {exc.colno}"
    if "depth limit" in message:
        return f"nested deeper than {max_depth} levels"
    if "surrogate" in message:
        return f"text that is not valid Unicode (lone surrogate) {where}"
    if "infinity" in message and (number := _NUMBER.match(doc, pos)) is not None:
        return f"number out of range ({_clip(number.group())})"
    # orjson stops at "NaN", or just after the sign of "-Infinity".
    start = pos - 1 if pos > 0 and doc[pos - 1] == "-" else pos
    if (constant := _NOT_A_NUMBER.match(doc, start)) is not None:
        return f"{constant.group()} is not a JSON number (the document store cannot hold it)"
    return f"not valid JSON: {message} {where}"


def _check_tree(value: Any, max_depth: int) -> bool:
    """Refuse deep nesting and integers beyond 64 bits, level by level (no recursion).

    Returns whether a float is large enough to be an integer literal that orjson turned into
    a float: only then is the text scanned for one.
    """
    may_hide_integer = False
    level: list[Any] = [value]
    for depth in itertools.count():
        deeper: list[Any] = []
        for node in level:
            kind = type(node)
            if kind is dict or kind is list:
                if depth >= max_depth:
                    raise InvalidJsonError(f"nested deeper than {max_depth} levels")
                deeper.extend(node.values() if kind is dict else node)
            elif kind is int and not INT64_RANGE[0] <= node <= INT64_RANGE[1]:
                raise InvalidJsonError(_integer_reason(str(node)))
            elif kind is float and abs(node) > INT64_RANGE[1]:
                may_hide_integer = True
        if not deeper:
            break
        level = deeper
    return may_hide_integer


def _long_integer(text: str) -> str | None:
    """The first integer literal of valid JSON ``text`` beyond 64 bits, if any."""
    for token in _TOKENS.finditer(text):
        literal = token.group()
        if literal.startswith('"') or any(c in literal for c in ".eE"):
            continue
        # More than 19 digits never fits, and int() of a huge literal would be slow.
        if len(literal.lstrip("-")) > 19 or not INT64_RANGE[0] <= int(literal) <= INT64_RANGE[1]:
            return literal
    return None


def _integer_reason(literal: str) -> str:
    return f"number out of range (integer {_clip(literal)} does not fit in 64 bits)"


def _clip(literal: str, limit: int = 30) -> str:
    return literal if len(literal) <= limit else f"{literal[:limit]}…"


def encode_json(value: Any) -> bytes:
    """JSON with two-space indents, as the original export script wrote (json.dump(indent=2),
    UTF-8); orjson writes the same text several times faster, which large exports need."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build a large acyclic structure without the cyclic GC rescanning it again and again.

    A snapshot of 10,000 videos allocates millions of dicts and lists; every generation-0
    threshold crossed would traverse them, which nearly doubles the time. Nothing created
    here forms cycles, and collection resumes (and catches up) when the block ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

"""The offline provider: deterministic, rule-based answers for the demo and the tests.

It never calls a network. Prompts may register a rule (``shared.llm.prompts.offline_rule``:
a function of the request's data that returns the answer's fields); any other schema gets a
deterministic filler built from its fields. Every reply is labelled ``offline-<model>`` so
no record can pass for a model's.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from shared.llm.prompts import offline_rule_for
from shared.ports.models import MediaPart, ModelReply, ModelRequest, S, TextPart


def estimate_tokens(text: str) -> int:
    """About four characters per token, the usual rule of thumb for English text."""
    return max(1, len(text) // 4)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8]


def _filler(annotation: Any, name: str, seed: str) -> Any:
    origin = get_origin(annotation)
    if annotation is str:
        return f"offline {name.replace('_', ' ')} {seed}"
    if annotation is bool:
        return int(seed, 16) % 2 == 0
    if annotation is int:
        return int(seed, 16) % 5 + 1
    if annotation is float:
        return round((int(seed, 16) % 1000) / 1000, 3)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin in (list, typing.List):  # noqa: UP006 (both spellings reach us)
        (item,) = get_args(annotation) or (str,)
        return [_filler(item, name, seed)]
    if origin in (types.UnionType, typing.Union):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _filler(options[0], name, seed) if options else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _fill(annotation, seed)
    return None


def _fill(schema: type[BaseModel], seed: str) -> dict[str, Any]:
    return {
        name: _filler(field.annotation, name, _digest(seed, name))
        for name, field in schema.model_fields.items()
    }


class OfflineProvider:
    """Answers every request from rules; nothing leaves the machine."""

    name = "offline"

    def generate(self, request: ModelRequest[S]) -> ModelReply[S]:
        """A deterministic answer: the same request always gets the same reply."""
        text = "\n".join(p.text for p in request.parts if isinstance(p, TextPart))
        media = [
            p.uri or f"{len(p.data or b'')} bytes"
            for p in request.parts
            if isinstance(p, MediaPart)
        ]
        prompt_name = request.labels.get("prompt_name", "")
        rule = offline_rule_for(prompt_name)
        if rule is not None:
            fields = dict(rule(request, text))
        else:
            fields = _fill(
                request.schema, _digest(request.model, request.instructions, text, *media)
            )
        parsed = request.schema.model_validate(fields)
        reply = json.dumps(parsed.model_dump(mode="json"), ensure_ascii=False)
        return ModelReply(
            parsed=parsed,
            text=reply,
            model=f"offline-{request.model}",
            input_tokens=estimate_tokens(request.instructions + text),
            output_tokens=estimate_tokens(reply),
        )

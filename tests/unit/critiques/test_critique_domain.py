"""Critique types, item keys and the offline answers of the critique prompts."""

from __future__ import annotations

import pytest
from captions_support import feedback

from shared.adapters.local import build_local_services
from shared.bootstrap import build_providers
from shared.config import Settings
from shared.critiques import prompts as critique_prompts  # noqa: F401 (registers the prompts)
from shared.critiques.types import (
    CRITIQUE_TYPES,
    CritiqueAnswer,
    RevisionAnswer,
    WorstCaptionAnswer,
    item_key,
    reviewed_captions,
    skip_reason,
)
from shared.llm.client import ModelClient
from shared.llm.prompts import get_prompt

PERFECT = feedback(initial_caption_rating_score=5, final_feedback=None)
ENTRIES = [
    {
        "video_id": "v1",
        "video_url": "https://example.org/v1.mp4",
        "captions": {
            "subject": {"status": "approved", "caption_data": feedback()},
            "scene": {"status": "rejected", "caption_data": PERFECT, "negative_example": {}},
            "motion": {"status": "completed_not_reviewed", "caption_data": feedback()},
            "camera": {"status": "not_completed"},
        },
    }
]


def key(caption, name="insertion_error_critique", **overrides):
    params = {"model": "gpt-4.1", "prompt_version": "1", "revision_model": "gpt-4o",
              "revision_prompt_version": "1", **overrides}  # fmt: skip
    return item_key(caption, CRITIQUE_TYPES[name], **params)


def test_only_approved_and_rejected_captions_are_critiqued():
    captions = list(reviewed_captions(ENTRIES))

    assert [(c.video_id, c.task, c.status) for c in captions] == [
        ("v1", "subject", "approved"),
        ("v1", "scene", "rejected"),
    ]


def test_perfect_pre_captions_skip_the_types_that_say_so():
    _subject, scene = reviewed_captions(ENTRIES)

    skipped = {name for name, t in CRITIQUE_TYPES.items() if skip_reason(scene, t)}

    assert skipped == {
        "replacement_error_critique",
        "deletion_error_critique",
        "nonconstructive_critique",
    }
    assert skip_reason(scene, CRITIQUE_TYPES["deletion_error_critique"]) == (
        "Perfect score (5/5) - this critique type skips perfect scores"
    )


def test_item_keys_change_with_every_input_that_shapes_the_output():
    subject, _scene = reviewed_captions(ENTRIES)
    changed = next(reviewed_captions([{
        **ENTRIES[0],
        "captions": {"subject": {"status": "approved",
                                 "caption_data": feedback(caption="another caption")}},
    }]))  # fmt: skip

    base = key(subject)
    assert key(subject) == base
    assert key(changed) != base
    assert key(subject, model="gpt-4o") != base
    assert key(subject, prompt_version="2") != base
    assert key(subject, revision_model="gpt-4.1") != base
    # an offline answer is redone once a provider key is configured
    assert key(subject, providers=("offline", "offline")) != key(
        subject, providers=("openai", "openai")
    )
    # the same caption on another video (or task) is another item: never shared
    from dataclasses import replace  # noqa: PLC0415

    assert key(replace(subject, video_id="another_video")) != base
    assert key(replace(subject, task="scene")) != base
    # the worst caption has no revision step: its revision settings do not matter
    worst = key(subject, "worst_caption_generation")
    assert key(subject, "worst_caption_generation", revision_model="x") == worst


@pytest.mark.parametrize("name", sorted(CRITIQUE_TYPES))
def test_every_critique_prompt_has_a_deterministic_offline_answer(tmp_path, name):
    settings = Settings(home=tmp_path)
    _blobs, documents, _bus = build_local_services(settings)
    client = ModelClient(settings, documents, build_providers(settings))
    subject, _scene = reviewed_captions(ENTRIES)
    critique = CRITIQUE_TYPES[name]
    prompt = get_prompt(critique.prompt)
    data = {"task": "subject", "caption": subject.caption_data["final_caption"],
            "feedback": subject.original_feedback}  # fmt: skip
    schema = WorstCaptionAnswer if name == "worst_caption_generation" else CritiqueAnswer

    first = client.generate(prompt, model=critique.default_model, schema=schema,
                            data={k: data[k] for k in prompt.inputs})  # fmt: skip
    again = client.generate(prompt, model=critique.default_model, schema=schema,
                            data={k: data[k] for k in prompt.inputs})  # fmt: skip

    assert first.parsed == again.parsed
    assert first.model == f"offline-{critique.default_model}"
    text = next(iter(first.parsed.model_dump().values()))
    assert text
    assert text != data["feedback"]  # the rule changed something
    revision = client.generate(
        get_prompt("revise_caption_with_critique"),
        model="gpt-4o",
        schema=RevisionAnswer,
        data={"task": "subject", "caption": data["caption"], "critique": text},
    )
    assert revision.parsed.revised_caption.startswith(data["caption"])

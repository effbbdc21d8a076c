"""Applying a set's plan and rolling it back: soft deletions, generated images through the
image client, one change document per change, resumable, never twice; a rollback restores
the exact prior objects."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from shared.core.errors import PermanentError
from shared.llm.ledger import MODEL_CALLS
from shared.ports.models import ModelRequestError
from shared.trainsets.execute import changes_collection, execute_plan, operations, rollback
from shared.trainsets.manifest import (
    Manifest,
    ManifestImage,
    manifest_name,
    read_manifest,
    set_images,
)

SET = "actor_7"


def picture(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def seed_set(services, files: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    bucket = services.settings.sets_bucket
    generations = {}
    for file, colour in files.items():
        info = services.blobs.write(bucket, f"{SET}/{file}", picture(colour),
                                    content_type="image/jpeg", metadata={"shot": file})  # fmt: skip
        generations[file] = info.generation
    manifest = Manifest(set_id=SET, images=tuple(ManifestImage(file=f) for f in files))
    services.blobs.write(bucket, manifest_name(SET), manifest.encode())
    return generations


def snapshot(services) -> dict[str, tuple[str, str, dict[str, str]]]:
    """The set's images: name -> (md5, content type, metadata)."""
    return {
        name: (info.md5_hash, info.content_type, dict(info.metadata))
        for name, info in set_images(services.blobs, services.settings.sets_bucket, SET).items()
    }


PLAN = {
    "delete": [
        {"file": "p3.jpg", "reason": "surplus in photorealistic (quality 2)"},
        {"file": "p2.jpg", "reason": "surplus in photorealistic (quality 4)"},
    ],
    "generate": {"bw_stylized": 2, "color_stylized": 1},
}
FILES = {f"p{n}.jpg": (100 + 20 * n, 90, 80) for n in range(5)}


def generation_calls(services) -> int:
    return sum(
        1
        for call in services.documents.iter_collection(MODEL_CALLS)
        if call.data.get("labels", {}).get("kind") == "trainset-generation"
    )


def test_execute_then_rollback_restores_the_exact_prior_objects(make_services):
    services = make_services()
    generations = seed_set(services, FILES)
    before = snapshot(services)
    manifest_before = read_manifest(services.blobs, services.settings.sets_bucket, SET)[0]

    done = execute_plan(services, SET, "actor seven", "20261203_120000_aaaaaa", PLAN, generations)

    assert sorted(done.deleted) == ["p2.jpg", "p3.jpg"]
    assert len(done.generated) == 3
    after = snapshot(services)
    assert set(after) == (set(before) - {"p2.jpg", "p3.jpg"}) | set(done.generated)
    manifest = read_manifest(services.blobs, services.settings.sets_bucket, SET)[0]
    generated = {i.file: i for i in manifest.images if i.source == "generated"}
    assert sorted(i.category for i in generated.values()) == [
        "bw_stylized", "bw_stylized", "color_stylized",
    ]  # fmt: skip
    assert all(i.operation == "20261203_120000_aaaaaa" and i.prompt for i in generated.values())
    assert all("actor seven" in (i.prompt or "") for i in generated.values())
    changes = services.documents.query(changes_collection(SET))
    assert len(changes) == 5
    assert {c.data["status"] for c in changes} == {"done"}
    assert generation_calls(services) == 3

    undone = rollback(services, SET)

    assert undone.operation == "20261203_120000_aaaaaa"
    assert snapshot(services) == before
    restored = read_manifest(services.blobs, services.settings.sets_bucket, SET)[0]
    assert sorted(restored.files()) == sorted(manifest_before.files())
    # A second rollback changes nothing.
    assert rollback(services, SET).skipped == {}
    assert snapshot(services) == before


def test_a_redelivered_execution_never_deletes_or_generates_twice(make_services):
    services = make_services()
    generations = seed_set(services, FILES)

    first = execute_plan(services, SET, SET, "op1", PLAN, generations)
    second = execute_plan(services, SET, SET, "op1", PLAN, generations)

    assert second.generated == first.generated
    assert second.deleted == first.deleted
    assert generation_calls(services) == 3
    assert len(snapshot(services)) == len(FILES) - 2 + 3


def test_an_execution_that_dies_midway_resumes_where_it_stopped(online, llm_server):
    services = online(set_image_model="gpt-image-1", image_prices={"gpt-image-1": 0.04})
    generations = seed_set(services, FILES)
    # The second picture is refused for good (a 400): the delivery fails after one image.
    llm_server.fail_next(r"/images/generations", 200)  # the first: answered normally
    llm_server.fail_next(r"/images/generations", 400)

    with pytest.raises(ModelRequestError):
        execute_plan(services, SET, SET, "op1", PLAN, generations)
    images_after_crash = snapshot(services)
    assert sum(1 for name in images_after_crash if name.startswith("gen_")) == 1

    resumed = execute_plan(services, SET, SET, "op1", PLAN, generations)

    assert len(resumed.generated) == 3
    assert len(llm_server.requests_to(r"/images/generations")) == 4  # 1 + the refused + 2
    assert generation_calls(services) == 3  # billed: the three drawn


def test_an_image_replaced_since_the_evaluation_is_left_alone(make_services):
    services = make_services()
    generations = seed_set(services, FILES)
    services.blobs.write(services.settings.sets_bucket, f"{SET}/p3.jpg", picture((1, 2, 3)),
                         content_type="image/jpeg")  # fmt: skip

    done = execute_plan(services, SET, SET, "op1", {"delete": PLAN["delete"]}, generations)

    assert done.deleted == ["p2.jpg"]
    assert done.skipped == {"p3.jpg": "replaced since the evaluation"}
    assert "p3.jpg" in snapshot(services)


def test_rollback_needs_an_operation(make_services):
    services = make_services()
    seed_set(services, FILES)

    with pytest.raises(PermanentError, match="no operation to roll back"):
        rollback(services, SET)
    execute_plan(services, SET, SET, "op1", {"generate": {"bw_stylized": 1}},
                 dict.fromkeys(FILES, 0))  # fmt: skip
    with pytest.raises(PermanentError, match="no operation 'op9'"):
        rollback(services, SET, "op9")
    assert operations(services, SET) == ["op1"]
    assert (
        json.loads(services.blobs.read(services.settings.sets_bucket, manifest_name(SET)))["set_id"]
        == SET
    )

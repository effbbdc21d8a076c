"""``extract_frames`` served by functions-framework, fed real GCS CloudEvents for clips
written to the videos bucket: frames land in the frames bucket, indexed once per generation."""

from __future__ import annotations

import json

from clips import frame_number, make_clip
from PIL import Image

from shared.media.store import CLIPS, clip_id


def post(client, events, info, mode, content_type="video/mp4"):
    event = events.storage(name=info.name, generation=info.generation, size=str(info.size),
                           bucket=info.bucket, contentType=content_type,
                           metadata=dict(info.metadata))  # fmt: skip
    headers, body = events.encode(event, mode)
    return client.post("/", headers=headers, data=body)


def clip_doc(services, name):
    doc = services.documents.get(f"{CLIPS}/{clip_id(services.settings.videos_bucket, name)}")
    return doc.data if doc else None


def frames_in_bucket(services, prefix):
    return sorted(i.name for i in services.blobs.list(services.settings.frames_bucket, prefix))


def test_a_clip_is_sampled_once_per_generation(services, serve, events, mode, tmp_path):
    client = serve("extract_frames")
    times = make_clip(tmp_path / "c.mp4", seconds=30, fps=10, gop=50)
    bucket = services.settings.videos_bucket
    name = "egocentric/factory_003/clip-42.mp4"
    # the sample's JSON beside the clip (as `videos pull` and `videos add` write it), and
    # the object metadata made from it (text), plus one value set by hand
    sidecar = {"factory_id": 3, "worker_id": 7, "duration_sec": 30.0, "hands": ["l", "r"]}
    services.blobs.write(bucket, "egocentric/factory_003/clip-42.json",
                         json.dumps(sidecar).encode(), content_type="application/json")  # fmt: skip
    metadata = {"factory_id": "3", "worker_id": "7", "duration_sec": "30.0", "batch": "b1"}
    data = (tmp_path / "c.mp4").read_bytes()
    info = services.blobs.write(bucket, name, data, content_type="video/mp4", metadata=metadata)

    first = post(client, events, info, mode)
    written = {i.name: i.generation for i in services.blobs.list(services.settings.frames_bucket)}
    again = post(client, events, info, mode)  # a redelivery

    assert (first.status_code, again.status_code) == (200, 200)
    doc = clip_doc(services, name)
    assert doc["status"] == "done"
    assert doc["generation"] == info.generation
    # the metadata in the sidecar's JSON types; the value set by hand as given
    assert doc["metadata"] == {**sidecar, "batch": "b1"}
    # default sampling: the middle of each 10 s slot of the first 30 s -> 5, 15, 25 s
    assert [f["timestamp"] for f in doc["frames"]] == [5.0, 15.0, 25.0]
    assert frames_in_bucket(services, "egocentric/") == [
        "egocentric/factory_003/clip-42/15000.jpg",
        "egocentric/factory_003/clip-42/25000.jpg",
        "egocentric/factory_003/clip-42/5000.jpg",
    ]
    for frame in doc["frames"]:
        data = services.blobs.read(services.settings.frames_bucket, frame["path"])
        stat = services.blobs.stat(services.settings.frames_bucket, frame["path"])
        assert stat.metadata["source_generation"] == str(info.generation)
        assert stat.content_type == "image/jpeg"
        import io  # noqa: PLC0415

        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (frame["width"], frame["height"])
            assert times[frame_number(image)] == frame["timestamp"]
    # the redelivery wrote nothing
    assert {
        i.name: i.generation for i in services.blobs.list(services.settings.frames_bucket)
    } == written


def test_a_replaced_clip_is_sampled_again_and_its_stale_frames_go(
    services, serve, events, tmp_path
):
    client = serve("extract_frames")
    bucket = services.settings.videos_bucket
    make_clip(tmp_path / "long.mp4", seconds=30, fps=10)
    make_clip(tmp_path / "short.mp4", seconds=8, fps=10)
    old = services.blobs.write(bucket, "c.mp4", (tmp_path / "long.mp4").read_bytes())
    assert post(client, events, old, "binary").status_code == 200
    new = services.blobs.write(bucket, "c.mp4", (tmp_path / "short.mp4").read_bytes())

    assert post(client, events, new, "binary").status_code == 200
    assert post(client, events, old, "binary").status_code == 200  # a late older event

    assert frames_in_bucket(services, "c/") == ["c/5000.jpg"]  # 15 s and 25 s are gone
    assert clip_doc(services, "c.mp4")["generation"] == new.generation


def test_what_cannot_be_decoded_is_recorded_as_failed_not_retried(services, serve, events, mode):
    client = serve("extract_frames")
    bucket = services.settings.videos_bucket
    info = services.blobs.write(bucket, "broken.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64))

    response = post(client, events, info, mode)

    assert response.status_code == 200  # acknowledged: retrying will not help
    doc = clip_doc(services, "broken.mp4")
    assert doc["status"] == "failed"
    assert "broken.mp4" in doc["error"]
    assert "not a readable video" in doc["error"]
    assert frames_in_bucket(services, "") == []


def test_a_sidecar_is_not_a_clip(services, serve, events):
    client = serve("extract_frames")
    info = services.blobs.write(services.settings.videos_bucket, "c.json", b'{"worker_id": 1}',
                                content_type="application/json")  # fmt: skip

    response = post(client, events, info, "binary", content_type="application/json")

    assert response.status_code == 200
    assert clip_doc(services, "c.json") is None

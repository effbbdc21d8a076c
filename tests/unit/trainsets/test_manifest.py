"""A set's manifest: images registered as they land (many at once, none lost), objects that are
no image of a set ignored, names split, and manifests that are not one refused by name."""

from __future__ import annotations

import json
import threading

import pytest

from shared.core.errors import PermanentError
from shared.trainsets.manifest import (
    Manifest,
    ManifestImage,
    manifest_name,
    read_manifest,
    register_image,
    set_images,
    split_image_name,
    update_manifest,
)
from shared.trainsets.plan import Distribution

PNG = bytes.fromhex(  # a 1x1 picture: register_image looks at names, never at pixels
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)


@pytest.fixture
def services(make_services):
    return make_services()


def put(services, name: str, data: bytes = PNG) -> None:
    services.blobs.write(services.settings.sets_bucket, name, data)


def manifest_bytes(services, set_id: str) -> bytes | None:
    bucket = services.settings.sets_bucket
    if not services.blobs.exists(bucket, manifest_name(set_id)):
        return None
    return services.blobs.read(bucket, manifest_name(set_id))


def manifest_of(services, set_id: str) -> Manifest:
    found = read_manifest(services.blobs, services.settings.sets_bucket, set_id)
    assert found is not None
    return found[0]


# -- registering images -----------------------------------------------------------------------


def test_images_registered_at_once_are_all_in_the_manifest(services):
    files = [f"img{n:02d}.png" for n in range(12)]
    for file in files:
        put(services, f"flock/{file}")
    start = threading.Barrier(len(files))
    answers: dict[str, str] = {}
    errors: list[BaseException] = []

    def register(file: str) -> None:
        start.wait(timeout=10)
        try:
            answers[file] = register_image(services, f"flock/{file}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(file,)) for file in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert answers == dict.fromkeys(files, "registered")
    assert sorted(manifest_of(services, "flock").files()) == files


def test_concurrent_changes_of_one_manifest_are_never_lost(services):
    bucket = services.settings.sets_bucket
    labels = ["photorealistic", "bw_stylized", "color_stylized"] * 4
    files = [f"img{n:02d}.png" for n in range(len(labels))]
    update_manifest(
        services.blobs,
        bucket,
        "flock",
        lambda m: m.model_copy(update={"images": tuple(ManifestImage(file=f) for f in files)}),
    )
    start = threading.Barrier(len(files))

    def label(file: str, category: str) -> None:
        start.wait(timeout=10)
        update_manifest(
            services.blobs,
            bucket,
            "flock",
            lambda m: m.with_image(ManifestImage(file=file, category=category)),
        )

    threads = [
        threading.Thread(target=label, args=pair) for pair in zip(files, labels, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    manifest = manifest_of(services, "flock")
    assert {image.file: image.category for image in manifest.images} == dict(
        zip(files, labels, strict=True)
    )


def test_an_image_is_registered_once(services):
    put(services, "heron/a.png")

    assert register_image(services, "heron/a.png") == "registered"
    first = manifest_bytes(services, "heron")
    assert register_image(services, "heron/a.png") == "known"

    assert manifest_bytes(services, "heron") == first
    assert manifest_of(services, "heron").images == (ManifestImage(file="a.png"),)


@pytest.mark.parametrize(
    "name",
    [
        "heron/manifest.json",
        "heron/sub/b.png",
        "heron/notes.txt",
        "heron/b.gif",
        "loose.png",
        ".hidden/b.png",
    ],
)
def test_objects_that_are_no_image_of_a_set_are_ignored(services, name):
    put(services, "heron/a.png")
    register_image(services, "heron/a.png")
    before = manifest_bytes(services, "heron")
    put(services, name, before if name.endswith(".json") else PNG)  # the manifest: rewritten

    assert register_image(services, name) == "ignored"

    assert manifest_bytes(services, "heron") == before
    assert manifest_bytes(services, "sub") is None


def test_an_image_deleted_before_its_event_is_ignored(services):
    put(services, "heron/gone.png")
    services.blobs.delete(services.settings.sets_bucket, "heron/gone.png")

    assert register_image(services, "heron/gone.png") == "ignored"

    assert manifest_bytes(services, "heron") is None


def test_set_images_lists_the_images_directly_in_the_folder(services):
    for name in ("heron/a.png", "heron/b.JPG", "heron/c.txt", "heron/sub/d.png", "herons/e.png"):
        put(services, name)
    put(services, "heron/manifest.json", b"{}")

    assert sorted(set_images(services.blobs, services.settings.sets_bucket, "heron")) == [
        "a.png",
        "b.JPG",
    ]


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("heron/a.png", ("heron", "a.png")),
        ("heron/A.JPEG", ("heron", "A.JPEG")),
        ("set-1.v2_x/photo.webp", ("set-1.v2_x", "photo.webp")),
        ("heron/manifest.json", None),
        ("heron/sub/a.png", None),
        ("heron/a.gif", None),
        ("heron/._a.jpg", None),  # macOS's resource fork beside a copy
        ("heron/.png", None),
        ("a.png", None),
        ("/a.png", None),
        ("-heron/a.png", None),
        ("her on/a.png", None),
        ("heron\n/a.png", None),  # a line break may not end a set id
        ("x" * 129 + "/a.png", None),
        ("heron/" + "a" * 509 + ".png", None),  # longer than a manifest can list
    ],
)
def test_split_image_name(name, parts):
    assert split_image_name(name) == parts


# -- manifests that are not one ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"set_id": "heron", "images": [', "not a set manifest: "),
        (b"\xff\xfe not even text", "not a set manifest: "),
        (b'["a.png"]', "not a set manifest: "),
        (b'{"set_id": "heron", "images": [{"name": "a.png"}]}', "images.0.file: Field required"),
        (b'{"set_id": "crane", "images": []}', "names set 'crane', but lies in 'heron'"),
        (
            b'{"set_id": "heron", "images": [{"file": "a.png"}, {"file": "a.png"}]}',
            "'a.png' is listed twice",
        ),
        (b'{"set_id": "heron", "images": [{"file": "../x/a.png"}]}', "is a path"),
        (
            b'{"set_id": "heron", "distribution": {"categories": {"a": "x"}, "target": {"a": 2}}}',
            "distribution",
        ),
    ],
)
def test_a_manifest_that_is_not_one_is_a_permanent_error_naming_it(services, body, reason):
    put(services, "heron/a.png")
    put(services, "heron/manifest.json", body)

    with pytest.raises(PermanentError) as raised:
        read_manifest(services.blobs, services.settings.sets_bucket, "heron")
    assert str(raised.value).startswith("vidcurate-sets/heron/manifest.json: ")
    assert reason in str(raised.value)
    # registering an image into it is refused the same way, and changes nothing
    with pytest.raises(PermanentError, match=r"vidcurate-sets/heron/manifest\.json: "):
        register_image(services, "heron/a.png")
    assert manifest_bytes(services, "heron") == body


def test_no_manifest_reads_as_none_and_a_manifest_reads_back_as_written(services):
    bucket = services.settings.sets_bucket
    assert read_manifest(services.blobs, bucket, "heron") is None
    own = Distribution(
        categories={"photo": "photographs", "ink": "drawings"},
        target={"photo": 0.75, "ink": 0.25},
        set_size=8,
        min_quality=4,
    )
    written = Manifest(
        set_id="heron",
        images=(
            ManifestImage(file="a.png"),
            ManifestImage(
                file="b.png",
                category="ink",
                source="generated",
                operation="op-1",
                model="gemini-2.5-flash-image",
                prompt="a heron in ink",
            ),
        ),
        distribution=own,
    )

    update_manifest(services.blobs, bucket, "heron", lambda _m: written)
    found = read_manifest(services.blobs, bucket, "heron")

    assert found is not None
    manifest, generation = found
    assert manifest == written
    assert generation == services.blobs.stat(bucket, manifest_name("heron")).generation
    body = json.loads(services.blobs.read(bucket, manifest_name("heron")))
    assert body["images"][0] == {"file": "a.png", "source": "upload"}  # no nulls written


def test_a_change_that_changes_nothing_writes_nothing(services):
    bucket = services.settings.sets_bucket
    put(services, "heron/a.png")
    register_image(services, "heron/a.png")
    generation = services.blobs.stat(bucket, manifest_name("heron")).generation

    update_manifest(services.blobs, bucket, "heron", lambda m: m)
    update_manifest(services.blobs, bucket, "heron", lambda _m: None)
    update_manifest(services.blobs, bucket, "heron", lambda m: m.without({"missing.png"}))

    assert services.blobs.stat(bucket, manifest_name("heron")).generation == generation
    # and no set is created by a change that adds nothing
    update_manifest(services.blobs, bucket, "empty", lambda m: m)
    assert manifest_bytes(services, "empty") is None

"""Evaluating a set: its sheets really sent through the OpenAI and Gemini SDKs to the fake APIs
(which decode and check them), answers re-asked until complete, bad input recorded per set,
incremental and duplicated deliveries, crashes that free the set, nothing written to the sets
bucket, and the offline judge sorting pictures drawn with Pillow by their colour."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from llmfake import Completion, FakeLLM
from PIL import Image, ImageChops, ImageDraw

from shared.adapters.models.offline_images import placeholder_png
from shared.config import Settings
from shared.core.errors import BusyError, PermanentError
from shared.llm.ledger import summarize_costs
from shared.platform.context import Context
from shared.platform.leases import Lease, Take
from shared.trainsets.evaluate import (
    answer_problems,
    composite_name,
    evaluate,
    set_path,
)
from shared.trainsets.grid import layout
from shared.trainsets.manifest import (
    Manifest,
    ManifestImage,
    image_name,
    manifest_name,
    update_manifest,
)
from shared.trainsets.messages import SetEvaluation
from shared.trainsets.plan import Distribution
from shared.trainsets.prompts import CellVerdict, SheetAnswer
from shared.trainsets.settings import GridSettings

PHOTO, BW, COLOUR = "photorealistic", "bw_stylized", "color_stylized"
INPUT_TOKENS, OUTPUT_TOKENS = 1_500, 300  # what the fake bills each sheet
DATA_URL = re.compile(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)")


# -- pictures ---------------------------------------------------------------------------------


def encode(picture: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, kind)
    return buffer.getvalue()


def grey_picture(seed: int = 0, size: tuple[int, int] = (300, 300)) -> bytes:
    """Pen-and-ink: dark hatching and outlines on light paper, grey levels only."""
    rng = random.Random(seed)
    width, height = size
    picture = Image.new("L", size, 225 + rng.randrange(20))
    draw = ImageDraw.Draw(picture)
    for offset in range(-height, width, 9 + rng.randrange(6)):
        draw.line((offset, 0, offset + height, height), fill=30 + rng.randrange(40), width=2)
    for _ in range(3):
        x, y = rng.randrange(width // 2), rng.randrange(height // 2)
        draw.ellipse((x, y, x + width // 3, y + height // 3), outline=0, width=5)
    return encode(picture.convert("RGB"))


def vivid_picture(seed: int = 0, size: tuple[int, int] = (300, 300)) -> bytes:
    """A flat colour illustration: saturated shapes on a saturated ground, no shading."""
    rng = random.Random(seed)
    palette = [(230, 30, 40), (30, 80, 230), (250, 200, 0), (20, 200, 60), (220, 0, 220)]
    rng.shuffle(palette)
    width, height = size
    picture = Image.new("RGB", size, palette[0])
    draw = ImageDraw.Draw(picture)
    for colour in palette[1:4]:
        x, y = rng.randrange(width // 2), rng.randrange(height // 2)
        draw.rectangle((x, y, x + width // 3, y + height // 4), fill=colour)
    return encode(picture)


def photo_picture(seed: int = 0, size: tuple[int, int] = (320, 240)) -> bytes:
    """A photograph-like picture: a smooth gradient between muted colours, with grain."""
    rng = random.Random(seed)
    width, height = size
    ramp = Image.linear_gradient("L").resize(size)  # dark at the top, light at the bottom
    bands = []
    for _ in range(3):
        low, high = 60 + rng.randrange(60), 130 + rng.randrange(80)
        band = ramp.point(lambda v, low=low, high=high: low + v * (high - low) // 255)
        grain = Image.frombytes("L", size, rng.randbytes(width * height)).point(lambda v: v // 8)
        bands.append(ImageChops.add(band, grain, 1.0, -16))
    return encode(Image.merge("RGB", bands), "JPEG")


# -- homes and sets ---------------------------------------------------------------------------


def snapshot(services: Context[Settings]) -> tuple[list[tuple[str, int, str]], dict[str, bytes]]:
    """Every object of the sets bucket (name, generation, MD5) and every manifest's bytes."""
    bucket = services.settings.sets_bucket
    infos = list(services.blobs.list(bucket))
    listing = [(info.name, info.generation, info.md5_hash) for info in infos]
    manifests = {
        info.name: services.blobs.read(bucket, info.name)
        for info in infos
        if info.name.endswith("/manifest.json")
    }
    return listing, manifests


def put_set(
    services: Context[Settings],
    set_id: str,
    images: Mapping[str, bytes],
    *,
    distribution: Distribution | None = None,
) -> list[str]:
    """Upload ``images`` as the set ``set_id`` and list them, in this order, in its manifest."""
    bucket = services.settings.sets_bucket
    for file, data in images.items():
        services.blobs.write(bucket, image_name(set_id, file), data)
    entries = tuple(ManifestImage(file=file) for file in images)
    update_manifest(
        services.blobs,
        bucket,
        set_id,
        lambda _old: Manifest(set_id=set_id, images=entries, distribution=distribution),
    )
    return list(images)


def put_manifest_bytes(services: Context[Settings], set_id: str, data: bytes) -> None:
    services.blobs.write(services.settings.sets_bucket, manifest_name(set_id), data)


def mixed_images(photos: int, greys: int, vivids: int) -> dict[str, bytes]:
    """``img01.png``... : the photographs first, then the grey ones, then the vivid ones."""
    pictures = (
        [photo_picture(n) for n in range(photos)]
        + [grey_picture(n) for n in range(greys)]
        + [vivid_picture(n) for n in range(vivids)]
    )
    return {f"img{n:02d}.png": data for n, data in enumerate(pictures, 1)}


# -- the model --------------------------------------------------------------------------------


def block(text: str, name: str) -> str:
    found = re.search(rf"<<<{name}>>>\n(.*?)\n<<<end {name}>>>", text, re.DOTALL)
    assert found is not None, f"no {name} block in the prompt"
    return found[1]


def sheet_request(provider: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """The prompt text and the one picture of a sheet request, as the SDK sent them."""
    if provider == "openai":
        parts = payload["messages"][-1]["content"]
        texts = [p["text"] for p in parts if p["type"] == "text"]
        urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert len(urls) == 1, urls
        found = DATA_URL.fullmatch(urls[0])
        assert found is not None, urls[0][:60]
        return "\n".join(texts), base64.b64decode(found[1])
    parts = payload["contents"][-1]["parts"]
    texts = [p["text"] for p in parts if "text" in p]
    inline = [p.get("inlineData") or p.get("inline_data") for p in parts if "text" not in p]
    assert len(inline) == 1, parts
    assert (inline[0].get("mimeType") or inline[0].get("mime_type")) == "image/jpeg"
    data = inline[0]["data"].replace("-", "+").replace("_", "/")  # the SDK sends it URL-safe
    return "\n".join(texts), base64.b64decode(data + "=" * (-len(data) % 4))


@dataclass
class Sheet:
    """One sheet request the fake answered."""

    provider: str
    model: str
    numbers: list[int]
    size: tuple[int, int]
    jpeg: bytes
    feedback: str


Verdicts = Callable[[int], tuple[str, int]]
"""Number -> (category, quality)."""
Answer = Callable[[int, list[dict[str, Any]]], list[dict[str, Any]]]
"""(index of the call, the right verdicts) -> the verdicts to answer with."""


@dataclass
class SheetJudge:
    """The fake's responder for a set of ``count`` images on ``grid`` sheets.

    Each request must carry one JPEG of the size its sheet's layout says and list that
    sheet's numbers; it is answered with ``verdicts`` for those numbers (``answer`` may spoil
    them, per call), billed INPUT_TOKENS and OUTPUT_TOKENS. ``hold`` (an event) stalls
    every answer until it is set.
    """

    count: int
    verdicts: Verdicts
    grid: GridSettings = field(default_factory=GridSettings)
    answer: Answer | None = None
    hold: threading.Event | None = None
    sheets: list[Sheet] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, provider: str, model: str, payload: dict[str, Any]) -> Completion:
        if self.hold is not None:
            assert self.hold.wait(timeout=30), "never released"
        text, jpeg = sheet_request(provider, payload)
        numbers = [int(n) for n in block(text, "numbers").split(", ")]
        picture = Image.open(io.BytesIO(jpeg))
        assert picture.format == "JPEG"
        expected = {tuple(s.numbers): (s.width, s.height) for s in layout(self.count, self.grid)}
        assert tuple(numbers) in expected, f"numbers {numbers} are no sheet of {self.count}"
        assert picture.size == expected[tuple(numbers)]
        with self.lock:
            index = len(self.sheets)
            self.sheets.append(
                Sheet(provider, model, numbers, picture.size, jpeg, block(text, "feedback"))
            )
        right = [
            {"number": n, "category": c, "quality": q, "reason": f"looks {c}"}
            for n in numbers
            for c, q in [self.verdicts(n)]
        ]
        images = self.answer(index, right) if self.answer is not None else right
        return Completion(
            content={"images": images, "analysis": f"sheet of {len(numbers)}"},
            input_tokens=INPUT_TOKENS,
            output_tokens=OUTPUT_TOKENS,
        )


def judge(llm: FakeLLM, count: int, verdicts: Verdicts, **options: Any) -> SheetJudge:
    """Make ``llm`` answer as a :class:`SheetJudge`."""
    responder = SheetJudge(count, verdicts, **options)
    llm.responder = responder
    return responder


def all_photo(_number: int) -> tuple[str, int]:
    return PHOTO, 7


def evaluation_file(services: Context[Settings], set_id: str) -> dict[str, Any]:
    bucket = services.settings.evaluations_bucket
    return json.loads(services.blobs.read(bucket, f"{set_id}_evaluation.json"))


def set_document(services: Context[Settings], set_id: str) -> dict[str, Any]:
    document = services.documents.get(f"trainsets/{set_id}")
    assert document is not None, f"no document for set {set_id}"
    return dict(document.data)


RUN = "20250601_120000_abc123"


def ask(set_id: str, run: str = RUN, **flags: bool) -> SetEvaluation:
    return SetEvaluation(set_id=set_id, run=run, **flags)


def by_number(photos: int, greys: int, quality: Mapping[int, int] | None = None) -> Verdicts:
    """Numbers up to ``photos`` are photographs, the next ``greys`` black and white, the rest
    colour illustrations; quality 8 unless ``quality`` says otherwise."""

    def verdict(number: int) -> tuple[str, int]:
        category = PHOTO if number <= photos else BW if number <= photos + greys else COLOUR
        return category, (quality or {}).get(number, 8)

    return verdict


def sheet_cost(services: Context[Settings], model: str) -> float:
    price = services.settings.model_prices[model]
    return (
        INPUT_TOKENS * price.input_per_million + OUTPUT_TOKENS * price.output_per_million
    ) / 1_000_000


def exists(services: Context[Settings], name: str) -> bool:
    return services.blobs.exists(services.settings.evaluations_bucket, name)


# -- 1. the sheets, through the real SDKs -----------------------------------------------------


def test_27_images_go_to_openai_on_two_sheets_and_the_evaluation_holds_their_verdicts(
    online, llm_server
):
    services = online()  # set_model: gpt-4.1-mini
    put_set(services, "heron", mixed_images(20, 2, 5))
    low = {3: 2, 6: 2, 9: 2, 12: 2, 15: 2, 18: 2, 20: 3, 23: 5, 25: 4}
    verdicts = by_number(20, 2, low)
    model = judge(llm_server, 27, verdicts)

    outcome, evaluation = evaluate(services, ask("heron"), delivery="m-1")

    assert outcome == "evaluated"
    # two calls: numbers 1-25 then 26-27, each one JPEG of its sheet's size (the judge checks)
    assert [s.numbers for s in model.sheets] == [list(range(1, 26)), [26, 27]]
    assert [s.size for s in model.sheets] == [(1000, 1000), (400, 200)]
    assert {(s.provider, s.model) for s in model.sheets} == {("openai", "gpt-4.1-mini")}
    assert len(llm_server.calls()) == 2
    # what was sent is what was kept
    bucket = services.settings.evaluations_bucket
    assert services.blobs.read(bucket, "heron_composite.jpg") == model.sheets[0].jpeg
    assert services.blobs.read(bucket, "heron_composite_2.jpg") == model.sheets[1].jpeg
    written = evaluation_file(services, "heron")
    assert written == evaluation
    assert written["composites"] == ["heron_composite.jpg", "heron_composite_2.jpg"]
    assert [(i["number"], i["file"], i["category"], i["quality"]) for i in written["images"]] == [
        (n, f"img{n:02d}.png", *verdicts(n)) for n in range(1, 28)
    ]
    # 20/2/5 of 27 against 65/20/15 %: black and white is 12.6 points short
    assert written["counts"] == {PHOTO: 20, BW: 2, COLOUR: 5}
    assert written["total"] == 27
    assert written["percentages"] == {PHOTO: 74.1, BW: 7.4, COLOUR: 18.5}
    assert written["deviations"] == {PHOTO: 9.1, BW: -12.6, COLOUR: 3.5}
    assert written["balanced"] is False
    # brought to 13/4/3: the 7 weakest photographs and the 2 weakest illustrations go
    assert written["target_counts"] == {PHOTO: 13, BW: 4, COLOUR: 3}
    assert written["plan"]["generate"] == {BW: 2}
    assert [d["file"] for d in written["plan"]["delete"]] == [
        "img18.png", "img15.png", "img12.png", "img09.png", "img06.png", "img03.png",
        "img20.png", "img25.png", "img23.png",
    ]  # fmt: skip
    assert written["plan"]["delete"][0]["reason"] == "surplus in photorealistic (quality 2)"
    assert written["analysis"] == "sheet of 25\n\nsheet of 2"
    # the model, its tokens and their price
    assert (written["model"], written["requested_model"], written["provider"]) == (
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-mini",
        "openai-compatible",  # a base URL is set: the fake's
    )
    assert (written["calls"], written["input_tokens"], written["output_tokens"]) == (2, 3000, 600)
    assert written["cost_usd"] > 0
    assert written["cost_usd"] == pytest.approx(2 * sheet_cost(services, "gpt-4.1-mini"))
    costs = summarize_costs(services.documents, run=RUN)
    assert costs.by_kind["trainset"]["calls"] == 2
    assert costs.cost_usd == pytest.approx(written["cost_usd"])
    # the set's document says the same, and the set is free
    document = set_document(services, "heron")
    assert (document["status"], document["error"], document["run"]) == ("evaluated", None, RUN)
    assert document["evaluation"] == "heron_evaluation.json"
    for name in ("counts", "total", "balanced", "plan", "model", "requested_model",
                 "input_tokens", "output_tokens", "cost_usd", "composites"):  # fmt: skip
        assert document[name] == written[name], name
    assert (document["holder"], document["lease_until"]) == (None, None)


def test_gemini_gets_the_sheet_inline_and_its_answer_is_priced(online, llm_server):
    services = online(set_model="gemini-2.5-flash")
    put_set(services, "owl", mixed_images(5, 2, 1))
    model = judge(llm_server, 8, by_number(5, 2))

    outcome, evaluation = evaluate(services, ask("owl"), delivery="m-1")

    assert outcome == "evaluated"
    assert evaluation is not None
    [sheet] = model.sheets  # sent as inline data, decoded by the judge
    assert (sheet.provider, sheet.model, sheet.numbers, sheet.size) == (
        "gemini",
        "gemini-2.5-flash",
        [1, 2, 3, 4, 5, 6, 7, 8],
        (1000, 400),
    )
    assert llm_server.calls(provider="openai") == []
    # 5/2/1 of 8 is within 10 points of 65/20/15 %: nothing to do
    assert (evaluation["counts"], evaluation["balanced"]) == ({PHOTO: 5, BW: 2, COLOUR: 1}, True)
    assert evaluation["plan"] == {"delete": [], "generate": {}}
    assert (evaluation["model"], evaluation["provider"]) == ("gemini-2.5-flash", "gemini")
    assert evaluation["cost_usd"] == pytest.approx(sheet_cost(services, "gemini-2.5-flash"))
    assert evaluation["cost_usd"] > 0
    assert evaluation["composites"] == ["owl_composite.jpg"]
    assert not exists(services, "owl_composite_2.jpg")
    assert set_document(services, "owl")["cost_usd"] == evaluation["cost_usd"]


# -- 2. answers that are not complete ---------------------------------------------------------

SPOILED: dict[str, tuple[Callable[[list[dict[str, Any]]], list[dict[str, Any]]], str]] = {
    "skipped": (lambda right: right[1:], "no verdict for image(s) 1"),
    "repeated": (lambda right: [*right, right[2]], "more than one verdict for image(s) 3"),
    "invented": (
        lambda right: [*right, {**right[0], "number": 9}],
        "image(s) 9 are not on this sheet",
    ),
    "unknown category": (
        lambda right: [{**right[0], "category": "sepia"}, *right[1:]],
        "unknown category sepia (use photorealistic, bw_stylized, color_stylized)",
    ),
}


@pytest.mark.parametrize("spoil", SPOILED)
def test_an_incomplete_answer_is_asked_again_with_what_was_wrong(online, llm_server, spoil):
    services = online()
    put_set(services, "wren", mixed_images(2, 1, 1))
    spoiled, problem = SPOILED[spoil]
    model = judge(
        llm_server,
        4,
        by_number(2, 1),
        answer=lambda index, right: spoiled(right) if index == 0 else right,
    )

    outcome, evaluation = evaluate(services, ask("wren"), delivery="m-1")

    assert outcome == "evaluated"
    assert evaluation is not None
    first, second = model.sheets
    assert first.feedback == ""
    assert "Your previous answer for this sheet was rejected" in second.feedback
    assert problem in second.feedback
    assert [(i["number"], i["category"]) for i in evaluation["images"]] == [
        (1, PHOTO), (2, PHOTO), (3, BW), (4, COLOUR)
    ]  # fmt: skip
    # both answers were paid for
    assert (evaluation["calls"], evaluation["input_tokens"]) == (2, 2 * INPUT_TOKENS)
    assert evaluation["cost_usd"] == pytest.approx(2 * sheet_cost(services, "gpt-4.1-mini"))


@pytest.mark.parametrize("spoil", SPOILED)
def test_an_answer_never_complete_fails_the_set_and_changes_no_set(online, llm_server, spoil):
    services = online(set_model_attempts=2)
    put_set(services, "wren", mixed_images(2, 1, 1))
    put_set(services, "other", mixed_images(1, 0, 0))
    spoiled, problem = SPOILED[spoil]
    model = judge(llm_server, 4, by_number(2, 1), answer=lambda _index, right: spoiled(right))
    before = snapshot(services)

    with pytest.raises(PermanentError) as raised:
        evaluate(services, ask("wren"), delivery="m-1")

    assert type(raised.value) is not PermanentError  # a named subclass
    assert len(model.sheets) == 2  # set_model_attempts
    assert problem in model.sheets[1].feedback
    message = str(raised.value)
    assert message.startswith("set wren: sheet 1: no complete answer in 2 tries: ")
    assert problem in message
    document = set_document(services, "wren")
    assert (document["status"], document["error"]) == ("failed", message)
    assert document["holder"] is None
    assert snapshot(services) == before
    assert not exists(services, "wren_evaluation.json")
    assert not exists(services, "wren_composite.jpg")
    assert summarize_costs(services.documents, run=RUN).calls == 2  # billed all the same


def test_answer_problems_names_each_fault_once():
    answer = SheetAnswer(
        images=[
            CellVerdict(number=2, category="photo", quality=5),
            CellVerdict(number=2, category="photo", quality=5),
            CellVerdict(number=7, category="ink", quality=5),
            CellVerdict(number=8, category="oil", quality=5),
        ]
    )

    assert answer_problems(answer, [1, 2, 3], ["photo", "sketch"]) == [
        "no verdict for image(s) 1, 3",
        "more than one verdict for image(s) 2",
        "image(s) 7, 8 are not on this sheet",
        "unknown categories ink, oil (use photo, sketch)",
    ]
    assert answer_problems(SheetAnswer(images=answer.images[:1]), [2], ["photo"]) == []


# -- 3. bad input -----------------------------------------------------------------------------


def _no_manifest(services: Context[Settings]) -> None:
    services.blobs.write(services.settings.sets_bucket, "bad/img01.png", photo_picture())


def _missing_image(services: Context[Settings]) -> None:
    put_set(services, "bad", {"img01.png": photo_picture(), "img02.png": grey_picture()})
    services.blobs.delete(services.settings.sets_bucket, "bad/img02.png")


def _truncated_image(services: Context[Settings]) -> None:
    whole = photo_picture(size=(640, 480))
    put_set(services, "bad", {"img01.png": grey_picture(), "cut.jpg": whole[: len(whole) // 2]})


def _not_an_image(services: Context[Settings]) -> None:
    put_set(services, "bad", {"img01.png": grey_picture(), "notes.jpg": b"shopping list\n"})


def _no_images(services: Context[Settings]) -> None:
    put_manifest_bytes(services, "bad", Manifest(set_id="bad").encode())


def _invalid_json(services: Context[Settings]) -> None:
    put_manifest_bytes(services, "bad", b'{"set_id": "bad", "images": [{"file": ')


BAD_INPUT = {
    "no manifest": (_no_manifest, "set bad: no manifest (vidcurate-sets/bad/manifest.json)"),
    "missing image": (
        _missing_image,
        "set bad: the manifest names 1 image(s) not in the bucket: img02.png",
    ),
    "truncated image": (_truncated_image, "set bad: cut.jpg: a broken or truncated picture"),
    "not an image": (_not_an_image, "set bad: notes.jpg: not an image (no known picture format)"),
    "no images": (_no_images, "set bad: the manifest names no image"),
    "invalid manifest": (
        _invalid_json,
        "set bad: vidcurate-sets/bad/manifest.json: not a set manifest: ",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_a_clear_error_on_its_set_and_other_sets_go_on(online, llm_server, case):
    services = online()
    make_bad, error = BAD_INPUT[case]
    make_bad(services)
    put_set(services, "fine", mixed_images(2, 1, 0))
    model = judge(llm_server, 3, by_number(2, 1))

    with pytest.raises(PermanentError) as raised:
        evaluate(services, ask("bad"), delivery="m-1")
    outcome, _evaluation = evaluate(services, ask("fine"), delivery="m-2")

    assert str(raised.value).startswith(error)
    document = set_document(services, "bad")
    assert (document["status"], document["error"], document["run"]) == (
        "failed",
        str(raised.value),
        RUN,
    )
    assert document.get("holder") is None
    assert not exists(services, "bad_evaluation.json")
    # the other set, in the same home, evaluates; the bad one cost no call
    assert outcome == "evaluated"
    assert [s.numbers for s in model.sheets] == [[1, 2, 3]]
    assert set_document(services, "fine")["status"] == "evaluated"


def test_a_fixed_set_is_evaluated_on_the_next_request(online, llm_server):
    services = online()
    _not_an_image(services)
    judge(llm_server, 2, by_number(1, 1))
    with pytest.raises(PermanentError):
        evaluate(services, ask("bad"), delivery="m-1")

    services.blobs.write(services.settings.sets_bucket, "bad/notes.jpg", grey_picture(5))
    outcome, _evaluation = evaluate(services, ask("bad"), delivery="m-1")

    assert outcome == "evaluated"
    assert set_document(services, "bad")["error"] is None


# -- 4. incremental ---------------------------------------------------------------------------


def test_only_a_changed_or_forced_set_is_evaluated_again(online, llm_server):
    services = online()
    put_set(services, "kite", mixed_images(2, 1, 1))
    judge(llm_server, 4, by_number(2, 1))

    def calls() -> int:
        return len(llm_server.calls())

    assert evaluate(services, ask("kite", "r1"), delivery="a")[0] == "evaluated"
    assert calls() == 1
    # the same run delivered again
    assert evaluate(services, ask("kite", "r1"), delivery="b") == ("already_done", None)
    # a new run, nothing changed
    assert evaluate(services, ask("kite", "r2"), delivery="c") == ("unchanged", None)
    assert calls() == 1
    assert set_document(services, "kite")["run"] == "r2"
    assert evaluation_file(services, "kite")["run"] == "r1"

    # one image written again (a new generation, even with the same picture)
    bucket = services.settings.sets_bucket
    same = services.blobs.read(bucket, "kite/img02.png")
    services.blobs.write(bucket, "kite/img02.png", same)
    assert evaluate(services, ask("kite", "r3"), delivery="d")[0] == "evaluated"
    assert calls() == 2
    assert evaluate(services, ask("kite", "r4"), delivery="e")[0] == "unchanged"

    # forced
    assert evaluate(services, ask("kite", "r5", force=True), delivery="f")[0] == "evaluated"
    assert calls() == 3
    assert evaluate(services, ask("kite", "r5", force=True), delivery="g")[0] == "already_done"

    # the set's own distribution in its manifest
    own = Distribution(
        categories={PHOTO: "photos", BW: "ink", COLOUR: "paint"},
        target={PHOTO: 0.5, BW: 0.25, COLOUR: 0.25},
        set_size=4,
    )
    update_manifest(
        services.blobs, bucket, "kite", lambda m: m.model_copy(update={"distribution": own})
    )
    outcome, evaluation = evaluate(services, ask("kite", "r6"), delivery="h")
    assert outcome == "evaluated"
    assert calls() == 4
    assert evaluation is not None
    assert evaluation["target_counts"] == {PHOTO: 2, BW: 1, COLOUR: 1}
    assert evaluation["target"] == {PHOTO: 0.5, BW: 0.25, COLOUR: 0.25}
    assert evaluate(services, ask("kite", "r7"), delivery="i")[0] == "unchanged"
    assert calls() == 4


# -- 5. duplicated and crashed deliveries -----------------------------------------------------


def test_two_deliveries_at_once_make_one_set_of_calls(online, llm_server):
    services = online()
    put_set(services, "lark", mixed_images(3, 0, 0))
    release = threading.Event()
    judge(llm_server, 3, all_photo, hold=release)  # the winner's call waits for the loser
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}
    busy: list[str] = []

    def deliver(delivery: str) -> None:
        start.wait(timeout=10)
        try:
            outcomes[delivery] = evaluate(services, ask("lark"), delivery=delivery)[0]
        except BusyError:
            busy.append(delivery)
            release.set()

    threads = [threading.Thread(target=deliver, args=(d,)) for d in ("m-1", "m-2")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        release.set()

    assert len(busy) == 1
    assert list(outcomes.values()) == ["evaluated"]
    assert len(llm_server.calls()) == 1
    # the refused delivery, redelivered: done already, no call
    assert evaluate(services, ask("lark"), delivery=busy[0]) == ("already_done", None)
    assert len(llm_server.calls()) == 1


def test_a_model_that_stays_down_frees_the_set_for_a_retry(online, llm_server):
    services = online()  # one try a call
    put_set(services, "gull", mixed_images(2, 0, 0))
    model = judge(llm_server, 2, all_photo)
    llm_server.fail_next(r"/chat/completions$", 500)

    with pytest.raises(PermanentError) as raised:
        evaluate(services, ask("gull"), delivery="m-1")

    assert model.sheets == []
    document = set_document(services, "gull")
    assert document["status"] == "failed"
    assert "HTTP 500" in document["error"]
    assert document["error"] == str(raised.value)
    assert (document["holder"], document["lease_until"]) == (None, None)
    assert not exists(services, "gull_evaluation.json")
    # the same delivery again, the model back: evaluated
    assert evaluate(services, ask("gull"), delivery="m-1")[0] == "evaluated"
    assert len(model.sheets) == 1
    assert set_document(services, "gull")["error"] is None


def test_a_failure_after_the_calls_frees_the_set_and_says_why(online, llm_server):
    services = online()
    put_set(services, "tern", mixed_images(1, 1, 0))
    model = judge(llm_server, 2, by_number(1, 1))
    bucket = services.settings.evaluations_bucket
    # a folder where the evaluation file goes: its write fails once the sheets are judged
    services.blobs.write(bucket, "tern_evaluation.json/in-the-way", b"x")

    with pytest.raises(PermanentError) as raised:
        evaluate(services, ask("tern"), delivery="m-1")

    assert len(model.sheets) == 1
    assert "tern_evaluation.json" in str(raised.value)
    document = set_document(services, "tern")
    assert (document["status"], document["error"]) == ("failed", str(raised.value))
    assert (document["holder"], document["lease_until"]) == (None, None)

    services.blobs.delete(bucket, "tern_evaluation.json/in-the-way")
    assert evaluate(services, ask("tern"), delivery="m-1")[0] == "evaluated"
    assert evaluation_file(services, "tern")["counts"] == {PHOTO: 1, BW: 1, COLOUR: 0}


def _claimed_by(services: Context[Settings], set_id: str, holder: str, seconds: float) -> None:
    """The set as a delivery left it that claimed it and then died (or still works)."""
    Lease(services.documents, set_path(set_id), holder, seconds=seconds).claim(
        lambda _view: Take("claimed", {"set_id": set_id, "status": "evaluating", "run": RUN})
    )


def test_a_set_left_by_a_dead_delivery_is_taken_over_once_its_lease_ran_out(online, llm_server):
    services = online()
    put_set(services, "rook", mixed_images(2, 0, 0))
    put_set(services, "raven", mixed_images(2, 0, 0))
    judge(llm_server, 2, all_photo)
    _claimed_by(services, "rook", "died-long-ago", seconds=-1)
    _claimed_by(services, "raven", "still-working", seconds=600)

    assert evaluate(services, ask("rook"), delivery="m-2")[0] == "evaluated"
    with pytest.raises(BusyError):
        evaluate(services, ask("raven"), delivery="m-3")

    assert len(llm_server.calls()) == 1
    assert set_document(services, "rook")["status"] == "evaluated"
    raven = set_document(services, "raven")
    assert (raven["status"], raven["holder"]) == ("evaluating", "still-working")


# -- 6. a dry run -----------------------------------------------------------------------------


def test_an_evaluation_without_execute_changes_nothing_in_the_sets_bucket(online, llm_server):
    services = online()
    put_set(services, "heron", mixed_images(20, 2, 5))  # unbalanced: a plan to delete
    put_set(services, "owl", mixed_images(1, 0, 0))
    judge(llm_server, 27, by_number(20, 2))
    before = snapshot(services)

    outcome, evaluation = evaluate(services, ask("heron", execute=False), delivery="m-1")

    assert outcome == "evaluated"
    assert evaluation is not None
    assert len(evaluation["plan"]["delete"]) == 9
    assert snapshot(services) == before


# -- sheets of a set that shrank --------------------------------------------------------------


def test_a_set_that_shrank_to_one_sheet_keeps_no_second_sheet(online, llm_server):
    services = online()
    put_set(services, "heron", mixed_images(27, 0, 0))
    judge(llm_server, 27, all_photo)
    evaluate(services, ask("heron", "r1"), delivery="m-1")
    bucket = services.settings.evaluations_bucket
    services.blobs.write(bucket, "heron_composite_2_composite.jpg", b"set heron_composite_2's")
    assert exists(services, composite_name("heron", 1))

    kept = {f"img{n:02d}.png" for n in range(1, 21)}
    update_manifest(
        services.blobs,
        services.settings.sets_bucket,
        "heron",
        lambda m: m.without(set(m.files()) - kept),
    )
    judge(llm_server, 20, all_photo)
    _outcome, evaluation = evaluate(services, ask("heron", "r2"), delivery="m-2")

    assert evaluation is not None
    assert evaluation["composites"] == ["heron_composite.jpg"]
    assert not exists(services, "heron_composite_2.jpg")
    assert exists(services, "heron_composite_2_composite.jpg")  # another set's sheet
    assert evaluation_file(services, "heron")["total"] == 20


# -- 8. the offline judge ---------------------------------------------------------------------


def test_the_offline_judge_sorts_pictures_by_their_colour(make_services):
    services = make_services()  # no keys: the offline provider answers
    pictures = {
        "ink-square.png": (grey_picture(1), BW),
        "ink-wide.png": (grey_picture(2, (480, 200)), BW),
        "ink-dark.png": (encode(Image.new("RGB", (90, 90), (12, 12, 12))), BW),
        "poster-square.png": (vivid_picture(1), COLOUR),
        "poster-tall.png": (vivid_picture(2, (180, 420)), COLOUR),
        "poster-flat.png": (encode(Image.new("RGB", (250, 250), (30, 80, 230))), COLOUR),
        "poster-wide.png": (vivid_picture(4, (600, 110)), COLOUR),  # a strip amid background
        "photo-wide.jpg": (photo_picture(1), PHOTO),
        "photo-tall.jpg": (photo_picture(2, (240, 360)), PHOTO),
        "photo-small.jpg": (photo_picture(3, (64, 48)), PHOTO),
    }
    put_set(services, "mixed", {file: data for file, (data, _) in pictures.items()})

    outcome, evaluation = evaluate(services, ask("mixed"), delivery="m-1")

    assert outcome == "evaluated"
    assert evaluation is not None
    assert [i["number"] for i in evaluation["images"]] == list(range(1, 11))
    assert {i["file"]: i["category"] for i in evaluation["images"]} == {
        file: category for file, (_, category) in pictures.items()
    }
    assert all(1 <= i["quality"] <= 10 for i in evaluation["images"])
    assert all(i["reason"].startswith("(offline, not a model)") for i in evaluation["images"])
    assert (evaluation["model"], evaluation["provider"]) == ("offline-gpt-4.1-mini", "offline")
    assert evaluation["cost_usd"] == 0


@pytest.mark.parametrize(
    "names",
    [
        ("real_world", "monochrome", "cartoon"),
        ("cartoon", "black_and_white", "photo"),
        ("colour_painting", "photograph", "grey_sketch"),
    ],
)
def test_the_offline_judge_reads_the_categories_by_their_names(make_services, names):
    services = make_services()
    photo, grey, colour = _roles(names)
    own = Distribution(
        categories={name: f"pictures of the {name} kind" for name in names},
        target=dict.fromkeys(names, 1 / 3),
        set_size=3,
    )
    put_set(
        services,
        "named",
        {"a.png": vivid_picture(3), "b.jpg": photo_picture(4), "c.png": grey_picture(5)},
        distribution=own,
    )

    _outcome, evaluation = evaluate(services, ask("named"), delivery="m-1")

    assert evaluation is not None
    assert {i["file"]: i["category"] for i in evaluation["images"]} == {
        "a.png": colour,
        "b.jpg": photo,
        "c.png": grey,
    }


def _roles(names: tuple[str, ...]) -> tuple[str, str, str]:
    photo = next(n for n in names if "real" in n or "photo" in n)
    grey = next(n for n in names if "mono" in n or "black" in n or "grey" in n)
    colour = next(n for n in names if n not in (photo, grey))
    return photo, grey, colour


def test_the_offline_judge_places_the_offline_placeholders_on_two_sheets(make_services):
    services = make_services()
    categories = [PHOTO, BW, COLOUR]
    images = {
        f"{category}-{n}.png": placeholder_png(category, f"a heron, take {n}", 512, 384)
        for n in range(9)
        for category in categories
    }
    put_set(services, "placeholders", images)

    _outcome, evaluation = evaluate(services, ask("placeholders"), delivery="m-1")

    assert evaluation is not None
    assert evaluation["composites"] == [
        "placeholders_composite.jpg",
        "placeholders_composite_2.jpg",
    ]
    assert len(evaluation["images"]) == 27
    wrong = [i for i in evaluation["images"] if not i["file"].startswith(i["category"] + "-")]
    assert wrong == []


def test_an_evaluation_out_of_time_fails_before_asking(online, llm_server):
    services = online(job_deadline_seconds=1)  # less than a call may take
    put_set(services, "swift", mixed_images(2, 0, 0))
    judge(llm_server, 2, all_photo)

    with pytest.raises(PermanentError, match="no time left before the deadline"):
        evaluate(services, ask("swift"), delivery="m-1")

    assert llm_server.calls() == []
    document = set_document(services, "swift")
    assert document["status"] == "failed"
    assert document["holder"] is None

"""``vidcurate sets``: a folder becomes a set, its evaluation runs through the local runtime
(offline without keys), lands in a local folder and in ``sets status``; mistakes are one line."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageOps
from typer.testing import CliRunner

from shared.cli.main import app

runner = CliRunner()


def photo(seed: int) -> Image.Image:
    """A photo-like picture: a gradient with noise."""
    rng = random.Random(seed)
    image = Image.new("RGB", (160, 120))
    image.putdata(
        [
            (
                60 + x // 2 + rng.randrange(50),
                70 + y // 3 + rng.randrange(50),
                90 + rng.randrange(40),
            )
            for y in range(120)
            for x in range(160)
        ]
    )
    return image


def save(image: Image.Image, path: Path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Eight images: five photos, two black-and-white, one flat and saturated; and a note."""
    images = tmp_path / "actor_001"
    images.mkdir()
    for n in range(5):
        save(photo(n), images / f"photo_{n}.jpg")
    for n in range(2):
        save(ImageOps.grayscale(photo(10 + n)).convert("RGB"), images / f"ink_{n}.jpg")
    flat = ImageEnhance.Color(ImageOps.posterize(photo(20), 1)).enhance(6)
    save(flat, images / "comic_0.jpg")
    (images / "notes.txt").write_text("not an image")
    return images


def run(home: Path, *args: str) -> str:
    result = runner.invoke(app, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_folder_becomes_a_set_and_is_evaluated_offline(tmp_path, folder):
    home = tmp_path / "home"
    added = json.loads(run(home, "sets", "add", str(folder), "--set", "actor_001", "--json"))
    assert sorted(added["uploaded"]) == sorted(p.name for p in folder.glob("*.jpg"))
    assert set(added["skipped"]) == {"notes.txt"}

    out = tmp_path / "evaluations"
    report = json.loads(
        run(home, "sets", "evaluate", "--set", "actor_001", "--out", str(out), "--json")
    )

    (row,) = report["sets"]
    assert row["status"] == "evaluated", row
    assert row["images"] == 8
    assert sum(row["counts"].values()) == 8
    assert report["estimate"]["offline"] is True
    evaluation = json.loads((out / "actor_001_evaluation.json").read_text())
    assert {i["file"] for i in evaluation["images"]} == set(added["uploaded"])
    assert (out / "actor_001_composite.jpg").read_bytes()[:2] == b"\xff\xd8"
    by_file = {i["file"]: i["category"] for i in evaluation["images"]}
    assert {by_file["ink_0.jpg"], by_file["ink_1.jpg"]} == {"bw_stylized"}
    # 8 images against 13/4/3 of 20: not balanced, and the plan fills the gaps.
    assert evaluation["balanced"] is False
    assert sum(evaluation["plan"]["generate"].values()) > 0
    # The dry run left the set alone.
    manifest = json.loads(
        (home / "buckets" / "vidcurate-sets" / "actor_001" / "manifest.json").read_text()
    )
    assert len(manifest["images"]) == 8

    again = json.loads(run(home, "sets", "evaluate", "--set", "actor_001", "--json",
                           "--out", str(out)))  # fmt: skip
    assert again["estimate"]["to_evaluate"] == []
    assert again["estimate"]["unchanged"] == ["actor_001"]
    status = json.loads(run(home, "sets", "status", "--json"))
    assert [(s["set_id"], s["status"], s["balanced"]) for s in status] == [
        ("actor_001", "evaluated", False)
    ]
    assert "actor_001" in run(home, "sets", "status")


def test_a_set_without_images_fails_alone(tmp_path, folder):
    home = tmp_path / "home"
    run(home, "sets", "add", str(folder), "--set", "good")
    (home / "buckets" / "vidcurate-sets" / "broken").mkdir(parents=True)
    (home / "buckets" / "vidcurate-sets" / "broken" / "manifest.json").write_text(
        json.dumps({"set_id": "broken", "images": [{"file": "gone.jpg"}]})
    )

    result = runner.invoke(app, ["--home", str(home), "sets", "evaluate", "--all", "--json",
                                 "--out", str(tmp_path / "out")])  # fmt: skip

    assert result.exit_code == 1, result.output
    rows = {row["set_id"]: row for row in json.loads(result.stdout)["sets"]}
    assert rows["good"]["status"] == "evaluated"
    assert rows["broken"]["status"] == "failed"
    assert "gone.jpg" in rows["broken"]["error"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sets", "evaluate"], "--set, or pass --all"),
        (["sets", "evaluate", "--set", "a", "--all"], "--set, or pass --all"),
        (["sets", "evaluate", "--set", "../x"], "not a set id"),
        (["sets", "rollback", "--set", "../x"], "not a set id"),
        (["sets", "add", "/no/such/folder", "--set", "a"], "no such folder"),
        (["sets", "add", ".", "--set", "a b"], "not a set id"),
    ],
)
def test_mistakes_are_one_line(tmp_path, args, says):
    result = runner.invoke(app, ["--home", str(tmp_path), *args])

    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output


def listing(home: Path, set_id: str) -> dict[str, bytes]:
    folder = home / "buckets" / "vidcurate-sets" / set_id
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_execute_rebalances_the_set_and_rollback_restores_it(tmp_path, folder):
    home = tmp_path / "home"
    run(home, "sets", "add", str(folder), "--set", "actor_001")
    run(home, "sets", "evaluate", "--set", "actor_001", "--out", str(tmp_path / "dry"))  # plan
    before = listing(home, "actor_001")

    report = json.loads(run(home, "sets", "evaluate", "--set", "actor_001", "--execute",
                            "--json", "--out", str(tmp_path / "out")))  # fmt: skip

    (row,) = report["sets"]
    executed = row["executed"]
    plan = json.loads((tmp_path / "out" / "actor_001_evaluation.json").read_text())["plan"]
    assert len(executed["generated"]) == sum(plan["generate"].values()) > 0
    assert sorted(executed["deleted"]) == sorted(d["file"] for d in plan["delete"])
    assert (row["delete"], row["generate"]) == (0, 0)  # nothing pending any more
    after = listing(home, "actor_001")
    assert set(executed["generated"]) <= set(after)
    manifest = json.loads(after["manifest.json"])
    assert len(manifest["images"]) == len(before) - 1 - len(executed["deleted"]) + len(
        executed["generated"]
    )
    # The next evaluation sees the generated images like any other.
    again = json.loads(run(home, "sets", "evaluate", "--set", "actor_001", "--json",
                           "--out", str(tmp_path / "out")))  # fmt: skip
    assert again["estimate"]["to_evaluate"] == ["actor_001"]

    undone = json.loads(run(home, "sets", "rollback", "--set", "actor_001", "--json"))

    assert sorted(undone["removed"]) == sorted(executed["generated"])
    restored = listing(home, "actor_001")
    assert {k: v for k, v in restored.items() if k != "manifest.json"} == {
        k: v for k, v in before.items() if k != "manifest.json"
    }

    status = json.loads(run(home, "sets", "status", "--set", "actor_001", "--json"))
    assert status[0]["status"] == "rolled back"
    assert status[0]["rolled_back"] == executed["operation"]
    assert status[0]["executed"] is None


def test_a_folder_without_images_is_one_line(tmp_path):
    (tmp_path / "photos" / "nested").mkdir(parents=True)
    (tmp_path / "photos" / "nested" / "a.jpg").write_bytes(b"not read")
    (tmp_path / "photos" / "notes.txt").write_text("x")

    result = runner.invoke(
        app, ["--home", str(tmp_path / "home"), "sets", "add", str(tmp_path / "photos"),
              "--set", "s1"],
    )  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "no image to upload" in result.output
    assert "skipped notes.txt" in result.output
    assert "Traceback" not in result.output

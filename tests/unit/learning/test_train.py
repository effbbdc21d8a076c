"""Active-learning rounds on the CPU with small synthetic frames whose classes are visible
(a shape's colour and size): rounds 0 and 1 end to end, early stopping, base weights, bad
input, and a round killed mid-epoch resuming to the same result."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from learning_support import add_shape_frames  # noqa: E402

from shared.core.errors import PermanentError  # noqa: E402
from shared.learning.rounds import NotEnoughLabelsError, RoundConfig  # noqa: E402
from shared.learning.roundstore import read_json, round_path  # noqa: E402
from shared.learning.train import BaseWeightsError, build_model, run_round  # noqa: E402

pytestmark = pytest.mark.xdist_group("torch")

SMALL = {"architecture": "resnet18", "image_size": 48, "batch_size": 16, "workers": 0,
         "epochs": 8, "lr": 1e-3, "top_k": 5, "min_per_class": 3}  # fmt: skip


def config(round_: int, **changes) -> RoundConfig:
    return RoundConfig(round=round_, **{**SMALL, **changes})


@pytest.fixture
def shapes(make_services):
    services = make_services()
    truth = add_shape_frames(services, 8, labelled=0.75)  # 6 of 8 clips labelled: 54 frames
    return services, truth


def test_rounds_0_and_1_train_evaluate_score_and_feed_the_labelling_queue(shapes, tmp_path):
    services, truth = shapes
    first = run_round(services, config(0), tmp_path)
    assert first.status == "done"
    report = first.metrics
    assert report["started_from"]["perspective"].startswith("random initialisation")
    # the colour is easy: the model must have learnt it
    assert report["sets"]["test"]["perspective"]["accuracy"] >= 0.8
    assert report["sets"]["train"]["perspective"]["frames"] > 0
    # the queue: the top-k of the unlabelled frames, written twice
    unlabelled = {f for f in truth if int(f.split("/")[1][4:]) >= 6}
    assert len(first.queue) == 5
    assert set(first.queue) <= unlabelled
    live = services.documents.get("label_queues/current").data
    assert live["frame_ids"] == first.queue
    assert live["version"] == "round-00"
    scores = services.blobs.read(services.settings.models_bucket, round_path(0, "scores.jsonl"))
    rows = [json.loads(line) for line in scores.splitlines()]
    assert {r["frame"] for r in rows} == unlabelled
    assert sorted(rows, key=lambda r: (-r["entropy"], r["frame"]))[0]["frame"] == first.queue[0]
    made = (
        "test_set.json", "splits.json", "metrics.json", "queue.json",
        "checkpoints/perspective_best.pt", "checkpoints/distance_last.pt",
        "plots/perspective_curves.png", "plots/distance_confusion.png", "DONE",
    )  # fmt: skip
    bucket = services.settings.models_bucket
    for name in made:
        assert services.blobs.exists(bucket, round_path(0, name)), name
    checkpoint = services.blobs.read(bucket, round_path(0, "checkpoints/perspective_best.pt"))
    best = torch.load(io.BytesIO(checkpoint), weights_only=True)
    assert best["preprocessing"]["resize"] == [48, 48]
    assert best["classes"] == ["first_person", "third_person", "overhead"]
    test_set = read_json(services, round_path(0, "test_set.json"))["frames"]

    # round 1: more labels, the same test set, from round 0's best
    second = run_round(services, config(1), tmp_path)
    assert second.metrics["started_from"]["distance"].startswith("round 0's best")
    splits = read_json(services, round_path(1, "splits.json"))
    assert splits["test"] == test_set
    assert second.metrics["guidance"]["macro_f1_gain_points"] is not None
    rounds = {doc.id: doc.data for doc in services.documents.iter_collection("learning_rounds")}
    assert rounds["round_01"]["status"] == "done"
    # a finished round run again does nothing
    assert run_round(services, config(1), tmp_path).status == "already_done"


def test_early_stopping_stops_when_validation_loss_stops_improving(make_services, tmp_path):
    # GIVEN labels dealt at random: training memorises them, validation loss only grows
    services = make_services()
    add_shape_frames(services, 8, random_labels=True)
    result = run_round(services, config(0, epochs=12, lr=1e-3, patience=2, image_size=32), tmp_path)
    history = result.metrics["history"]["perspective"]
    assert len(history) < 12
    best = min(h["validation_loss"] for h in history)
    after_best = [h for h in history if h["epoch"] > next(
        h["epoch"] for h in history if h["validation_loss"] == best)]  # fmt: skip
    assert len(after_best) == 2  # exactly `patience` epochs without a better loss


def test_too_few_labels_fail_before_training_naming_the_counts(make_services, tmp_path):
    services = make_services()
    add_shape_frames(services, 2)
    with pytest.raises(NotEnoughLabelsError, match=r"perspective\.first_person: 6"):
        run_round(services, config(0, min_per_class=7), tmp_path)
    doc = services.documents.get("learning_rounds/round_00").data
    assert doc["status"] == "failed"
    assert "not enough labelled frames" in doc["error"]
    assert not services.blobs.exists(services.settings.models_bucket, round_path(0, "DONE"))


def test_round_1_needs_round_0(shapes, tmp_path):
    services, _ = shapes
    with pytest.raises(PermanentError, match="run round 0 first"):
        run_round(services, config(1), tmp_path)


def test_a_corrupt_frame_is_left_out_and_listed(shapes, tmp_path):
    services, truth = shapes
    broken = next(iter(truth))
    services.blobs.write(services.settings.frames_bucket, broken, b"not a jpeg")
    result = run_round(services, config(0, epochs=1), tmp_path)
    assert broken in result.metrics["unusable_frames"]
    assert "cannot be decoded" in result.metrics["unusable_frames"][broken]


def _upload(services, name: str, payload) -> str:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    services.blobs.write(services.settings.models_bucket, name, buffer.getvalue())
    return f"gs://{services.settings.models_bucket}/{name}"


def test_base_weights_of_the_architecture_start_round_0(shapes, tmp_path):
    services, _ = shapes
    imagenet_like = build_model("resnet18", 1000).state_dict()  # another head: kept random
    uri = _upload(services, "base/resnet18.pt", imagenet_like)
    result = run_round(services, config(0, epochs=1, base_weights=uri), tmp_path)
    assert result.metrics["started_from"]["perspective"] == f"base weights {uri}"


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (lambda: build_model("resnet50", 3).state_dict(), "not of this architecture"),
        (lambda: {"weights": [1, 2, 3]}, "no state dict"),
    ],
)
def test_base_weights_of_another_architecture_are_refused(shapes, tmp_path, payload, words):
    services, _ = shapes
    uri = _upload(services, "base/wrong.pt", payload())
    with pytest.raises(BaseWeightsError, match=words):
        run_round(services, config(0, epochs=1, base_weights=uri), tmp_path)
    with pytest.raises(BaseWeightsError, match="no such object"):
        run_round(services, config(0, epochs=1, base_weights="gs://nowhere/x.pt"), tmp_path)


def _job(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "VIDCURATE_HOME": str(home), "VIDCURATE_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "shared.jobs.active_learning", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_round_killed_mid_epoch_resumes_to_the_same_result(make_services, tmp_path):
    from support import poll  # noqa: PLC0415

    homes = {}
    for name in ("killed", "whole"):
        services = make_services(home=tmp_path / name)
        add_shape_frames(services, 6, labelled=0.75)
        homes[name] = services
    args = RoundConfig(
        round=0, **{**SMALL, "epochs": 3, "batch_size": 8, "image_size": 32}
    ).to_args()
    # GIVEN a round killed once its second epoch has begun
    process = _job(tmp_path / "killed", *args)
    killed = homes["killed"]

    def second_epoch_started():
        assert process.poll() is None, process.communicate()
        name = round_path(0, "checkpoints/perspective_last.pt")
        if not killed.blobs.exists(killed.settings.models_bucket, name):
            return False
        data = killed.blobs.read(killed.settings.models_bucket, name)
        return torch.load(io.BytesIO(data), weights_only=True)["epoch"] >= 0

    poll(second_epoch_started, timeout=240, interval=0.05, message="no checkpoint")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    # WHEN it runs again, and another home runs the same round without a break
    again = _job(tmp_path / "killed", *args)
    whole = _job(tmp_path / "whole", *args)
    out_again, err_again = again.communicate(timeout=600)
    out_whole, err_whole = whole.communicate(timeout=600)
    assert again.returncode == 0, err_again
    assert whole.returncode == 0, err_whole
    # THEN both end with the same weights and the same metrics
    for task in ("perspective", "distance"):
        name = round_path(0, f"checkpoints/{task}_best.pt")
        a, b = (
            torch.load(io.BytesIO(s.blobs.read(s.settings.models_bucket, name)), weights_only=True)
            for s in (homes["killed"], homes["whole"])
        )
        assert a["epoch"] == b["epoch"]
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    metrics = [read_json(s, round_path(0, "metrics.json")) for s in homes.values()]
    assert metrics[0]["sets"] == metrics[1]["sets"]
    assert json.loads(out_again)["queue_head"] == json.loads(out_whole)["queue_head"]


def test_a_last_training_batch_of_one_frame_is_left_for_the_next_epoch(tmp_path):
    # batch norm cannot train on one frame: 9 frames in batches of 4 make 4 + 4, not 4 + 4 + 1
    from shared.learning.train import FrameDataset, Trainer  # noqa: PLC0415

    trainer = Trainer(None, config(0, batch_size=4), "perspective", ("a", "b", "c"),
                      torch.device("cpu"))  # fmt: skip
    nine = FrameDataset([tmp_path / f"{n}.jpg" for n in range(9)], [0] * 9, lambda image: image)
    ten = FrameDataset([tmp_path / f"{n}.jpg" for n in range(10)], [0] * 10, lambda image: image)
    assert len(trainer._loader(nine, shuffle=True)) == 2
    assert len(trainer._loader(ten, shuffle=True)) == 3  # 4 + 4 + 2: nothing dropped
    assert len(trainer._loader(nine, shuffle=False)) == 3  # evaluation sees every frame

"""What a round trains on and how it is judged: consensus, stratified splits fixed across
rounds, metrics against scikit-learn, entropy ranking by hand, stopping guidance at its
edges."""

from __future__ import annotations

import math
import random

import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from shared.learning.rounds import (
    NotEnoughLabelsError,
    TaskMetrics,
    check_enough,
    classification_metrics,
    consensus,
    entropy,
    rank_uncertain,
    split_examples,
    stopping_guidance,
    stratified_split,
)
from shared.learning.schema import Label, LabelSchema

SCHEMA = LabelSchema()
P, D = SCHEMA.tasks["perspective"], SCHEMA.tasks["distance"]


def label(perspective: str, distance: str) -> Label:
    return Label(classes={"perspective": perspective, "distance": distance})


def test_consensus_takes_the_majority_and_says_what_it_leaves_out():
    labels = {
        "ann": {"f1": label(P[0], D[0]), "f2": label(P[1], D[1]), "f3": Label(unusable=True),
                "f4": label(P[2], D[2]), "f5": label(P[0], D[0])},
        "ben": {"f1": label(P[0], D[0]), "f2": label(P[2], D[1]), "f3": Label(unusable=True),
                "f4": label(P[2], D[1])},
        "cat": {"f1": label(P[1], D[0]), "f3": label(P[0], D[0]), "f4": label(P[2], D[1])},
    }  # fmt: skip
    result = consensus(SCHEMA, labels)
    assert result.examples == {
        "f1": {"perspective": P[0], "distance": D[0]},  # 2 of 3 on perspective
        "f4": {"perspective": P[2], "distance": D[1]},
        "f5": {"perspective": P[0], "distance": D[0]},  # one annotator: their answer
    }
    assert result.left_out == {"f2": "annotators disagree on perspective", "f3": "unusable"}


def examples_of(count_per_joint: int, seed: int = 0) -> dict[str, dict[str, str]]:
    rng = random.Random(seed)
    out = {}
    n = 0
    for p in P:
        for d in D:
            for _ in range(count_per_joint):
                out[f"frame_{n:04d}_{rng.random():.6f}"] = {"perspective": p, "distance": d}
                n += 1
    return out


def test_the_stratified_split_is_deterministic_and_keeps_each_stratums_share():
    examples = examples_of(10)
    strata = {f: f"{e['perspective']}|{e['distance']}" for f, e in examples.items()}
    chosen, rest = stratified_split(strata, 0.2, seed=7)
    assert len(chosen) == 9 * 2  # round(0.2 * 10) from each of the 9 strata
    assert sorted(chosen + rest) == sorted(examples)
    shuffled = dict(reversed(list(strata.items())))
    assert stratified_split(shuffled, 0.2, seed=7) == (chosen, rest)
    assert stratified_split(strata, 0.2, seed=8)[0] != chosen
    # a stratum of one stays out of the chosen share; one of two gives one
    few, others = stratified_split({"a": "x", "b": "y", "c": "y"}, 0.5, seed=1)
    assert "a" in others
    assert len(few) == 1


def test_the_test_set_is_drawn_once_and_kept_across_rounds():
    round0 = examples_of(10)
    test, train, validation = split_examples(
        SCHEMA, round0, test_frames=None, test_share=0.2, validation_share=0.2, seed=3
    )
    assert not set(test) & set(train)
    assert not set(test) & set(validation)
    assert sorted(test + train + validation) == sorted(round0)
    # GIVEN more labels in round 1
    round1 = {**round0, **examples_of(6, seed=1)}
    test1, train1, validation1 = split_examples(
        SCHEMA, round1, test_frames=test, test_share=0.2, validation_share=0.2, seed=4
    )
    assert test1 == test  # fixed
    assert not set(test) & (set(train1) | set(validation1))
    assert set(train1) | set(validation1) == set(round1) - set(test)


def test_too_few_examples_of_a_class_are_named_with_every_count():
    examples = examples_of(2)
    examples = {f: e for f, e in examples.items() if e["distance"] != "far"}
    with pytest.raises(NotEnoughLabelsError) as caught:
        check_enough(SCHEMA, examples, min_per_class=5)
    message = str(caught.value)
    assert "distance.far: 0" in message
    assert "perspective.first_person: 4" in message
    assert "distance: close 6, medium 6, far 0" in message


def test_a_class_missing_from_the_test_set_is_refused():
    examples = examples_of(10)
    test = [f for f, e in examples.items() if e["perspective"] != "overhead"][:10]
    with pytest.raises(NotEnoughLabelsError, match="perspective: third_person, overhead missing"):
        split_examples(SCHEMA, examples, test_frames=test, test_share=0.2,
                       validation_share=0.2, seed=1)  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed):
    rng = random.Random(seed)
    classes = ["a", "b", "c", "d"]
    true = [rng.choice(classes) for _ in range(60)]
    predicted = [t if rng.random() < 0.6 else rng.choice(classes[:3]) for t in true]  # d rare
    ours = classification_metrics(true, predicted, classes)
    assert ours.accuracy == pytest.approx(accuracy_score(true, predicted))
    macro = f1_score(true, predicted, labels=classes, average="macro", zero_division=0)
    assert ours.macro_f1 == pytest.approx(macro)
    precision, recall, f1, support = precision_recall_fscore_support(
        true, predicted, labels=classes, zero_division=0
    )
    for i, value in enumerate(classes):
        assert ours.per_class[value].precision == pytest.approx(precision[i])
        assert ours.per_class[value].recall == pytest.approx(recall[i])
        assert ours.per_class[value].f1 == pytest.approx(f1[i])
        assert ours.per_class[value].support == support[i]
    assert ours.confusion == confusion_matrix(true, predicted, labels=classes).tolist()


def test_metrics_by_hand_with_a_class_never_predicted():
    m = classification_metrics(["a", "a", "b", "c"], ["a", "b", "b", "b"], ["a", "b", "c"])
    assert m.accuracy == 0.5
    assert m.per_class["a"].precision == 1.0
    assert m.per_class["a"].recall == 0.5
    assert m.per_class["b"].precision == pytest.approx(1 / 3)
    assert m.per_class["b"].recall == 1.0
    assert m.per_class["c"].f1 == 0.0
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    assert m.confusion == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_entropy_and_the_ranking_by_hand():
    assert entropy([1.0, 0.0, 0.0]) == 0.0
    assert entropy([0.5, 0.5]) == pytest.approx(math.log(2))
    assert entropy([1 / 3] * 3) == pytest.approx(math.log(3))
    scores = [
        ("sure", {"perspective": [0.98, 0.01, 0.01], "distance": [0.9, 0.05, 0.05]}),
        ("torn", {"perspective": [1 / 3] * 3, "distance": [1 / 3] * 3}),  # 2 ln 3 = 2.197
        ("half", {"perspective": [0.5, 0.5, 0.0], "distance": [1 / 3] * 3}),  # ln2 + ln3 = 1.792
        ("also_half", {"perspective": [0.0, 0.5, 0.5], "distance": [1 / 3] * 3}),
    ]
    ranked = rank_uncertain(scores, 3)
    assert [frame for frame, _ in ranked] == ["torn", "also_half", "half"]  # tie: by frame id
    assert ranked[0][1] == pytest.approx(2 * math.log(3))
    assert ranked[1][1] == pytest.approx(math.log(2) + math.log(3))


def metrics(accuracy: float, macro_f1: float) -> TaskMetrics:
    return TaskMetrics(accuracy=accuracy, macro_f1=macro_f1, per_class={}, confusion=[], frames=10)


def round_metrics(test_f1: float, train_acc: float = 0.9, val_acc: float = 0.85):
    return {
        "train": {t: metrics(train_acc, 0.9) for t in SCHEMA.tasks},
        "validation": {t: metrics(val_acc, 0.8) for t in SCHEMA.tasks},
        "test": {t: metrics(0.8, test_f1) for t in SCHEMA.tasks},
    }


@pytest.mark.parametrize(
    ("before", "after", "diminishing"),
    [(0.82, 0.83, False), (0.82, 0.8299, True), (0.80, 0.79, True), (0.50, 0.60, False)],
)
def test_diminishing_returns_below_one_point(before, after, diminishing):
    guidance = stopping_guidance(round_metrics(after), round_metrics(before))
    assert guidance.diminishing_returns is diminishing
    assert guidance.macro_f1_gain_points == pytest.approx((after - before) * 100)


@pytest.mark.parametrize(
    ("train", "validation", "over"), [(0.95, 0.80, False), (0.95, 0.7999, True), (0.7, 0.9, False)]
)
def test_overfitting_above_fifteen_points(train, validation, over):
    guidance = stopping_guidance(round_metrics(0.8, train, validation), None)
    assert guidance.overfitting is over
    assert guidance.macro_f1_gain_points is None
    assert not guidance.diminishing_returns
    assert any("overfitting" in line for line in guidance.advice) is over

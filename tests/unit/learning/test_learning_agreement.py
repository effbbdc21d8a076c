"""Cohen's and Fleiss' kappa against values worked out by hand (the arithmetic is in the
comments) and the textbook example, the cases where kappa cannot be computed, and the report
per task over labels (unusable labels left out)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from shared.learning.agreement import (
    agreement,
    cohen_kappa,
    fleiss_kappa,
    task_agreement,
    task_ratings,
)
from shared.learning.schema import Label, LabelSchema

SCHEMA = LabelSchema()


def pairs_to_ratings(cells: dict[tuple[str, str], int]) -> tuple[dict[str, str], dict[str, str]]:
    """Two annotators' ratings from a confusion table: (class of A, class of B) -> frames."""
    first: dict[str, str] = {}
    second: dict[str, str] = {}
    for (a, b), count in cells.items():
        for _ in range(count):
            frame_id = f"f{len(first):04d}"
            first[frame_id], second[frame_id] = a, b
    return first, second


def table_to_ratings(rows: list[list[int]], classes: list[str]) -> dict[str, dict[str, str]]:
    """Raters' ratings from a Fleiss table (frame -> count per class): frame i's ratings go to
    raters r00, r01, ... in class order (who gave which does not enter Fleiss' kappa)."""
    ratings: dict[str, dict[str, str]] = {}
    for i, row in enumerate(rows):
        given = [name for name, count in zip(classes, row, strict=True) for _ in range(count)]
        for r, name in enumerate(given):
            ratings.setdefault(f"r{r:02d}", {})[f"s{i:02d}"] = name
    return ratings


def label(perspective: str, distance: str) -> Label:
    return Label(classes={"perspective": perspective, "distance": distance})


UNUSABLE = Label(unusable=True)


# --- Cohen's kappa ---------------------------------------------------------------------------


def test_cohen_on_a_2x2_table():
    #             B yes  B no
    #   A yes       20     5    | 25
    #   A no        10    15    | 25
    #               30    20    | 50
    # p_o = (20 + 15) / 50 = 0.7
    # p_e = (25/50)(30/50) + (25/50)(20/50) = 0.30 + 0.20 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    first, second = pairs_to_ratings(
        {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}
    )
    result = cohen_kappa(first, second)
    assert result.frames == 50
    assert result.observed == pytest.approx(0.7)
    assert result.expected == pytest.approx(0.5)
    assert result.kappa == pytest.approx(0.4)
    assert result.reason is None


def test_cohen_on_a_3x3_table():
    #                  B first  B third  B overhead
    #   A first            8        2        0       | 10
    #   A third            1        9        2       | 12
    #   A overhead         1        1        6       |  8
    #                     10       12        8       | 30
    # p_o = (8 + 9 + 6) / 30 = 23/30
    # p_e = (10*10 + 12*12 + 8*8) / 30**2 = (100 + 144 + 64) / 900 = 308/900 = 77/225
    # kappa = (23/30 - 77/225) / (1 - 77/225) = (345/450 - 154/450) / (296/450) = 191/296
    #       = 0.64527...
    fp, tp, ov = "first_person", "third_person", "overhead"
    first, second = pairs_to_ratings(
        {(fp, fp): 8, (fp, tp): 2, (tp, fp): 1, (tp, tp): 9, (tp, ov): 2,
         (ov, fp): 1, (ov, tp): 1, (ov, ov): 6}
    )  # fmt: skip
    result = cohen_kappa(first, second)
    assert result.observed == pytest.approx(23 / 30)
    assert result.expected == pytest.approx(77 / 225)
    assert result.kappa == pytest.approx(191 / 296)
    assert round(result.kappa, 4) == 0.6453


def test_cohen_is_symmetric():
    first, second = pairs_to_ratings({("a", "a"): 3, ("a", "b"): 4, ("b", "b"): 2, ("c", "a"): 1})
    assert cohen_kappa(first, second) == cohen_kappa(second, first)


def test_cohen_counts_only_the_frames_both_rated():
    # the common frames: f1 a/a, f2 b/b, f3 a/b -> p_o = 2/3;
    # A: a 2, b 1; B: a 1, b 2 -> p_e = (2*1 + 1*2) / 9 = 4/9;
    # kappa = (2/3 - 4/9) / (1 - 4/9) = (2/9) / (5/9) = 0.4
    first = {"f1": "a", "f2": "b", "f3": "a", "only_a": "b", "only_a2": "b"}
    second = {"f1": "a", "f2": "b", "f3": "b", "only_b": "a"}
    result = cohen_kappa(first, second)
    assert result.frames == 3
    assert result.kappa == pytest.approx(0.4)


def test_cohen_perfect_agreement_and_perfect_disagreement():
    assert cohen_kappa({"f1": "a", "f2": "b"}, {"f1": "a", "f2": "b"}).kappa == 1.0
    # p_o = 0, p_e = (1*1 + 1*1) / 4 = 0.5 -> kappa = (0 - 0.5) / 0.5 = -1
    assert cohen_kappa({"f1": "a", "f2": "b"}, {"f1": "b", "f2": "a"}).kappa == -1.0


def test_cohen_one_frame_in_disagreement_is_zero():
    # p_o = 0; A gave only a, B only b: p_e = 1*0 + 0*1 = 0 -> kappa = 0
    result = cohen_kappa({"f1": "a"}, {"f1": "b"})
    assert (result.kappa, result.observed, result.expected) == (0.0, 0.0, 0.0)


def test_cohen_without_common_frames_is_not_computable():
    result = cohen_kappa({"f1": "a"}, {"f2": "a"})
    assert result.kappa is None
    assert result.frames == 0
    assert result.observed is None
    assert result.reason == "no frame rated by both annotators"


def test_cohen_with_one_class_only_is_undefined_with_full_raw_agreement():
    # p_e = (3/3)(3/3) = 1: kappa = (1 - 1) / (1 - 1) = 0/0
    result = cohen_kappa({f"f{i}": "close" for i in range(3)}, {f"f{i}": "close" for i in range(3)})
    assert result.kappa is None
    assert (result.observed, result.expected, result.frames) == (1.0, 1.0, 3)
    assert "chance agreement is 1" in result.reason


# --- Fleiss' kappa ---------------------------------------------------------------------------

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters each, 5 categories.
WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]
CATEGORIES = ["c1", "c2", "c3", "c4", "c5"]


def test_fleiss_on_the_textbook_example():
    # p_j = column sums / 140 = 20, 28, 39, 21, 32 / 140 = 0.143, 0.200, 0.279, 0.150, 0.229
    # P_i = (sum_j n_ij^2 - 14) / (14 * 13): 1.000, 0.253, 0.308, 0.440, 0.330, 0.462, 0.242,
    #   0.176, 0.286, 0.286 -> P-bar = 3.780 / 10 = 0.378
    # P_e = sum_j p_j^2 = 0.213 -> kappa = (0.378 - 0.213) / (1 - 0.213) = 0.210
    assert [sum(col) for col in zip(*WIKIPEDIA, strict=True)] == [20, 28, 39, 21, 32]
    ratings = table_to_ratings(WIKIPEDIA, CATEGORIES)
    assert len(ratings) == 14
    result = fleiss_kappa(ratings)
    assert result.frames == 10
    assert round(result.observed, 3) == 0.378
    assert round(result.expected, 3) == 0.213
    assert round(result.kappa, 3) == 0.210
    # exactly: P-bar = 688/1820, P_e = 4170/19600
    p_o, p_e = Fraction(688, 1820), Fraction(4170, 19600)
    assert result.kappa == pytest.approx(float((p_o - p_e) / (1 - p_e)))


def test_fleiss_with_different_numbers_of_raters_per_frame():
    # f1: a a a      r=3  sum r_k(r_k-1) = 3*2       = 6  P = 6/(3*2)  = 1
    # f2: a a        r=2                 = 2*1       = 2  P = 2/(2*1)  = 1
    # f3: a a b b    r=4                 = 2*1 + 2*1 = 4  P = 4/(4*3)  = 1/3
    # f4: b          r=1: says nothing about agreement, left out
    # p_o = (1 + 1 + 1/3) / 3 = 7/9
    # pi_a = (3/3 + 2/2 + 2/4) / 3 = 5/6, pi_b = (0 + 0 + 2/4) / 3 = 1/6
    # p_e = 25/36 + 1/36 = 13/18 -> kappa = (7/9 - 13/18) / (1 - 13/18) = (1/18) / (5/18) = 0.2
    ratings = {
        "r1": {"f1": "a", "f2": "a", "f3": "a"},
        "r2": {"f1": "a", "f3": "a", "f4": "b"},
        "r3": {"f1": "a", "f3": "b"},
        "r4": {"f2": "a", "f3": "b"},
    }
    result = fleiss_kappa(ratings)
    assert result.frames == 3
    assert result.observed == pytest.approx(7 / 9)
    assert result.expected == pytest.approx(13 / 18)
    assert result.kappa == pytest.approx(0.2)
    del ratings["r2"]["f4"]
    assert fleiss_kappa(ratings) == result


def test_fleiss_with_equal_raters_does_not_depend_on_who_rated_what():
    ratings = table_to_ratings(WIKIPEDIA, CATEGORIES)
    # frame s05 (7 c1, 7 c2) given the other way round by the same raters
    for rated in ratings.values():
        rated["s05"] = {"c1": "c2", "c2": "c1"}[rated["s05"]]
    assert round(fleiss_kappa(ratings).kappa, 3) == 0.210


def test_fleiss_without_a_frame_rated_twice_is_not_computable():
    result = fleiss_kappa({"r1": {"f1": "a"}, "r2": {"f2": "a"}, "r3": {"f3": "b"}})
    assert result.kappa is None
    assert result.frames == 0
    assert result.reason == "no frame rated by two or more annotators"


def test_fleiss_with_one_class_only_is_undefined_with_full_raw_agreement():
    result = fleiss_kappa({f"r{r}": {"f1": "far", "f2": "far"} for r in range(3)})
    assert result.kappa is None
    assert (result.observed, result.expected, result.frames) == (1.0, 1.0, 2)
    assert "chance agreement is 1" in result.reason


def test_fleiss_perfect_agreement_is_one():
    result = fleiss_kappa({f"r{r}": {"f1": "a", "f2": "b", "f3": "a"} for r in range(4)})
    assert result.kappa == 1.0


# --- per task, over labels -------------------------------------------------------------------


def test_unusable_labels_are_left_out_of_every_task():
    labels = {
        "alice": {"f1": label("overhead", "far"), "f2": label("overhead", "close"), "f3": UNUSABLE},
        "bob": {"f1": label("overhead", "far"), "f2": label("first_person", "close"),
                "f3": label("overhead", "far")},
    }  # fmt: skip
    assert task_ratings(labels, "distance") == {
        "alice": {"f1": "far", "f2": "close"},
        "bob": {"f1": "far", "f2": "close", "f3": "far"},
    }
    report = agreement(SCHEMA, labels)
    assert list(report) == ["perspective", "distance"]
    distance = report["distance"].pairwise[("alice", "bob")]
    assert distance.frames == 2
    assert distance.kappa == 1.0
    # perspective on f1, f2: p_o = 1/2; alice overhead 2, bob overhead 1 and first_person 1:
    # p_e = (2*1 + 0*1) / 4 = 1/2 -> kappa = 0
    perspective = report["perspective"].pairwise[("alice", "bob")]
    assert (perspective.frames, perspective.kappa) == (2, 0.0)


def test_every_pair_gets_cohen_and_fleiss_needs_three_annotators():
    two = {
        "bob": {"f1": label("overhead", "far"), "f2": label("first_person", "close")},
        "alice": {"f1": label("overhead", "far"), "f2": label("first_person", "far")},
    }
    result = task_agreement(SCHEMA, two, "distance")
    assert list(result.pairwise) == [("alice", "bob")]
    assert result.fleiss.kappa is None
    assert "3 or more annotators" in result.fleiss.reason
    three = {**two, "chen": {"f1": label("overhead", "far"), "f3": label("overhead", "close")}}
    result = task_agreement(SCHEMA, three, "distance")
    assert list(result.pairwise) == [("alice", "bob"), ("alice", "chen"), ("bob", "chen")]
    assert result.pairwise[("alice", "chen")].frames == 1
    assert result.pairwise[("bob", "chen")].frames == 1
    # f1: far x3 -> P = 1; f2: far, close -> P = 0 (f3: chen alone, left out); p_o = 1/2
    # pi_far = (3/3 + 1/2) / 2 = 3/4, pi_close = (0 + 1/2) / 2 = 1/4 -> p_e = 10/16 = 5/8
    # kappa = (1/2 - 5/8) / (3/8) = -1/3
    assert result.fleiss.frames == 2
    assert result.fleiss.kappa == pytest.approx(-1 / 3)


def test_an_annotator_with_only_unusable_labels_is_in_no_pair():
    labels = {
        "alice": {"f1": label("overhead", "far")},
        "bob": {"f1": label("overhead", "close")},
        "dana": {"f1": UNUSABLE},
    }
    result = task_agreement(SCHEMA, labels, "perspective")
    assert list(result.pairwise) == [("alice", "bob")]
    assert "2 here" in result.fleiss.reason


def test_a_pair_without_common_frames_says_so():
    labels = {"alice": {"f1": label("overhead", "far")}, "bob": {"f2": label("overhead", "far")}}
    result = task_agreement(SCHEMA, labels, "perspective").pairwise[("alice", "bob")]
    assert result.kappa is None
    assert result.reason == "no frame rated by both annotators"


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task 'angle'"):
        task_agreement(SCHEMA, {}, "angle")

"""The balance of a set and its action plan, against hand-computed expectations (the default
65/20/15 % of 20 images, +-10 points, is 13/4/3), and a property test: applying any plan
leaves every category at its final count."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.trainsets.plan import ActionPlan, Distribution, Verdict, balance, plan
from shared.trainsets.settings import DEFAULT_DISTRIBUTION

PHOTO, BW, COLOUR = "photorealistic", "bw_stylized", "color_stylized"


def make_verdicts(*groups: tuple[str, list[int]], prefix: str = "img") -> list[Verdict]:
    """Verdicts numbered 1.. in order: ``(category, [quality, ...])`` per group, files
    ``<prefix>01.png``, ``<prefix>02.png``, ..."""
    verdicts = []
    for category, qualities in groups:
        for quality in qualities:
            number = len(verdicts) + 1
            verdicts.append(
                Verdict(number=number, file=f"{prefix}{number:02d}.png", category=category,
                        quality=quality, reason="looks like it")
            )  # fmt: skip
    return verdicts


def with_files(category: str, pairs: list[tuple[str, int]], start: int = 1) -> list[Verdict]:
    """Verdicts of one category with the given ``(file, quality)`` pairs."""
    return [
        Verdict(number=start + i, file=file, category=category, quality=quality)
        for i, (file, quality) in enumerate(pairs)
    ]


def apply(verdicts: list[Verdict], actions: ActionPlan) -> dict[str, int]:
    """Category counts after deleting and generating what the plan says."""
    counts: dict[str, int] = {}
    for verdict in verdicts:
        if verdict.file not in actions.delete:
            counts[verdict.category] = counts.get(verdict.category, 0) + 1
    for category, extra in actions.generate.items():
        counts[category] = counts.get(category, 0) + extra
    return {name: count for name, count in counts.items() if count}


# --- target counts ---------------------------------------------------------------------------


def test_target_counts_of_the_default_distribution():
    assert DEFAULT_DISTRIBUTION.target_counts() == {PHOTO: 13, BW: 4, COLOUR: 3}


def test_target_counts_use_largest_remainders():
    # 65/20/15 % of 7: quotas 4.55 / 1.4 / 1.05 -> floors 4/1/1, the one left to .55
    seven = DEFAULT_DISTRIBUTION.model_copy(update={"set_size": 7})
    assert seven.target_counts() == {PHOTO: 5, BW: 1, COLOUR: 1}
    # 50/50 of 3: quotas 1.5 / 1.5; rounding each would give 2 + 2 = 4
    halves = Distribution(categories={"a": "A", "b": "B"}, target={"a": 0.5, "b": 0.5},
                          set_size=3)  # fmt: skip
    assert halves.target_counts() == {"a": 2, "b": 1}


def test_equal_remainders_go_to_the_category_listed_first():
    # 20/20/20/40 % of 2: quotas .4 .4 .4 .8 -> d takes the first one left, then a 3-way tie
    shares = {"d": 0.4, "b": 0.2, "a": 0.2, "c": 0.2}  # the target's order does not count
    first = Distribution(categories={"a": "A", "b": "B", "c": "C", "d": "D"}, target=shares,
                         set_size=2)  # fmt: skip
    assert first.target_counts() == {"a": 1, "b": 0, "c": 0, "d": 1}
    reordered = Distribution(categories={"c": "C", "b": "B", "a": "A", "d": "D"}, target=shares,
                             set_size=2)  # fmt: skip
    assert reordered.target_counts() == {"c": 1, "b": 0, "a": 0, "d": 1}
    assert list(reordered.target_counts()) == ["c", "b", "a", "d"]


# --- distribution validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target": {PHOTO: 0.60, BW: 0.20, COLOUR: 0.15}}, "sum to 0.95, not 1"),
        ({"target": {PHOTO: 0.65, BW: 0.35}}, "no share for color_stylized"),
        ({"target": {PHOTO: 0.65, BW: 0.20, COLOUR: 0.10, "sepia": 0.05}},
         "shares for unknown categories sepia"),
        ({"target": {PHOTO: 1.2, BW: -0.2, COLOUR: 0.0}}, "photorealistic: share 1.2 is not"),
        ({"categories": {}, "target": {}}, "at least one category"),
        ({"categories": {"Photo": "x"}, "target": {"Photo": 1.0}}, "invalid name 'Photo'"),
        ({"categories": {PHOTO: " ", BW: "b", COLOUR: "c"}}, "photorealistic: empty description"),
        ({"set_size": 0}, "set_size"),
        ({"set_size": 1001}, "set_size"),
        ({"tolerance": 1.5}, "tolerance"),
        ({"min_quality": 11}, "min_quality"),
        ({"min_quality": 0}, "min_quality"),
        ({"tolerence": 0.2}, "tolerence"),  # a typo in the JSON is refused, not ignored
    ],
)  # fmt: skip
def test_a_distribution_refuses_inconsistent_targets(changes, message):
    fields = DEFAULT_DISTRIBUTION.model_dump() | changes
    with pytest.raises(ValidationError, match=message):
        Distribution(**fields)


def test_shares_may_miss_one_by_float_noise_only():
    thirds = {"a": 0.3333333, "b": 0.3333333, "c": 0.3333334}
    Distribution(categories={"a": "A", "b": "B", "c": "C"}, target=thirds)
    with pytest.raises(ValidationError, match="sum to"):
        Distribution(categories={"a": "A", "b": "B"}, target={"a": 0.5, "b": 0.49999})


# --- balance ---------------------------------------------------------------------------------


def test_an_unbalanced_set_loses_its_worst_surplus_and_gains_what_is_missing():
    # GIVEN the default 20-image set with 18 photorealistic, 1 bw, 1 colour images
    photo = [9, 8, 7, 3, 9, 2, 8, 5, 9, 1, 8, 7, 4, 9, 8, 7, 9, 6]  # img01..img18
    verdicts = make_verdicts((PHOTO, photo), (BW, [8]), (COLOUR, [7]))

    # WHEN it is planned
    mix, actions = plan(verdicts, DEFAULT_DISTRIBUTION)

    # THEN it is 90/5/5 %, unbalanced; the 5 lowest photorealistic go, 3 bw and 2 colour come
    assert mix.counts == {PHOTO: 18, BW: 1, COLOUR: 1}
    assert mix.total == 20
    assert mix.percentages == {PHOTO: 90.0, BW: 5.0, COLOUR: 5.0}
    assert mix.deviations == {PHOTO: 25.0, BW: -15.0, COLOUR: -10.0}
    assert not mix.balanced
    assert actions.delete == ["img10.png", "img06.png", "img04.png", "img13.png", "img08.png"]
    assert actions.generate == {BW: 3, COLOUR: 2}
    assert actions.reasons == {
        "img10.png": "surplus in photorealistic (quality 1)",
        "img06.png": "surplus in photorealistic (quality 2)",
        "img04.png": "surplus in photorealistic (quality 3)",
        "img13.png": "surplus in photorealistic (quality 4)",
        "img08.png": "surplus in photorealistic (quality 5)",
    }
    assert apply(verdicts, actions) == {PHOTO: 13, BW: 4, COLOUR: 3}


@pytest.mark.parametrize(
    ("counts", "balanced"),
    [
        ((11, 5, 4), True),  # 55 % photorealistic: exactly 10 points under 65 %
        ((10, 6, 4), False),  # 50 %: one image beyond
        ((15, 3, 2), True),  # 75 %: exactly 10 points over
        ((16, 2, 2), False),  # 80 %: one image beyond
        ((15, 2, 3), True),  # 75 % and bw 10 %: both exactly on the edge
        ((13, 1, 6), False),  # bw 5 %: 15 points under
    ],
)
def test_exactly_the_tolerance_is_balanced(counts, balanced):
    verdicts = make_verdicts(*zip((PHOTO, BW, COLOUR), ([7] * n for n in counts), strict=True))

    mix, actions = plan(verdicts, DEFAULT_DISTRIBUTION)

    assert mix.balanced is balanced
    assert actions.empty is balanced
    kept = dict(zip((PHOTO, BW, COLOUR), counts, strict=True))
    assert apply(verdicts, actions) == (kept if balanced else {PHOTO: 13, BW: 4, COLOUR: 3})


def test_the_edges_are_exact_on_both_sides():
    mix = balance(make_verdicts((PHOTO, [7] * 11), (BW, [7] * 5), (COLOUR, [7] * 4)),
                  DEFAULT_DISTRIBUTION)  # fmt: skip
    assert mix.deviations == {PHOTO: -10.0, BW: 5.0, COLOUR: 5.0}
    assert mix.balanced
    under = balance(make_verdicts((PHOTO, [7] * 10), (BW, [7] * 6), (COLOUR, [7] * 4)),
                    DEFAULT_DISTRIBUTION)  # fmt: skip
    assert under.deviations == {PHOTO: -15.0, BW: 10.0, COLOUR: 5.0}
    assert not under.balanced


@pytest.mark.parametrize(
    ("shares", "counts", "beyond"),
    [
        ((0.55, 0.45), (9, 11), (8, 12)),  # 45 % / 55 %: 10 points off each way
        ((0.70, 0.30), (16, 4), (17, 3)),  # 80 % / 20 %
        ((0.40, 0.60), (6, 14), (5, 15)),  # 30 % / 70 %
    ],
)
def test_the_edge_holds_where_float_arithmetic_would_miss_it(shares, counts, beyond):
    # in floats |9/20 - 0.55| is 0.10000000000000003 and |0.8 - 0.7| is 0.10000000000000009
    distribution = Distribution(categories={"a": "A", "b": "B"},
                                target=dict(zip("ab", shares, strict=True)))  # fmt: skip
    verdicts = make_verdicts(("a", [7] * counts[0]), ("b", [7] * counts[1]))

    mix, actions = plan(verdicts, distribution)

    assert mix.balanced
    assert actions.empty
    one_more = make_verdicts(("a", [7] * beyond[0]), ("b", [7] * beyond[1]))
    assert not balance(one_more, distribution).balanced


def test_a_small_unbalanced_set_gets_generations_only():
    verdicts = make_verdicts((PHOTO, [6, 7, 8, 9, 5, 6, 7, 8]))  # 8 images, all photorealistic

    mix, actions = plan(verdicts, DEFAULT_DISTRIBUTION)

    assert mix.counts == {PHOTO: 8, BW: 0, COLOUR: 0}
    assert mix.percentages == {PHOTO: 100.0, BW: 0.0, COLOUR: 0.0}
    assert actions.delete == []
    assert actions.generate == {PHOTO: 5, BW: 4, COLOUR: 3}


def test_a_small_balanced_set_is_left_as_it_is():
    # 5/2/1 of 8 is 62.5/25/12.5 %: within the tolerance whatever the set's size
    verdicts = make_verdicts((PHOTO, [7] * 5), (BW, [7] * 2), (COLOUR, [7]))

    mix, actions = plan(verdicts, DEFAULT_DISTRIBUTION)

    assert mix.balanced
    assert mix.percentages == {PHOTO: 62.5, BW: 25.0, COLOUR: 12.5}
    assert actions == ActionPlan()


def test_a_large_unbalanced_set_is_brought_down_to_the_target_counts():
    # 26 images, 20/3/3: 76.9 % photorealistic, 11.9 points over
    photo = [8] * 13 + [2, 6, 3, 5, 4, 1, 7]  # img14..img20 are the 7 worst
    verdicts = make_verdicts((PHOTO, photo), (BW, [9, 9, 9]), (COLOUR, [2, 9, 9]))

    mix, actions = plan(verdicts, DEFAULT_DISTRIBUTION)

    assert mix.percentages == {PHOTO: 76.9, BW: 11.5, COLOUR: 11.5}
    assert mix.deviations == {PHOTO: 11.9, BW: -8.5, COLOUR: -3.5}
    assert actions.delete == [f"img{n}.png" for n in (19, 14, 16, 18, 17, 15, 20)]
    assert actions.generate == {BW: 1}  # colour holds its 3; its weak image stays
    assert apply(verdicts, actions) == {PHOTO: 13, BW: 4, COLOUR: 3}


def test_equal_scores_delete_the_later_file_first_in_natural_order():
    # 16/2/2: 3 photorealistic too many; p5 is the worst, then four tie at quality 3
    photo = with_files(PHOTO, [("p5.png", 1), ("p1.png", 3), ("p2.png", 3), ("p10.png", 3),
                               ("p9.png", 3)] + [(f"q{i}.png", 8) for i in range(11)])  # fmt: skip
    others = with_files(BW, [("b1.png", 7), ("b2.png", 7)], start=17) + with_files(
        COLOUR, [("c1.png", 7), ("c2.png", 7)], start=19
    )
    verdicts = photo + others

    _, actions = plan(verdicts, DEFAULT_DISTRIBUTION)

    # p10 is later than p9 by value (as text "p9" > "p2" > "p10")
    assert actions.delete == ["p5.png", "p10.png", "p9.png"]
    shuffled = verdicts.copy()
    random.Random(7).shuffle(shuffled)
    assert plan(shuffled, DEFAULT_DISTRIBUTION)[1] == actions


def test_min_quality_replaces_weak_images_of_a_balanced_set():
    distribution = DEFAULT_DISTRIBUTION.model_copy(update={"min_quality": 4})
    verdicts = make_verdicts((PHOTO, [8, 2, 9, 3, 4, 8, 8, 8, 8, 8, 8, 8, 8]), (BW, [1, 8, 8, 8]),
                             (COLOUR, [4, 5, 6]))  # fmt: skip

    mix, actions = plan(verdicts, distribution)

    assert mix.balanced
    assert actions.delete == ["img02.png", "img04.png", "img14.png"]  # 4 is not under 4
    assert actions.generate == {PHOTO: 2, BW: 1}
    assert actions.reasons == {
        "img02.png": "quality 2 under the minimum 4",
        "img04.png": "quality 3 under the minimum 4",
        "img14.png": "quality 1 under the minimum 4",
    }
    assert apply(verdicts, actions) == {PHOTO: 13, BW: 4, COLOUR: 3}


def test_weak_images_of_a_category_over_target_count_towards_its_surplus():
    distribution = DEFAULT_DISTRIBUTION.model_copy(update={"min_quality": 4})
    # 16/2/2: 3 photorealistic too many, 5 under the minimum -> 5 go, 2 are replaced
    photo = [1, 2, 3, 3, 2] + [8] * 11
    verdicts = make_verdicts((PHOTO, photo), (BW, [3, 9]), (COLOUR, [9, 9]))

    _, actions = plan(verdicts, distribution)

    assert actions.delete == ["img01.png", "img05.png", "img02.png", "img04.png", "img03.png",
                              "img17.png"]  # fmt: skip
    assert actions.reasons == {
        "img01.png": "surplus in photorealistic (quality 1, under the minimum 4)",
        "img05.png": "surplus in photorealistic (quality 2, under the minimum 4)",
        "img02.png": "surplus in photorealistic (quality 2, under the minimum 4)",
        "img04.png": "quality 3 under the minimum 4",
        "img03.png": "quality 3 under the minimum 4",
        "img17.png": "quality 3 under the minimum 4",
    }
    assert actions.generate == {PHOTO: 2, BW: 3, COLOUR: 1}
    assert apply(verdicts, actions) == {PHOTO: 13, BW: 4, COLOUR: 3}


def test_a_surplus_larger_than_the_weak_images_deletes_good_ones_too():
    distribution = DEFAULT_DISTRIBUTION.model_copy(update={"min_quality": 4})
    verdicts = make_verdicts((PHOTO, [2] + [8] * 14 + [6]), (BW, [9, 9]), (COLOUR, [9, 9]))

    _, actions = plan(verdicts, distribution)

    assert actions.delete == ["img01.png", "img16.png", "img15.png"]
    assert actions.reasons == {
        "img01.png": "surplus in photorealistic (quality 2, under the minimum 4)",
        "img16.png": "surplus in photorealistic (quality 6)",
        "img15.png": "surplus in photorealistic (quality 8)",
    }
    assert actions.generate == {BW: 2, COLOUR: 1}


def test_an_empty_set_is_not_balanced_and_is_generated_whole():
    mix, actions = plan([], DEFAULT_DISTRIBUTION)

    assert mix.counts == {PHOTO: 0, BW: 0, COLOUR: 0}
    assert mix.total == 0
    assert mix.percentages == {PHOTO: 0.0, BW: 0.0, COLOUR: 0.0}
    assert not mix.balanced
    assert actions.delete == []
    assert actions.generate == {PHOTO: 13, BW: 4, COLOUR: 3}
    # even where any mix would be within the tolerance
    anything = DEFAULT_DISTRIBUTION.model_copy(update={"tolerance": 1.0})
    assert not balance([], anything).balanced
    assert not balance(make_verdicts((BW, [5] * 20)), DEFAULT_DISTRIBUTION).balanced
    assert balance(make_verdicts((BW, [5] * 20)), anything).balanced


def test_categories_outside_the_distribution_are_named():
    verdicts = make_verdicts((PHOTO, [8] * 13), ("sepia", [5]), ("anime", [5]))

    with pytest.raises(ValueError, match=r"outside the distribution: anime, sepia"):
        plan(verdicts, DEFAULT_DISTRIBUTION)


def test_a_file_or_number_judged_twice_is_refused():
    verdicts = make_verdicts((PHOTO, [8, 8]))
    twice = [*verdicts, verdicts[0].model_copy(update={"number": 3})]
    with pytest.raises(ValueError, match=r"repeat the file img01\.png"):
        plan(twice, DEFAULT_DISTRIBUTION)
    renumbered = [*verdicts, verdicts[0].model_copy(update={"file": "other.png"})]
    with pytest.raises(ValueError, match="repeat the number 1"):
        plan(renumbered, DEFAULT_DISTRIBUTION)


def test_a_verdict_checks_its_score_and_number():
    with pytest.raises(ValidationError, match="quality"):
        Verdict(number=1, file="a.png", category=PHOTO, quality=11)
    with pytest.raises(ValidationError, match="number"):
        Verdict(number=0, file="a.png", category=PHOTO, quality=5)


# --- property: the plan reaches its counts ---------------------------------------------------


@st.composite
def distributions(draw: st.DrawFn) -> Distribution:
    names = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4, unique=True))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=len(names) - 1,
                                max_size=len(names) - 1)))  # fmt: skip
    percents = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    return Distribution(
        categories={name: f"style {name}" for name in names},
        target={name: p / 100 for name, p in zip(names, percents, strict=True)},
        set_size=draw(st.integers(1, 40)),
        tolerance=draw(st.sampled_from([0.0, 0.05, 0.1, 0.25])),
        min_quality=draw(st.none() | st.integers(1, 10)),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_applying_a_plan_reaches_the_final_counts(data):
    distribution = data.draw(distributions())
    judged = data.draw(st.lists(st.tuples(st.sampled_from(list(distribution.categories)),
                                          st.integers(1, 10)), max_size=50))  # fmt: skip
    verdicts = [
        Verdict(number=i + 1, file=f"f{i % 7}-{i}.png", category=c, quality=q)
        for i, (c, q) in enumerate(judged)
    ]

    mix, actions = plan(verdicts, distribution)

    final = mix.counts if mix.balanced else distribution.target_counts()
    assert apply(verdicts, actions) == {k: v for k, v in final.items() if v}
    assert len(set(actions.delete)) == len(actions.delete)
    assert set(actions.reasons) == set(actions.delete)
    assert all(count > 0 for count in actions.generate.values())
    minimum = distribution.min_quality
    for verdict in verdicts:
        if minimum is not None and verdict.quality < minimum:
            assert verdict.file in actions.delete
    for category in distribution.categories:
        members = [v for v in verdicts if v.category == category]
        gone = [v.quality for v in members if v.file in actions.delete]
        kept = [v.quality for v in members if v.file not in actions.delete]
        assert not gone or not kept or max(gone) <= min(kept)

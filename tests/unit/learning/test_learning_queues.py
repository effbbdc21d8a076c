"""Per-annotator queues: the rule of the module docstring checked against digests computed
here with ``hashlib``, and its promises (deterministic, different per annotator, stable when
frames are added, active-learning frames first and once, overlap frames early and shared,
where to resume)."""

from __future__ import annotations

import hashlib
import random

import pytest

from shared.learning.queues import (
    ActiveQueue,
    _by_keys,
    annotator_seed,
    in_overlap,
    queue_for,
    resume_position,
)

SALT = "campaign-1"


def frame_ids(batch: int, count: int) -> list[str]:
    return [f"clip_{batch:03d}/{ms:06d}" for ms in range(0, 500 * count, 500)]


def frames_of(*sizes: int) -> dict[str, int]:
    """Frame id -> batch: ``sizes[b]`` frames in batch ``b``."""
    return {f: batch for batch, size in enumerate(sizes) for f in frame_ids(batch, size)}


def md5(data: str | bytes) -> bytes:
    return hashlib.md5(data.encode() if isinstance(data, str) else data).digest()


def own_order(annotator: str, ids: list[str], salt: str = SALT) -> list[str]:
    """The rule written out: increasing md5(md5(annotator NUL salt) + id), then id."""
    seed = md5(f"{annotator}\0{salt}")
    return sorted(ids, key=lambda frame_id: (md5(seed + frame_id.encode()), frame_id))


def overlap_order(ids: list[str], share: float, salt: str = SALT) -> list[str]:
    """The overlap frames written out: first 8 bytes of md5(salt + id) below share * 2**64,
    in increasing md5(salt + id)."""
    picked = [f for f in ids if int.from_bytes(md5(salt + f)[:8], "big") < share * 2**64]
    return sorted(picked, key=lambda frame_id: md5(salt + frame_id))


# --- the order of one annotator ----------------------------------------------------------------


def test_one_batch_is_in_the_annotators_own_digest_order():
    frames = frames_of(300)
    queue = queue_for("alice", frames, salt=SALT)
    assert queue == own_order("alice", list(frames))
    assert annotator_seed("alice", SALT) == md5(f"alice\0{SALT}")


def test_the_queue_is_deterministic_and_ignores_the_order_frames_come_in():
    frames = frames_of(200, 150, 50)
    shuffled = list(frames.items())
    random.Random(7).shuffle(shuffled)
    first = queue_for("alice", frames, salt=SALT, overlap_share=0.2)
    assert queue_for("alice", frames, salt=SALT, overlap_share=0.2) == first
    assert queue_for("alice", dict(shuffled), salt=SALT, overlap_share=0.2) == first


def test_every_frame_comes_once():
    frames = frames_of(200, 150, 50)
    queue = queue_for("alice", frames, salt=SALT, overlap_share=0.3)
    assert len(queue) == len(frames)
    assert set(queue) == set(frames)


def test_two_annotators_get_different_orders_with_the_same_salt():
    frames = frames_of(1000)
    alice = queue_for("alice", frames, salt=SALT)
    bob = queue_for("bob", frames, salt=SALT)
    assert alice != bob
    assert bob == own_order("bob", list(frames))
    # independent orders: their first 100 frames share about 100 * 100 / 1000 = 10
    assert len(set(alice[:100]) & set(bob[:100])) < 30


def test_another_salt_gives_another_order():
    frames = frames_of(300)
    assert queue_for("alice", frames, salt="a") != queue_for("alice", frames, salt="b")


def test_the_seed_separates_annotator_and_salt():
    # "ab" + "c" and "a" + "bc" would be the same text without the NUL between them
    assert annotator_seed("ab", "c") != annotator_seed("a", "bc")
    frames = frames_of(100)
    assert queue_for("ab", frames, salt="c") != queue_for("a", frames, salt="bc")


def test_batches_come_in_increasing_order_each_in_its_own_order():
    frames = {**frames_of(0, 0, 0, 40), **{f"late/{n}": 1 for n in range(30)}}
    frames.update({f"early/{n}": -5 for n in range(20)})
    queue = queue_for("alice", frames, salt=SALT)
    early = [f for f in frames if frames[f] == -5]
    late = [f for f in frames if frames[f] == 1]
    last = [f for f in frames if frames[f] == 3]
    assert queue == own_order("alice", early) + own_order("alice", late) + own_order("alice", last)


def test_no_frames_give_an_empty_queue():
    assert queue_for("alice", {}, salt=SALT, overlap_share=0.5) == []
    assert resume_position([], set()) == 0


# --- stability as frames are added -------------------------------------------------------------


def test_a_new_batch_leaves_every_earlier_frame_where_it_was():
    before = frames_of(120, 80)
    after = {**before, **frames_of(0, 0, 90)}
    active = ActiveQueue(version="m1", frame_ids=(frame_ids(1, 80)[5], frame_ids(0, 120)[7]))
    for share in (0.0, 0.25):
        old = queue_for("alice", before, salt=SALT, overlap_share=share, active=active)
        new = queue_for("alice", after, salt=SALT, overlap_share=share, active=active)
        assert new[: len(old)] == old
        assert set(new[len(old) :]) == set(frame_ids(2, 90))


def test_frames_added_to_an_existing_batch_keep_the_others_in_their_order():
    before = frames_of(120, 80)
    after = {**before, **{f"clip_000/extra_{n}": 0 for n in range(40)}}
    for share in (0.0, 0.25):
        old = queue_for("alice", before, salt=SALT, overlap_share=share)
        new = queue_for("alice", after, salt=SALT, overlap_share=share)
        assert new[: len(old)] != old  # the new frames fall among the old ones...
        kept = [f for f in new if f in before]
        for part in (True, False):  # ...the overlap frames and the others keep their order
            inside = [f for f in old if in_overlap(f, salt=SALT, overlap_share=share) == part]
            assert [f for f in kept if f in set(inside)] == inside
    plain = queue_for("alice", before, salt=SALT)
    assert [f for f in queue_for("alice", after, salt=SALT) if f in before] == plain


def test_raising_the_share_keeps_the_old_overlap_frames_in_order_before_the_new():
    frames = frames_of(400)
    small = overlap_order(list(frames), 0.1)
    larger = overlap_order(list(frames), 0.3)
    queue = queue_for("alice", frames, salt=SALT, overlap_share=0.3)
    assert 0 < len(small) < len(larger)
    assert larger[: len(small)] == small
    assert [f for f in queue if f in set(larger)] == larger


# --- active learning ---------------------------------------------------------------------------


def test_the_active_queue_comes_first_in_its_own_order_and_never_again():
    frames = frames_of(100, 100)
    wanted = [frame_ids(1, 100)[9], frame_ids(0, 100)[42], frame_ids(1, 100)[0]]
    active = ActiveQueue(version="model-7", frame_ids=tuple(wanted))
    queue = queue_for("alice", frames, salt=SALT, overlap_share=0.2, active=active)
    assert queue[:3] == wanted
    assert len(queue) == len(frames)
    assert set(queue) == set(frames)
    # the rest: the queue without the active queue, those frames taken out (the overlap
    # frames and the others each in their order)
    plain = queue_for("alice", frames, salt=SALT, overlap_share=0.2)
    for part in (True, False):
        inside = {f for f in frames if in_overlap(f, salt=SALT, overlap_share=0.2) == part}
        assert [f for f in queue[3:] if f in inside] == [
            f for f in plain if f in inside and f not in wanted
        ]


def test_the_active_queue_is_the_same_for_every_annotator_and_ignores_unknown_ids():
    frames = frames_of(100)
    known = frame_ids(0, 100)
    active = ActiveQueue(version="2", frame_ids=("gone/1", known[3], known[3], "gone/2", known[1]))
    alice = queue_for("alice", frames, salt=SALT, active=active)
    bob = queue_for("bob", frames, salt=SALT, active=active)
    assert alice[:2] == bob[:2] == [known[3], known[1]]
    assert alice[2:] != bob[2:]
    assert len(alice) == len(bob) == 100


def test_an_active_overlap_frame_is_not_shown_again_in_the_overlap():
    frames = frames_of(200)
    shared = overlap_order(list(frames), 0.2)
    active = ActiveQueue(version="1", frame_ids=(shared[1],))
    queue = queue_for("alice", frames, salt=SALT, overlap_share=0.2, active=active)
    assert queue[0] == shared[1]
    assert [f for f in queue[1:] if f in set(shared)] == [shared[0], *shared[2:]]
    assert queue.count(shared[1]) == 1


def test_an_active_queue_needs_a_version():
    with pytest.raises(ValueError, match="version"):
        ActiveQueue(version="", frame_ids=("a",))


# --- the overlap -------------------------------------------------------------------------------


def spread(shared: list[str], own: list[str]) -> list[str]:
    """The interleaving written out: shared frame j at floor((2j + 1) n / 2k)."""
    n, k = len(shared) + len(own), len(shared)
    slots = {(2 * j + 1) * n // (2 * k): f for j, f in enumerate(shared)} if k else {}
    rest = iter(own)
    return [slots[p] if p in slots else next(rest) for p in range(n)]


def test_overlap_frames_are_spread_through_each_batch_in_the_same_order_for_everyone():
    frames = frames_of(300, 200)
    batch0, batch1 = frame_ids(0, 300), frame_ids(1, 200)
    shared0, shared1 = overlap_order(batch0, 0.1), overlap_order(batch1, 0.1)
    assert shared0
    assert shared1
    queues = {
        name: queue_for(name, frames, salt=SALT, overlap_share=0.1)
        for name in ("alice", "bob", "chen")
    }
    for name, queue in queues.items():
        rest0 = own_order(name, [f for f in batch0 if f not in shared0])
        rest1 = own_order(name, [f for f in batch1 if f not in shared1])
        assert queue == spread(shared0, rest0) + spread(shared1, rest1)
        # about every tenth frame of the first batch is shared, from the start on
        first = [in_overlap(f, salt=SALT, overlap_share=0.1) for f in queue[:300]]
        assert 1 <= sum(first[:60]) <= 12
        assert first.index(True) < 30
    assert queues["alice"] != queues["bob"]
    assert all(in_overlap(f, salt=SALT, overlap_share=0.1) for f in shared0 + shared1)
    assert not any(in_overlap(f, salt=SALT, overlap_share=0.1) for f in rest0 + rest1)


def test_the_overlap_is_about_the_share_of_the_frames():
    ids = frame_ids(0, 5000)
    picked = sum(in_overlap(f, salt=SALT, overlap_share=0.1) for f in ids)
    assert 400 < picked < 600


def test_no_overlap_shares_no_prefix_and_a_full_overlap_is_one_queue():
    frames = frames_of(300)
    assert queue_for("alice", frames, salt=SALT)[:5] != queue_for("bob", frames, salt=SALT)[:5]
    full = queue_for("alice", frames, salt=SALT, overlap_share=1.0)
    assert full == queue_for("bob", frames, salt=SALT, overlap_share=1.0)
    assert full == overlap_order(list(frames), 1.0)


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_the_share_is_between_0_and_1(share):
    with pytest.raises(ValueError, match="overlap_share"):
        queue_for("alice", frames_of(10), salt=SALT, overlap_share=share)
    with pytest.raises(ValueError, match="overlap_share"):
        in_overlap("f", salt=SALT, overlap_share=share)


@pytest.mark.parametrize("annotator", ["", "a\0b"])
def test_an_annotator_is_a_non_empty_name_without_nul(annotator):
    with pytest.raises(ValueError, match="annotator"):
        queue_for(annotator, frames_of(10), salt=SALT)


# --- equal float keys --------------------------------------------------------------------------


def test_keys_that_round_equal_are_sorted_exactly_by_digest_then_id():
    # the float keys of b and a tie, so the fast sort cannot tell them apart: the exact order
    # (digest, then id) decides, whatever order they come in
    members = ["b", "a", "c", "d"]
    keys = [2.0, 2.0, 1.0, 3.0]
    digests = [b"\x02", b"\x02", b"\x01", b"\x03"]
    assert _by_keys(members, keys, lambda: digests) == ["c", "a", "b", "d"]
    digests = [b"\x02\x00", b"\x02\x01", b"\x01", b"\x03"]
    assert _by_keys(members, keys, lambda: digests) == ["c", "b", "a", "d"]


# --- where to resume ---------------------------------------------------------------------------


def test_resume_at_the_first_frame_not_labelled():
    queue = ["f1", "f2", "f3", "f4", "f5"]
    assert resume_position(queue, set()) == 0
    assert resume_position(queue, {"f1", "f2"}) == 2
    assert resume_position(queue, ["f1", "f2", "f4"]) == 2  # any collection
    assert resume_position(queue, frozenset({"f2", "f3"})) == 0
    assert resume_position(queue, {"f1", "f2", "elsewhere"}) == 2
    assert resume_position(queue, set(queue)) == len(queue)


def test_resume_after_a_new_active_queue_starts_on_its_first_unlabelled_frame():
    frames = frames_of(50)
    plain = queue_for("alice", frames, salt=SALT)
    labelled = set(plain[:10])
    active = ActiveQueue(version="2", frame_ids=(plain[3], plain[30], plain[4]))
    queue = queue_for("alice", frames, salt=SALT, active=active)
    assert resume_position(queue, labelled) == 1
    assert queue[1] == plain[30]

"""Per-annotator labelling queues, computed on demand and never stored (pure).

Every annotator sees every frame, each in an order of their own, so that two annotators
working at once mostly label different frames, while a small shared part of each queue tells
how well they agree from the first day. :func:`queue_for` computes an annotator's whole queue
from the frames (a mapping frame id -> batch, so no id comes twice), a salt, the overlap share
and the active-learning queue;
nothing about a queue is stored, only the labels, so :func:`resume_position` finds where an
annotator left off.

The rule, for annotator ``a`` and salt ``s`` (strings hashed as UTF-8; ``md5(x)`` is the
16-byte digest, compared as a big-endian number):

1. **Active learning first.** The frames of the active queue (:class:`ActiveQueue`, chosen by
   the model), in its own order; ids that are not among the frames are ignored, an id listed
   twice counts once. These frames do not come again later in the queue.
2. **Then batch by batch**, in increasing batch number. A frame's batch is the batch its
   clip was sealed in when first served (``shared/learning/frames.py``), so frames added
   later come after every frame already there, while the frames of clips registered
   together are shuffled among each other: consecutive frames seldom share a clip. Within a
   batch:

   a. the **overlap frames**, the same for every annotator: those whose
      ``md5(s + id)`` has its first 8 bytes below ``overlap_share * 2**64`` (a share of 0.1
      picks about one frame in ten), in increasing ``md5(s + id)``: the same order for
      everyone, so any two annotators' first overlap labels are of the same frames;
   b. the **other frames**, in increasing ``md5(seed + id)`` where
      ``seed = md5(a + "\\0" + s)`` (the NUL keeps ``("ab", "c")`` and ``("a", "bc")``
      apart): an order of its own per annotator;
   c. the two **interleaved evenly**: with ``k`` overlap frames among ``n``, overlap frame
      ``j`` (from 0) takes position ``floor((2j + 1) * n / (2k))`` of the batch and the
      other frames fill the rest in their order. A share of 0.1 makes about every tenth
      frame of every queue an overlap frame from the first one on: agreement is known from
      the first day, while annotators working at once mostly label different frames.

   Equal digests (an MD5 collision) are ordered by frame id, so the order is total and does
   not depend on the order the frames are given in.

What follows from it:

- The queue depends only on ``(a, s)``, the frames, the share and the active queue: the
  same inputs give the same queue, and two annotators get different orders.
- **A new batch never moves the frames already there**: its frames go after all of them, so
  every earlier frame keeps its position (while the active queue is unchanged). Frames are
  therefore never added to a batch once it is served (``shared/learning/frames.py`` seals
  each batch); were one added, the overlap frames would keep their order among themselves
  and so would the others, but the interleaving would shift.
- Raising the overlap share turns more frames into overlap frames; since overlap frames are
  in digest order and the old ones have the smaller digests, the old overlap frames keep their
  order among themselves, the new ones after them.
- A change of salt or of the share, or a new active queue, gives new queues; labels are kept
  by frame, so :func:`resume_position` still finds the first frame left to label.

Speed: one MD5 per frame for the overlap test (when the share is above 0) and one for the
annotator's order (for frames outside the overlap), using CPython's built-in MD5 when it is
there (the same digests as ``hashlib.md5``, cheaper per call on short inputs), and a sort on
floating-point keys (the digest rounded to 53 bits, which orders like the digest) with an
exact re-sort of any batch where two keys round equal. A million frames take about 1.7 s on
two cores as one batch, 1.2 s in batches of 300
(``tests/benchmarks/test_learning_speed.py``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import math
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from itertools import compress
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ActiveQueue", "annotator_seed", "in_overlap", "queue_for", "resume_position"]


class _Digest(Protocol):
    def digest(self) -> bytes: ...


def _md5_constructor() -> Callable[[bytes], _Digest]:
    """CPython's own MD5 (``_md5``): the same function as OpenSSL's behind ``hashlib.md5``,
    with a lighter call for the short inputs hashed here; ``hashlib.md5`` where it is absent."""
    try:
        module = importlib.import_module("_md5")
    except ImportError:  # pragma: no cover - every CPython build we use has it
        return functools.partial(hashlib.md5, usedforsecurity=False)
    constructor: Callable[[bytes], _Digest] = module.md5
    return constructor


_md5 = _md5_constructor()
_FULL = 2**64  # the overlap test compares the first 8 bytes of a digest with share * 2**64


class ActiveQueue(BaseModel):
    """Frames the model wants labelled next, most wanted first; they lead every annotator's
    queue. ``version`` names the model run that chose them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, description="The model run that chose these frames.")
    frame_ids: tuple[str, ...] = Field(
        default=(), description="Frame ids, most wanted first (unknown ids are ignored)."
    )


def annotator_seed(annotator: str, salt: str) -> bytes:
    """``md5(annotator + "\\0" + salt)``: the seed of an annotator's own order."""
    _check_annotator(annotator)
    return hashlib.md5(f"{annotator}\0{salt}".encode(), usedforsecurity=False).digest()


def in_overlap(frame_id: str, *, salt: str, overlap_share: float) -> bool:
    """Whether ``frame_id`` is an overlap frame (shown early to every annotator): the first
    8 bytes of ``md5(salt + frame_id)``, as a number, are below ``overlap_share * 2**64``."""
    _check_share(overlap_share)
    digest = hashlib.md5(f"{salt}{frame_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") < overlap_share * _FULL


def queue_for(
    annotator: str,
    frames: Mapping[str, int],
    *,
    salt: str,
    overlap_share: float = 0.0,
    active: ActiveQueue | None = None,
) -> list[str]:
    """The annotator's queue: every frame id of ``frames`` (frame id -> batch) once, in the
    order the module docstring sets out (active-learning frames, then batch by batch the
    overlap frames and the annotator's own order of the rest)."""
    seed = annotator_seed(annotator, salt)
    _check_share(overlap_share)
    first = _active_frames(active, frames)
    batches = _by_batch(frames, set(first))
    queue = first
    salt_bytes = salt.encode()
    for batch in sorted(batches):
        queue += _order_batch(batches[batch], seed, salt_bytes, overlap_share)
    return queue


def resume_position(queue: Sequence[str], labelled_ids: Collection[str]) -> int:
    """The first position in ``queue`` whose frame the annotator has not labelled;
    ``len(queue)`` when every frame of it is labelled."""
    labelled = labelled_ids if isinstance(labelled_ids, set | frozenset) else set(labelled_ids)
    for position, frame_id in enumerate(queue):
        if frame_id not in labelled:
            return position
    return len(queue)


def _check_annotator(annotator: str) -> None:
    if not annotator or "\0" in annotator:
        raise ValueError(f"annotator: {annotator!r} is empty or holds a NUL character")


def _check_share(share: float) -> None:
    if not 0 <= share <= 1:  # also rejects NaN
        raise ValueError(f"overlap_share: {share} is not between 0 and 1")


def _by_batch(frames: Mapping[str, int], chosen: set[str]) -> dict[int, list[str]]:
    """The frame ids of each batch, leaving out ``chosen``."""
    numbers = set(frames.values())
    if len(numbers) == 1:  # one batch: no grouping loop over a million frames
        return {numbers.pop(): [f for f in frames if f not in chosen] if chosen else list(frames)}
    batches: dict[int, list[str]] = {}
    for frame_id, batch in frames.items():
        if frame_id in chosen:
            continue
        members = batches.get(batch)
        if members is None:
            batches[batch] = [frame_id]
        else:
            members.append(frame_id)
    return batches


def _active_frames(active: ActiveQueue | None, frames: Mapping[str, int]) -> list[str]:
    if active is None:
        return []
    known = [frame_id for frame_id in active.frame_ids if frame_id in frames]
    return list(dict.fromkeys(known))  # first occurrence wins


def _order_batch(members: list[str], seed: bytes, salt: bytes, share: float) -> list[str]:
    """One batch: its overlap frames in increasing ``md5(salt + id)`` spread evenly among
    the others, in increasing ``md5(seed + id)``."""
    md5 = _md5
    # Encoded once, into fresh and adjacent bytes: the ids of a large mapping lie scattered in
    # memory, and reading each twice (once per hash) costs more than the hashing.
    encoded = [frame_id.encode() for frame_id in members]
    shared: list[str] = []
    if share > 0:
        digests = [md5(salt + data).digest() for data in encoded]
        if share >= 1:
            return _by_digest(members, digests)
        # a 16-byte digest is below these 8 bytes exactly when its first 8 bytes are below
        # ceil(share * 2**64) as a number (equal first 8 bytes: the longer one is the greater)
        threshold = math.ceil(share * _FULL).to_bytes(8, "big")
        inside = list(map(threshold.__gt__, digests))
        if any(inside):
            shared = _by_digest(list(compress(members, inside)), list(compress(digests, inside)))
            outside = list(map(operator.not_, inside))
            members, encoded = list(compress(members, outside)), list(compress(encoded, outside))
    from_bytes = int.from_bytes
    keys = [float(from_bytes(md5(seed + data).digest())) for data in encoded]
    own = _by_keys(members, keys, lambda: [md5(seed + data).digest() for data in encoded])
    return _interleave(shared, own)


def _interleave(shared: list[str], own: list[str]) -> list[str]:
    """``shared`` spread evenly through ``own``: shared frame ``j`` at position
    ``floor((2j + 1) * n / (2k))`` of the ``n`` frames (``k`` shared), the others in order."""
    count = len(shared)
    if not count or not own:
        return shared + own
    total = count + len(own)
    out: list[str] = []
    placed = 0  # own frames placed so far
    for j, frame_id in enumerate(shared):
        before = (2 * j + 1) * total // (2 * count) - j  # own frames ahead of shared frame j
        out += own[placed:before]
        placed = before
        out.append(frame_id)
    out += own[placed:]
    return out


def _by_digest(members: list[str], digests: list[bytes]) -> list[str]:
    """``members`` in increasing digest (``digests`` in the same order), then id."""
    from_bytes = int.from_bytes
    return _by_keys(members, [float(from_bytes(digest)) for digest in digests], lambda: digests)


def _by_keys(
    members: list[str], keys: list[float], digests: Callable[[], list[bytes]]
) -> list[str]:
    """Sort on the digests rounded to floats (a C-speed comparison); ``float(int)`` rounds to
    nearest, so it never inverts two digests, and equal floats, the only ambiguity, send the
    list to the exact sort on (digest, id)."""
    if len(set(keys)) == len(keys):
        return list(map(members.__getitem__, sorted(range(len(members)), key=keys.__getitem__)))
    exact = digests()
    order = sorted(range(len(members)), key=lambda i: (exact[i], members[i]))
    return list(map(members.__getitem__, order))

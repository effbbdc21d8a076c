"""Clips in the videos bucket: sampled into the frames bucket as they land, once each.

Documents::

    clips/<clip id>   one per clip (object name): the generation sampled, its status
                      (sampling | done | failed | missing, with the reason), the clip's metadata
                      (e.g. factory_id, worker_id), and its frames (timestamp, path, width,
                      height) in the frames bucket as ``<video key>/<timestamp ms>.jpg``.

A redelivered event of the same generation finds it done (or leased by the delivery doing
it) and does nothing; an older generation's late event is ignored; a replaced clip's frames
that the new generation does not have are deleted. A clip that cannot be decoded (corrupt,
empty, audio-only, not a video) is recorded as failed with the reason and not retried.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import asdict
from typing import Any, Literal

from PIL import Image

from shared.core.errors import BusyError, NotFoundError
from shared.media.clips import clip_metadata, is_clip, video_key
from shared.media.decode import ClipInfo, VideoDecodeError, encode_jpeg, open_clip
from shared.media.sampling import Sampling
from shared.media.settings import MediaSettings
from shared.media.store import CLIPS, clip_id
from shared.platform.context import Context
from shared.platform.events import StorageEvent
from shared.platform.leases import Keep, Lease, Take, View
from shared.ports import SERVER_TIMESTAMP

log = logging.getLogger("vidcurate.videos")


LEASE_SECONDS = 600.0  # longer than a function may run (540 s)


Outcome = Literal["done", "failed", "already_done", "stale", "not_a_clip"]


ClaimState = Literal["claimed", "already_done", "stale"]


def extract_event(
    services: Context[MediaSettings],
    event: StorageEvent,
    *,
    delivery: str = "",
    sampling: Sampling | None = None,
) -> Outcome:
    """Sample the clip an object event announces (see the module docstring)."""
    obj = event.object
    if event.removed or not is_clip(obj.name, obj.content_type):
        return "not_a_clip"
    settings = services.settings
    path = f"{CLIPS}/{clip_id(obj.bucket, obj.name)}"
    holder = delivery or event.context.id
    state = _claim(services, path, obj.bucket, obj.name, obj.generation, holder)
    if state != "claimed":
        return state
    sampling = sampling or settings.frame_sampling
    key = video_key(obj.name)
    previous = _previous_frames(services, path)
    try:
        frames, past_end, info = _sample_to_bucket(services, event, sampling, key)
    except _SourceGoneError as exc:
        # Replaced or deleted since (a newer generation's event comes): nothing to sample.
        _finish(services, path, holder, {"status": "missing", "error": str(exc)[:1000]})
        return "stale"
    except VideoDecodeError as exc:
        _finish(services, path, holder, {"status": "failed", "error": str(exc)[:1000]})
        log.warning("clip could not be sampled", extra={"clip": obj.name, "error": str(exc)})
        return "failed"
    except BaseException:
        _release(services, path, holder)
        raise
    held = _finish(
        services,
        path,
        holder,
        {
            "status": "done",
            "error": None,
            "video_key": key,
            "frames": frames,
            "past_end": past_end,
            "sampling": sampling.model_dump(mode="json"),
            "metadata": clip_metadata(services, obj.bucket, obj.name, obj.metadata),
            "clip": asdict(info),
        },
    )
    if held:  # still this clip's newest generation: its stale frames can go
        _forget_frames(services, previous - {f["path"] for f in frames})
    return "done"


def _sample_to_bucket(
    services: Context[MediaSettings], event: StorageEvent, sampling: Sampling, key: str
) -> tuple[list[dict[str, Any]], list[float], ClipInfo]:
    """Stream the clip from its bucket, write each frame as JPEG; the frames' index."""
    obj, settings = event.object, services.settings
    frames: list[dict[str, Any]] = []
    past_end: list[float] = []
    source = f"gs://{obj.bucket}/{obj.name}"
    with contextlib.ExitStack() as stack:
        try:
            reader = stack.enter_context(
                services.blobs.open_read(obj.bucket, obj.name, generation=obj.generation)
            )
        except NotFoundError as exc:
            raise _SourceGoneError(str(exc)) from exc
        clip = stack.enter_context(open_clip(reader, name=source))
        for item in clip.sample(sampling):
            if isinstance(item, float):
                past_end.append(item)
                continue
            max_side = settings.frame_max_side
            data = encode_jpeg(item.image, quality=settings.frame_jpeg_quality, max_side=max_side)
            name = f"{key}/{item.timestamp_ms}.jpg"
            metadata = {
                "source": source,
                "source_generation": str(obj.generation),
                "timestamp": f"{item.timestamp:.6f}",
            }
            services.blobs.write(
                settings.frames_bucket, name, data, content_type="image/jpeg", metadata=metadata
            )
            with Image.open(io.BytesIO(data)) as written:  # reads the header only
                width, height = written.size
            frames.append(
                {
                    "timestamp": item.timestamp,
                    "path": name,
                    "width": width,
                    "height": height,
                    "targets": list(item.targets),
                }
            )
        return frames, past_end, clip.info


def _lease(services: Context[MediaSettings], path: str, holder: str) -> Lease:
    return Lease(services.documents, path, holder, seconds=LEASE_SECONDS)


def _claim(
    services: Context[MediaSettings],
    path: str,
    bucket: str,
    name: str,
    generation: int,
    holder: str,
) -> ClaimState:
    """Take the clip's generation for this delivery: a newer generation wins, a finished
    one is not redone, a live lease of another delivery sends this one back."""

    def decide(view: View) -> Take[ClaimState] | Keep[ClaimState]:
        seen = int(view.data.get("generation") or 0)
        if seen > generation:
            return Keep("stale")
        if seen == generation:
            if view.data.get("status") in ("done", "failed", "missing"):
                return Keep("already_done")
            # Not view.held: a live lease without a holder sends this one back too.
            if view.live and not view.mine:
                raise BusyError(f"gs://{bucket}/{name}#{generation} is being sampled")
        # An older generation is taken over even under a live lease: its work is moot.
        return Take(
            "claimed",
            {
                **view.data,
                "bucket": bucket,
                "name": name,
                "generation": generation,
                "status": "sampling",
                "updated_at": SERVER_TIMESTAMP,
            },
        )

    return _lease(services, path, holder).claim(decide)


def _finish(
    services: Context[MediaSettings], path: str, holder: str, fields: dict[str, Any]
) -> bool:
    """Record the outcome if this delivery still holds the clip; whether it did (not when
    taken over: by a newer generation, or by a delivery after the lease ran out)."""
    return _lease(services, path, holder).finish({**fields, "updated_at": SERVER_TIMESTAMP})


def _release(services: Context[MediaSettings], path: str, holder: str) -> None:
    # Status stays "sampling" and updated_at as it was: the next delivery claims it again.
    _lease(services, path, holder).release()


def _previous_frames(services: Context[MediaSettings], path: str) -> set[str]:
    """The frames an earlier generation of the clip wrote (in its document)."""
    current = services.documents.get(path)
    frames = (current.data.get("frames") or []) if current is not None else []
    return {str(frame["path"]) for frame in frames if frame.get("path")}


def _forget_frames(services: Context[MediaSettings], names: set[str]) -> None:
    for name in sorted(names):
        with contextlib.suppress(NotFoundError):
            services.blobs.delete(services.settings.frames_bucket, name)


class _SourceGoneError(Exception):
    """The clip's generation is no longer there (replaced or deleted since its event)."""

"""Sampling frames from clips with PyAV: seek to the keyframe before each target, decode
forward to the exact frame, never hold more than the frame on screen and the one after it.

"The frame at time t" is the last frame whose presentation time is at or before t
(``shared/media/sampling.py``). The decoder reports presentation times with the container's
edit lists applied; the clip's timeline starts at its first frame's time. Whether to seek
or to keep decoding is decided from the container's keyframe index: a seek only helps when
a keyframe lies between where the decoder is and the next target (a clip with one keyframe
is decoded straight through, once).
"""

from __future__ import annotations

import bisect
import errno
import heapq
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import av
import av.error
from PIL import Image

from shared.core.errors import PermanentError
from shared.media.sampling import Sampling

EPSILON = 1e-6  # seconds: presentation times equal up to rounding are "at" the target


SEEK_GAP_SECONDS = 2.0  # without a keyframe index: seek only for targets this far ahead


SEQUENTIAL_FORMATS = frozenset({"mpeg", "mpegvideo", "vob"})  # decoded straight through

SEEK_COST_FRAMES = 12.0
"""What one seek costs, in frames decoded: the demuxer's jump, the decoder's flush and its
threads filling again. Measured against decoding on (``tests/benchmarks``): a plan whose
seeks cost more than decoding straight from the first target to the last decodes straight."""


class VideoDecodeError(PermanentError):
    """Not a clip we can sample (corrupt, empty, audio-only, not a video): retrying won't help."""


@dataclass(frozen=True)
class ClipInfo:
    """What the container says about the clip's video stream."""

    codec: str
    width: int
    height: int
    duration: float  # seconds, from the first frame
    fps: float | None
    keyframes: int  # entries of the keyframe index (0 when the container has none)


@dataclass(frozen=True)
class SampledFrame:
    """A decoded frame, upright (rotation applied), with where it is on the timeline."""

    targets: tuple[float, ...]  # the requested times this frame is on screen at
    timestamp: float  # its own presentation time, seconds from the clip's start
    image: Image.Image

    @property
    def timestamp_ms(self) -> int:
        """The presentation time in whole milliseconds (the frame's file name)."""
        return round(self.timestamp * 1000)


@contextmanager
def open_clip(source: str | Path | IO[bytes], name: str | None = None) -> Iterator[Clip]:
    """Open a clip (a path or a seekable binary file, e.g. a bucket object's reader)."""
    label = name or str(source if isinstance(source, str | Path) else "clip")

    def reopen() -> Any:
        if not isinstance(source, str | Path):
            source.seek(0)
        return av.open(source if not isinstance(source, Path) else str(source), "r")

    try:
        container = reopen()
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's words, not our path
        raise VideoDecodeError(f"{label}: not a readable video file ({reason})") from exc
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise  # a real I/O problem: not the file's fault
        # FFmpeg probing seeks where an empty or cut-off file has nothing.
        raise VideoDecodeError(f"{label}: not a readable video file (empty or cut short)") from exc
    try:
        clip = Clip(container, label, reopen=reopen)
    except BaseException:
        container.close()
        raise
    try:
        yield clip
    finally:
        clip.close()


NOT_VIDEO_DEMUXERS = frozenset({"tty", "image2", "bin", "txt"})
"""FFmpeg demuxers that make a video stream of what is not a video: text (as ANSI art) and
still pictures (the ``*_pipe`` picture demuxers too). Animated GIF, APNG and WebP pass."""


class Clip:
    """An open clip: its video stream, and sampling over it."""

    def __init__(self, container: Any, name: str, *, reopen: Any = None) -> None:
        self.name = name
        self._container = container
        self._reopen = reopen
        self._pristine = True  # nothing read since the container was opened
        self._rotation: int | None = None  # clockwise degrees, once a frame has shown it
        self._straight = False  # this sampling decodes on from its first target, never seeking
        demuxer = str(getattr(container.format, "name", ""))
        if demuxer in NOT_VIDEO_DEMUXERS or demuxer.endswith("_pipe"):
            # FFmpeg reads text as ANSI art and a picture as a one-frame stream: not videos.
            raise VideoDecodeError(f"{name}: not a video (FFmpeg reads it as {demuxer} data)")
        moving = [s for s in container.streams.video if not _still_picture(s)]
        if not moving:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise VideoDecodeError(f"{name}: no video stream ({', '.join(kinds)})")
        self._stream = moving[0]
        self._stream.thread_type = "AUTO"
        self._stream_index = self._stream.index
        tb = self._stream.time_base
        self._time_base = float(tb) if tb is not None else 1 / 90_000
        start = self._stream.start_time
        self._origin = start * self._time_base if start is not None else 0.0
        entries = self._stream.index_entries
        self._keyframes = (
            sorted(e.timestamp * self._time_base for e in entries if e.is_keyframe)
            if entries is not None
            else []
        )
        self._indexed = len(entries or ()) > 1
        # MPEG program streams carry guessed times after a seek and an estimated duration:
        # decode them from the start, straight through, and measure their length.
        self._sequential = container.format.name in SEQUENTIAL_FORMATS
        self.info = ClipInfo(
            codec=self._stream.codec_context.name,
            width=self._stream.codec_context.width,
            height=self._stream.codec_context.height,
            duration=self._duration(),
            fps=float(self._stream.average_rate) if self._stream.average_rate else None,
            keyframes=len(self._keyframes),
        )

    def technical(self) -> dict[str, Any]:
        """What the container says beyond :attr:`info`: the codec's name (FFmpeg's, as
        ffprobe prints it, not the decoder's), its format, bit rates, the display rotation
        (clockwise degrees), the audio stream (codec, sample rate, channels) and the mean
        keyframe interval.

        The overall bit rate is the file's size over the longest audio or video stream
        (ffprobe's, where data streams such as timecodes would otherwise stretch the
        duration, and with them the rate, by FFmpeg version). The rotation is read from a
        decoded frame (PyAV shows no stream side data): the first one, decoded here when no
        frame was converted yet."""
        container, stream = self._container, self._stream
        audio = next(iter(container.streams.audio), None)
        duration = self.info.duration
        keyframes = self._keyframes
        return {
            "codec": stream.codec_context.codec.canonical_name,
            "container": str(getattr(container.format, "name", "")),
            "bit_rate": self._bit_rate(),
            "video_bit_rate": int(stream.bit_rate) if stream.bit_rate else None,
            "rotation": self._display_rotation(),
            "audio": audio is not None,
            "audio_codec": audio.codec_context.codec.canonical_name if audio is not None else None,
            "audio_sample_rate": int(audio.codec_context.sample_rate or 0) if audio else None,
            "audio_channels": int(audio.codec_context.channels or 0) if audio else None,
            "keyframe_interval": (
                duration / len(keyframes) if len(keyframes) > 1 and duration > 0 else None
            ),
        }

    def _bit_rate(self) -> int | None:
        container = self._container
        size = int(getattr(container, "size", 0) or 0)
        longest = 0  # microseconds, as FFmpeg rounds them
        for stream in container.streams:
            if stream.type in ("video", "audio") and stream.duration and stream.time_base:
                micros = round(stream.duration * stream.time_base * 1_000_000)
                longest = max(longest, micros)
        if size > 0 and longest > 0:
            return 8 * size * 1_000_000 // longest  # FFmpeg: a double, truncated
        return int(container.bit_rate) if container.bit_rate else None

    def _display_rotation(self) -> int:
        if self._rotation is None:
            self._rotation = 0
            try:
                for frame in self._decode(_Goal(math.inf), skip_hidden=False):
                    self._rotation = _clockwise(frame)
                    break
            except av.error.FFmpegError as exc:
                raise VideoDecodeError(
                    f"{self.name}: could not be decoded ({_reason(exc)})"
                ) from exc
            self._stream.codec_context.flush_buffers()
        return self._rotation

    def close(self) -> None:
        """Close the container (the one open now: a restart opens it again)."""
        self._container.close()

    def _restart(self) -> None:
        """Back to the file's very start. Reopened when possible: some demuxers (MPEG-TS)
        cannot seek to frames before their first seekable keyframe, which a fresh open
        decodes. A container nothing was read from yet is at its start already."""
        if self._pristine:
            return
        if self._reopen is None:
            self._container.seek(0, backward=True, any_frame=False)
            return
        self._container.close()
        self._container = self._reopen()
        self._stream = self._container.streams[self._stream_index]
        self._stream.thread_type = "AUTO"
        self._pristine = True

    def _demux(self, stream: Any) -> Iterator[Any]:
        """The container's packets of ``stream`` from where it is."""
        self._pristine = False
        return self._container.demux(stream)  # type: ignore[no-any-return]

    def _duration(self) -> float:
        stream, container = self._stream, self._container
        if self._sequential:
            return self._measured_duration()
        if stream.duration:
            return float(stream.duration * self._time_base)
        if container.duration:
            return max(0.0, float(container.duration) / av.time_base - self._origin)
        return self._measured_duration()

    def _measured_duration(self) -> float:
        """No duration in the container (e.g. a streamed WebM): the end of its last packet,
        found by reading the packets (not decoding them)."""
        end = self._origin
        for packet in self._demux(self._stream):
            if packet.pts is not None:
                end = max(end, (packet.pts + (packet.duration or 0)) * self._time_base)
        self._restart()
        return max(0.0, end - self._origin)

    def sample(
        self, sampling: Sampling, *, max_side: int | None = None
    ) -> Iterator[SampledFrame | float]:
        """Each distinct frame on screen at the targets, in order; a float for a target at
        or past the end (no frame is on screen there). With ``max_side``, pictures come
        scaled down (never up) so their longer side is at most that, in the conversion
        itself. A stream that breaks while decoding raises VideoDecodeError with FFmpeg's
        reason."""
        for item in self.sample_decoded(sampling):
            yield item if isinstance(item, float) else item.sampled(max_side)

    def sample_decoded(self, sampling: Sampling) -> Iterator[DecodedFrame | float]:
        """As :meth:`sample`, the frames not converted yet: a caller that wants pictures of
        several sizes converts each once at each size."""
        try:
            yield from self._sample(sampling)
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"{self.name}: could not be decoded ({_reason(exc)})") from exc

    def frames(self, *, max_side: int | None = None) -> Iterator[SampledFrame]:
        """Every frame, in presentation order, from the start, decoded straight through
        (what a shot detector needs); ``max_side`` as for :meth:`sample`."""
        for frame in self.decoded_frames():
            yield frame.sampled(max_side)

    def decoded_frames(self) -> Iterator[DecodedFrame]:
        """As :meth:`frames`, not converted yet."""
        try:
            stream = self._stream
            stream.codec_context.flush_buffers()
            self._restart()
            stream = self._stream
            stream.codec_context.skip_frame = "DEFAULT"
            for frame in self._decode(_Goal(math.inf), skip_hidden=False):
                if frame.time is None:
                    continue
                yield DecodedFrame(self, frame, (), round(frame.time - self._origin, 6))
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(f"{self.name}: could not be decoded ({_reason(exc)})") from exc

    def straight_is_cheaper(self, targets: list[float]) -> bool:
        """Whether decoding on from the first target to the last costs no more than seeking
        between them (targets in seconds from the clip's start, ascending), in frames
        decoded, a seek counted as :data:`SEEK_COST_FRAMES`."""
        if self._sequential or not self._indexed or len(targets) < 2:
            return False
        rate = self.info.fps or 30.0
        keyframes = self._keyframes
        position = -math.inf
        seeking = 0.0
        first = None
        for target in targets:
            if target >= self.info.duration:
                break
            moment = self._origin + target
            if position == -math.inf or self._should_seek(position, moment):
                keyframe = keyframes[max(0, bisect.bisect_right(keyframes, moment + EPSILON) - 1)]
                seeking += SEEK_COST_FRAMES + max(0.0, moment - keyframe) * rate
                first = keyframe if first is None else first
            else:
                seeking += (moment - position) * rate
            position = moment
        if first is None:
            return False
        straight = SEEK_COST_FRAMES + (position - first) * rate
        return bool(straight <= seeking)

    def _sample(self, sampling: Sampling) -> Iterator[DecodedFrame | float]:
        targets = sampling.targets(self.info.duration)
        if sampling.mode == "keyframes":
            yield from self._keyframe_frames(targets)
            return
        self._straight = self.straight_is_cheaper(targets)
        try:
            yield from self._sample_exact(targets)
        finally:
            self._straight = False

    def _sample_exact(self, targets: list[float]) -> Iterator[DecodedFrame | float]:
        cursor = _Cursor()
        emitted: DecodedFrame | None = None
        waiting: list[float] = []
        for index, target in enumerate(targets):
            moment = self._origin + target
            if target >= self.info.duration + EPSILON:
                yield target  # past the end: nothing to decode
                continue
            if cursor.decoder is None and self._sequential:
                goal = _Goal(moment)
                cursor = _Cursor(
                    decoder=self._seek(0.0, goal, skip_hidden=False, start=True), goal=goal
                )
            elif (
                cursor.decoder is None
                or cursor.goal.drained
                or self._should_seek(cursor.position, moment)
            ):
                cursor = self._cursor_at(moment)
            following = targets[index + 1] if index + 1 < len(targets) else None
            cursor.goal.last = following is None or (
                following < self.info.duration
                and self._should_seek(moment, self._origin + following)
            )
            current = cursor.advance(moment)
            if current is None:
                yield target  # the stream ended before any frame
                continue
            stamp = round(current.time - self._origin, 6)
            if emitted is not None and emitted.timestamp == stamp:
                waiting.append(target)  # on screen at several targets: written once
                continue
            if emitted is not None:
                yield emitted.at(waiting)
            emitted, waiting = DecodedFrame(self, current, (), stamp), [target]
        if emitted is not None:
            yield emitted.at(waiting)
        self._stream.codec_context.skip_frame = "DEFAULT"

    def _should_seek(self, position: float, moment: float) -> bool:
        if moment <= position or self._sequential or self._straight:
            return False
        if self._indexed:
            # A keyframe after where the decoder is, at or before the target: jump there.
            return any(position < k <= moment for k in self._keyframes)
        return moment - position > SEEK_GAP_SECONDS

    def _cursor_at(self, moment: float) -> _Cursor:
        """A decoder positioned at a keyframe presented at or before ``moment``.

        Index timestamps may be decode times (B-frames: a keyframe is presented a few frames
        after it is decoded), so a seek can land on a keyframe shown after ``moment``: then
        seek again further back (1 s, 2 s, 4 s... to the start)."""
        back = 0.0
        while True:
            at = max(self._origin, moment - back)
            goal = _Goal(moment)
            start = at <= self._origin
            try:
                decoder = self._seek(at, goal, skip_hidden=True, start=start)
                first = next((f for f in decoder if f.time is not None), None)
            except av.error.FFmpegError:
                if start:
                    raise
                first = None  # some demuxers (MPEG-TS) refuse a seek near the end
            else:
                if (first is not None and first.time <= moment + EPSILON) or start:
                    # At the very start, a first frame after the target is the one on
                    # screen (the target is before the clip's first frame).
                    return _Cursor(decoder=decoder, ahead=first, goal=goal)
            back = max(1.0, back * 2)

    def _seek(
        self, moment: float, goal: _Goal, *, skip_hidden: bool, start: bool = False
    ) -> Iterator[Any]:
        """Position the decoder at the keyframe at or before ``moment`` (``start``: at the
        beginning of the file, which demuxers that seek by decode time need); its frames."""
        stream = self._stream
        stream.codec_context.flush_buffers()  # nothing from before the seek (or a drain) stays
        if start:
            self._restart()
        else:
            offset = max(moment, self._origin)
            self._pristine = False
            self._container.seek(
                int(offset / self._time_base), stream=stream, backward=True, any_frame=False
            )
        return self._decode(goal, skip_hidden=skip_hidden)

    def _decode(self, goal: _Goal, *, skip_hidden: bool) -> Iterator[Any]:
        """Frames from the current position.

        With ``skip_hidden``, a frame no other frame refers to (a B-frame) is not decoded at
        all when a frame presented after it, but at or before the target being decoded to,
        is already known from the packets: it cannot be the frame on screen there. When the
        goal is ``last`` (a seek follows), feeding stops at the first packet decoded after
        the target (every frame shown by then has been fed: decode time <= presentation
        time) and the decoder is drained, instead of decoding frames only to drop them."""
        stream, context, time_base = self._stream, self._stream.codec_context, self._time_base
        known = -math.inf  # the latest packet time at or before the target, so far
        later: list[float] = []  # packet times after the target (a heap)
        for packet in self._demux(stream):
            if (
                goal.last
                and packet.dts is not None
                and packet.dts * time_base > (goal.moment + EPSILON)
            ):
                goal.drained = True  # before yielding: the next target must seek
                context.skip_frame = "DEFAULT"
                for frame in context.decode(None):
                    if frame.time_base is None:  # drained frames carry none
                        frame.time_base = stream.time_base
                    yield frame
                return
            if skip_hidden and packet.pts is not None:
                moment = goal.moment
                while later and later[0] <= moment + EPSILON:
                    known = max(known, heapq.heappop(later))
                when = packet.pts * time_base
                context.skip_frame = "NONREF" if when < known - EPSILON else "DEFAULT"
                if when <= moment + EPSILON:
                    known = max(known, when)
                else:
                    heapq.heappush(later, when)
            for frame in context.decode(packet):
                if frame.time_base is None:  # frames flushed at the end carry none
                    frame.time_base = stream.time_base
                yield frame

    def _keyframe_frames(self, targets: list[float]) -> Iterator[DecodedFrame | float]:
        held: tuple[float, Any] | None = None  # the keyframe of the targets so far
        waiting: list[float] = []
        for target in targets:
            moment = self._origin + target
            if moment >= self._origin + self.info.duration:
                yield target
                continue
            frame = self._keyframe_at(moment)
            if frame is None:
                yield target
                continue
            stamp = round(frame.time - self._origin, 6)
            if held is not None and held[0] == stamp:
                waiting.append(target)
                continue
            if held is not None:  # one keyframe at a time: never all of them held
                yield DecodedFrame(self, held[1], tuple(waiting), held[0])
            held, waiting = (stamp, frame), [target]
        if held is not None:
            yield DecodedFrame(self, held[1], tuple(waiting), held[0])

    def _keyframe_at(self, moment: float) -> Any:
        """The keyframe presented last at or before ``moment``, chosen from the packets (not
        from what a decoder skipping non-keyframes puts out, which is not in presentation
        order on open-GOP streams) and decoded alone."""
        stream, context = self._stream, self._stream.codec_context
        back = 0.0
        while True:
            at = max(self._origin, moment - back)
            start = at <= self._origin
            try:
                best = self._key_packet(at, moment, start=start)
            except av.error.FFmpegError:
                if start:
                    raise
                best = None
            if best is not None or start:
                break
            back = max(1.0, back * 2)
        if best is None:
            return None
        stream, context = self._stream, self._stream.codec_context  # (a restart reopens)
        context.flush_buffers()
        frames = [*context.decode(best), *context.decode(None)]
        context.flush_buffers()
        for frame in frames:
            if frame.time_base is None:
                frame.time_base = stream.time_base
        return frames[0] if frames else None

    def _key_packet(self, at: float, moment: float, *, start: bool) -> Any:
        """Seek to ``at`` (the file's start with ``start``) and read packets: the last key
        packet presented at or before ``moment`` (None if none is there)."""
        stream, time_base = self._stream, self._time_base
        stream.codec_context.flush_buffers()
        if start:
            self._restart()
            stream = self._stream
        else:
            self._pristine = False
            self._container.seek(int(at / time_base), stream=stream, backward=True, any_frame=False)
        best = None
        for packet in self._demux(stream):
            if packet.pts is None:
                continue
            if packet.is_keyframe and packet.pts * time_base <= moment + EPSILON:
                best = packet
            elif packet.is_keyframe or (
                best is not None
                and packet.dts is not None
                and packet.dts * time_base > moment + EPSILON
            ):
                break  # the next keyframe, or past the target with one in hand
        return best

    def _upright(self, frame: Any, max_side: int | None = None) -> Image.Image:
        width, height = frame.width, frame.height
        if max_side is not None and max(width, height) > max_side:
            scale = max_side / max(width, height)
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
        # Converted (and scaled) by swscale with its threads (~2x at 1080p), and taken into
        # Pillow from the converted frame's buffer: no intermediate bytes object.
        rgb = frame.reformat(width=width, height=height, format="rgb24", threads=0)
        plane = rgb.planes[0]
        image = Image.frombuffer("RGB", (width, height), plane, "raw", "RGB", plane.line_size, 1)
        self._rotation = _clockwise(frame)
        rotation = round((getattr(frame, "rotation", 0) or 0) / 90) * 90 % 360
        if rotation:
            # The display matrix turns the picture counter-clockwise by ``rotation``.
            transpose = {
                90: Image.Transpose.ROTATE_90,
                180: Image.Transpose.ROTATE_180,
                270: Image.Transpose.ROTATE_270,
            }[rotation]
            image = image.transpose(transpose)
        return image


@dataclass
class _Cursor:
    """Where decoding is: the frame on screen at the last target, and the one after it."""

    decoder: Iterator[Any] | None = None
    goal: _Goal = field(default_factory=lambda: _Goal(math.inf))  # read by the decoder
    current: Any = None  # the last frame decoded at or before the target
    ahead: Any = None  # the first frame decoded after it, not shown yet
    position: float = -math.inf  # presentation time of the last frame decoded

    def advance(self, moment: float) -> Any:
        """Decode forward to the frame on screen at ``moment`` (None: no frame at all)."""
        assert self.decoder is not None  # set by every seek
        self.goal.moment = moment
        if self.ahead is not None and (self.ahead.time <= moment + EPSILON or self.current is None):
            # Shown by now; or the target is before the clip's first frame: show that one.
            self.current, self.ahead = self.ahead, None
            self.position = max(self.position, self.current.time)
        while self.ahead is None:
            frame = next(self.decoder, None)
            if frame is None:
                break  # the end of the stream: the last frame stays on screen
            if frame.time is None:
                continue
            self.position = frame.time
            if frame.time <= moment + EPSILON:
                self.current = frame
            elif self.current is None:
                self.current = frame  # a target before the first frame: the first one
            else:
                self.ahead = frame
        return self.current


@dataclass
class _Goal:
    """What the decoder is decoding towards (shared by a cursor and its decoder)."""

    moment: float
    last: bool = False  # the cursor is dropped after this target (a seek or the end follows)
    drained: bool = False  # the decoder was drained: the next target needs a seek


def _still_picture(stream: Any) -> bool:
    """Cover art (a picture attached to the file) poses as a video stream."""
    disposition = getattr(stream, "disposition", None)
    attached = getattr(getattr(av, "stream", None), "Disposition", None)
    flag = getattr(attached, "attached_pic", None)
    return bool(disposition is not None and flag is not None and disposition & flag)


def _clockwise(frame: Any) -> int:
    """The clockwise angle a player turns ``frame`` by (the frame says counter-clockwise)."""
    return int(-round((getattr(frame, "rotation", 0) or 0) / 90) * 90 % 360)


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


class DecodedFrame:
    """A decoded frame, not converted yet, with where it is on the timeline: pictures of it
    (upright, at most ``max_side`` on the longer side) are converted on first use, once per
    size. Holds the decoded frame, never more: the sampler keeps one at a time."""

    __slots__ = ("_clip", "_frame", "_pictures", "targets", "timestamp")

    def __init__(
        self, clip: Clip, frame: Any, targets: tuple[float, ...], timestamp: float
    ) -> None:
        self._clip, self._frame = clip, frame
        self.targets, self.timestamp = targets, timestamp
        self._pictures: dict[int | None, Image.Image] = {}

    def at(self, targets: list[float]) -> DecodedFrame:
        """The same frame, on screen at ``targets``."""
        twin = DecodedFrame(self._clip, self._frame, tuple(targets), self.timestamp)
        twin._pictures = self._pictures
        return twin

    def picture(self, max_side: int | None = None) -> Image.Image:
        """The picture, upright, scaled down to ``max_side`` (None: as decoded)."""
        picture = self._pictures.get(max_side)
        if picture is None:
            picture = self._pictures[max_side] = self._clip._upright(self._frame, max_side)
        return picture

    def sampled(self, max_side: int | None = None) -> SampledFrame:
        """The frame as a :class:`SampledFrame` at that size."""
        return SampledFrame(self.targets, self.timestamp, self.picture(max_side))


def encode_jpeg(image: Image.Image, *, quality: int = 85, max_side: int | None = None) -> bytes:
    """JPEG bytes of ``image``, scaled down (never up) so its longer side is ``max_side``."""
    if max_side is not None and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()

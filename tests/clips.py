"""Synthetic video clips whose every frame shows its own index, for frame-sampler tests.

``make_clip`` encodes a clip in which frame ``i`` carries the number ``i`` as a barcode and
returns the presentation time of every frame as a decoder reports it; ``frame_number`` (or
``read_barcode``) reads the number back from a decoded picture. A test can then check that
"the frame at time t" is exactly the frame whose returned time is t, not a neighbour and
not the keyframe before it.

The barcode is one row of 17 equal black/white cells across the whole width, filling the
middle 40% of the height: two black and one white start cells, 12 data bits (most
significant first, white = 1) and a white and a black stop cell. It is read by averaging
the centre of each cell and thresholding at the midpoint of the black and white start
cells, so it survives lossy encoding, JPEG re-encoding at quality 85 and downscaling to a
side of 160 pixels or less. The start/stop pattern is not symmetric, so the reader also
tells an upright picture from one turned by 90, 180 or 270 degrees. Above and below the
barcode, coloured gradients move every frame (with luma kept between the barcode's black
and white), so the encoder really predicts P and B frames from their neighbours.

Only PyAV and Pillow are needed (no numpy). Findings with PyAV 18 / FFmpeg 8:

* Timestamps: what a decoder reports is read back from the written file, so container
  quirks are in the returned list: Matroska and WebM store milliseconds (1/30 s becomes
  0.033 s), and AVI with B-frames shifts every frame by one frame period (the first frame
  is at 1/fps, not 0). MP4 with B-frames starts at 0 (FFmpeg writes an edit list).
* ``vfr=True`` varies frame durations in a fixed cycle of 1, 1.5, 0.5, 2, 1, 3, 0.5 and 1.5
  frame periods, set as pts in a 1/90000 time base (1/(2*fps) for ``mpeg4``, whose time
  base must stay under 65536). AVI, a constant-rate format, keeps the gaps (its muxer pads
  them); decoders still report the intended times, plus the B-frame shift above.
* ``rotate`` is the clockwise angle a player turns the stored picture by, like the legacy
  ``rotate`` tag that phones write. ``stream.metadata["rotate"] = "90"`` is ignored by
  FFmpeg's muxers nowadays, so it is written as a display matrix with
  ``VideoStream.set_display_rotation``. Reading back, ``stream.metadata`` shows nothing
  and PyAV 18 has no stream side data; every decoded frame carries ``DISPLAYMATRIX`` side
  data and ``frame.rotation`` gives the counter-clockwise angle in [-180, 180]: rotate=90
  reads -90, rotate=180 reads -180 and rotate=270 reads 90. MP4, MOV, Matroska and WebM
  keep it; AVI cannot (NotImplementedError). The pixels are stored unrotated, so a decoded
  frame reads upright unless the reader applies the rotation; ``read_barcode`` returns
  ``(number, rotate)`` for a picture turned for display.
* ``bframes`` drives ``libx264`` and ``mpeg4``. ``libvpx`` (VP8) has no B-frames, and
  ``libsvtav1`` frames decode as I and P only; both ignore ``bframes``.
* ``audio=True`` adds a stereo 48 kHz sine track: AAC, Opus in WebM, PCM in AVI (AAC's
  negative priming time makes AVI's muxer shift the video timestamps).
"""

from __future__ import annotations

from array import array
from fractions import Fraction
from math import floor, pi, sin
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageStat

BITS = 12
MAX_FRAMES = 1 << BITS
_START = (0, 0, 1)  # black, black, white
_STOP = (1, 0)  # white, black
_CELLS = len(_START) + BITS + len(_STOP)
_BAND = (0.3, 0.7)  # the barcode's rows, as fractions of the height
_BLACK, _WHITE = 0, 255
_GRADIENT = (72, 184)  # luma range of the moving background: well inside black..white
_PERIOD = 96  # pixels per background gradient cycle
_VFR_HALF_PERIODS = (2, 3, 1, 4, 2, 6, 1, 3)  # frame durations in halves of 1/fps
_AUDIO_RATE = 48_000
# Interleaved stereo s16: 480 Hz left, 600 Hz right; both repeat after 400 samples at 48 kHz.
_SINE = array(
    "h",
    [round(9000 * sin(2 * pi * tone * n / _AUDIO_RATE)) for n in range(400) for tone in (480, 600)],
)

_CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}


def make_clip(
    path: Path,
    *,
    seconds: float = 6.0,
    fps: int = 30,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
    bframes: int = 2,
    gop: int = 60,
    vfr: bool = False,
    rotate: int | None = None,
    audio: bool = False,
    container: str | None = None,
    open_gop: bool = False,
) -> list[float]:
    """Encode a clip whose frame i shows the number i (a barcode) and return the presentation
    times in seconds of its frames, in order (what a decoder will report).

    ``size`` is (width, height), both even. ``container`` is an FFmpeg format name; by
    default it follows the suffix of ``path`` (.mp4, .mov, .mkv, .webm, .avi). A constant
    rate clip has ``round(seconds * fps)`` frames; a ``vfr`` one has every frame that starts
    before ``seconds``. ``rotate`` (90, 180 or 270, clockwise) writes a display matrix; see
    the module docstring for what reading it back shows.
    """
    path = Path(path)
    width, height = size
    if width % 2 or height % 2 or width < 4 * _CELLS or height < 16:
        raise ValueError(f"size must be even and at least {4 * _CELLS}x16, got {size}")
    fmt = container or _CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the container of {path.name}; pass container=")
    if rotate not in (None, 0, 90, 180, 270):
        raise ValueError(f"rotate must be 90, 180 or 270 degrees, got {rotate}")
    if rotate and fmt == "avi":
        raise NotImplementedError("AVI has no display matrix: rotation cannot be written")
    if rotate and not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        raise NotImplementedError("this PyAV cannot write a display matrix (PyAV >= 18 can)")

    ticks, time_base = _schedule(seconds, fps, vfr, codec)
    if len(ticks) > MAX_FRAMES:
        raise ValueError(f"{len(ticks)} frames do not fit a {BITS}-bit barcode")
    end = ticks[-1] + (ticks[-1] - ticks[-2] if len(ticks) > 1 else 1 / (fps * time_base))

    with av.open(str(path), "w", format=fmt) as out:
        options = _options(codec, bframes, gop)
        if open_gop:  # libx264: B-frames before a keyframe may refer to the GOP before it
            options["x264-params"] = "open-gop=1:b-pyramid=normal"
        video = out.add_stream(codec, rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = time_base
        if codec in ("mpeg4", "libvpx", "libvpx-vp9"):
            video.bit_rate = 2_000_000
        if rotate:
            # PyAV's angle is counter-clockwise; ``rotate`` is clockwise like the old tag.
            video.set_display_rotation(-rotate)
        sound = _add_audio(out, fmt) if audio else None
        sound_end = round(end * time_base * _AUDIO_RATE)
        sound_at = 0
        background = _background_strip(width)
        for index, tick in enumerate(ticks):
            frame = av.VideoFrame.from_image(_picture(index, size, background))
            frame.pts, frame.time_base = tick, time_base
            out.mux(video.encode(frame))
            if sound is not None:  # keep the audio up with the video, for interleaving
                until = round(Fraction(tick) * time_base * _AUDIO_RATE)
                sound_at = _encode_sine(out, sound, sound_at, until)
        out.mux(video.encode())
        if sound is not None:
            _encode_sine(out, sound, sound_at, sound_end)
            out.mux(sound.encode())

    reported = _reported_times(path)
    _check_schedule(path, reported, [Fraction(t) * time_base for t in ticks])
    return [float(t) for t in reported]


def read_barcode(image: Image.Image) -> tuple[int, int]:
    """Read the number drawn by make_clip and how the picture is turned: (number, degrees).

    ``degrees`` is 0 for the picture as stored, else the clockwise angle (90, 180, 270) it
    was turned by, e.g. by a reader that applied a clip's ``rotate``. Raises ValueError if
    no barcode is found or a cell is too grey to call (a blend of two frames, say).
    """
    gray = image.convert("L")
    problems = []
    for degrees in (0, 90, 180, 270):
        upright = gray.rotate(degrees, expand=True) if degrees else gray  # counter-clockwise
        levels = _cell_levels(upright)
        black = max(levels[i] for i, bit in enumerate(_START) if bit == 0)
        white = levels[_START.index(1)]
        stop = levels[-len(_STOP) :]
        if black > 70 or white < 185 or stop[0] < 185 or stop[1] > 70:
            problems.append(f"{degrees}: no markers in {[round(v) for v in levels]}")
            continue
        middle, half_span = (black + white) / 2, (white - black) / 2
        data = levels[len(_START) : len(_START) + BITS]
        if any(abs(level - middle) < 0.4 * half_span for level in data):
            raise ValueError(f"ambiguous barcode cells: {[round(v) for v in data]}")
        number = 0
        for level in data:
            number = number << 1 | (level > middle)
        return number, degrees
    raise ValueError("no barcode found: " + "; ".join(problems))


def frame_number(image: Image.Image) -> int:
    """Read back the number drawn by make_clip from a decoded frame (a PIL.Image in RGB, any size
    that keeps the aspect ratio, e.g. a downscaled JPEG re-read from disk).

    A picture turned by a multiple of 90 degrees (a clip's ``rotate`` applied) reads too;
    use ``read_barcode`` to learn the turn as well.
    """
    return read_barcode(image)[0]


def _schedule(seconds: float, fps: int, vfr: bool, codec: str) -> tuple[list[int], Fraction]:
    """Frame pts and the time base they are in."""
    if not vfr:
        return list(range(max(1, round(seconds * fps)))), Fraction(1, fps)
    time_base = Fraction(1, 2 * fps) if codec == "mpeg4" else Fraction(1, 90_000)
    half_period = Fraction(1, 2 * fps) / time_base
    ticks, halves = [], 0
    while not ticks or halves * Fraction(1, 2 * fps) < seconds:
        ticks.append(floor(halves * half_period + Fraction(1, 2)))  # rounded half up
        halves += _VFR_HALF_PERIODS[(len(ticks) - 1) % len(_VFR_HALF_PERIODS)]
    return ticks, time_base


def _options(codec: str, bframes: int, gop: int) -> dict[str, str]:
    keyframes = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
    if codec == "libx264":
        return {**keyframes, "bf": str(bframes), "preset": "veryfast"}
    if codec == "mpeg4":
        return {**keyframes, "bf": str(bframes)}
    if codec in ("libvpx", "libvpx-vp9"):
        return {"g": str(gop), "keyint_min": str(gop), "deadline": "realtime", "cpu-used": "8"}
    return {"g": str(gop)}


def _add_audio(out: av.container.OutputContainer, fmt: str) -> av.audio.stream.AudioStream:
    # AVI gets PCM: AAC's priming samples start at a negative time, and AVI's muxer shifts
    # every stream to make up for it, which moves the video frames off the 1/fps grid.
    codec = {"webm": "libopus", "avi": "pcm_s16le"}.get(fmt, "aac")
    sound = out.add_stream(codec, rate=_AUDIO_RATE)
    sound.layout = "stereo"
    sound.codec_context.time_base = Fraction(1, _AUDIO_RATE)
    return sound


def _encode_sine(
    out: av.container.OutputContainer, sound: av.audio.stream.AudioStream, start: int, stop: int
) -> int:
    """Encode samples [start, stop) of a 480 Hz left / 600 Hz right sine; return stop."""
    period = len(_SINE) // 2
    for at in range(start, stop, 1024):
        count = min(1024, stop - at)
        offset = at % period
        samples = _SINE * ((offset + count) // period + 1)
        frame = av.AudioFrame(format="s16", layout="stereo", samples=count)
        frame.planes[0].update(samples[2 * offset : 2 * (offset + count)].tobytes())
        frame.sample_rate, frame.pts, frame.time_base = _AUDIO_RATE, at, Fraction(1, _AUDIO_RATE)
        out.mux(sound.encode(frame))
    return stop


def _background_strip(width: int) -> Image.Image:
    """One row of triangle-wave RGB gradients, a period wider than the picture."""
    low, high = _GRADIENT
    channels = []
    for phase in (0, _PERIOD // 3, 2 * _PERIOD // 3):
        row = []
        for x in range(width + _PERIOD):
            position = ((x + phase) % _PERIOD) / _PERIOD
            row.append(round(low + (high - low) * (1 - abs(2 * position - 1))))
        channel = Image.new("L", (width + _PERIOD, 1))
        channel.putdata(row)
        channels.append(channel)
    return Image.merge("RGB", channels)


def _picture(index: int, size: tuple[int, int], background: Image.Image) -> Image.Image:
    width, height = size
    top, bottom = (round(height * edge) for edge in _BAND)
    picture = Image.new("RGB", size)
    for rows, shift in (((0, top), 3 * index), ((bottom, height), -5 * index)):
        if rows[1] > rows[0]:
            left = shift % _PERIOD
            band = background.crop((left, 0, left + width, 1))
            picture.paste(band.resize((width, rows[1] - rows[0])), (0, rows[0]))
    bits = [(index >> (BITS - 1 - k)) & 1 for k in range(BITS)]
    draw = ImageDraw.Draw(picture)
    for cell, bit in enumerate((*_START, *bits, *_STOP)):
        x0, x1 = round(cell * width / _CELLS), round((cell + 1) * width / _CELLS)
        shade = _WHITE if bit else _BLACK
        draw.rectangle((x0, top, x1 - 1, bottom - 1), fill=(shade, shade, shade))
    return picture


def _cell_levels(gray: Image.Image) -> list[float]:
    """Mean luma of the centre half of every barcode cell."""
    width, height = gray.size
    top, bottom = (height * edge for edge in _BAND)
    y0, y1 = top + (bottom - top) / 4, bottom - (bottom - top) / 4
    levels = []
    for cell in range(_CELLS):
        x0 = (cell + 0.25) * width / _CELLS
        x1 = (cell + 0.75) * width / _CELLS
        box = (floor(x0), floor(y0), max(floor(x0) + 1, round(x1)), max(floor(y0) + 1, round(y1)))
        levels.append(ImageStat.Stat(gray.crop(box)).mean[0])
    return levels


def _reported_times(path: Path) -> list[Fraction]:
    """Presentation times of the video packets, sorted: what a decoder reports per frame."""
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        ticks = sorted(p.pts for p in clip.demux(stream) if p.pts is not None and p.size)
        return [Fraction(t) * stream.time_base for t in ticks]


def _check_schedule(path: Path, reported: list[Fraction], intended: list[Fraction]) -> None:
    """The container may round times and shift them all; anything else is a bug here."""
    if len(reported) != len(intended):
        raise RuntimeError(f"{path.name}: wrote {len(intended)} frames, reads {len(reported)}")
    shift = reported[0] - intended[0]
    with av.open(str(path)) as clip:
        tolerance = clip.streams.video[0].time_base
    worst = max(abs(r - shift - i) for r, i in zip(reported, intended, strict=True))
    if worst > tolerance / 2:  # rounding to the container's time base
        raise RuntimeError(f"{path.name}: frame times are off by up to {float(worst)} s")

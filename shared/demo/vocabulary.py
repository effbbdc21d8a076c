"""The vocabulary the demo campaign's captions are written from."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# (phrase, short name, appearance detail)
_SUBJECTS: tuple[tuple[str, str, str], ...] = (
    (
        "a young woman in a yellow raincoat",
        "the woman",
        "she holds a black umbrella and has shoulder-length dark hair",
    ),
    (
        "an elderly man in a grey wool coat",
        "the man",
        "he has a trimmed white beard and leans on a wooden cane",
    ),
    ("a golden retriever", "the dog", "its coat is wet and it wears a red collar"),
    ("two teenage skateboarders", "the skaters", "both wear baggy jeans and one a green beanie"),
    ("a chef in a white jacket", "the chef", "he wears a black apron and a headset microphone"),
    (
        "a red vintage convertible",
        "the car",
        "the top is down and its chrome bumpers catch the light",
    ),
    (
        "a little girl flying a kite",
        "the girl",
        "the kite is a blue and orange diamond with a long ribbon tail",
    ),
    (
        "a street musician with a saxophone",
        "the musician",
        "an open instrument case lies at his feet",
    ),
    ("a cyclist in a blue jersey", "the cyclist", "she wears a white helmet and mirrored glasses"),
    ("a barista in a brown apron", "the barista", "her sleeves are rolled up to the elbows"),
    (
        "a hiker with a large orange backpack",
        "the hiker",
        "she carries trekking poles and wears a wide sun hat",
    ),
    ("a black cat", "the cat", "it has white paws and a thin silver collar"),
    (
        "a delivery rider on a scooter",
        "the rider",
        "a green insulated box is strapped behind the seat",
    ),
    ("a couple dancing", "the dancers", "she wears a flowing red dress and he a dark suit"),
)


_OTHERS = (
    "No other people or animals are visible.",
    "A few passers-by appear out of focus in the background.",
    "A second person is partly visible at the edge of the frame.",
    "Two pigeons peck at the ground nearby.",
)


# (setting, setting detail)
_SETTINGS: tuple[tuple[str, str], ...] = (
    ("a rain-soaked city street at dusk", "neon shop signs reflect on the wet pavement"),
    ("a sunlit restaurant kitchen", "steel counters and hanging pans fill the background"),
    ("a coastal boardwalk on a windy afternoon", "the sea and a pale sky fill the upper half"),
    ("a quiet suburban park in autumn", "orange leaves cover the lawn around a wooden bench"),
    ("a crowded night market", "strings of bulbs hang over food stalls"),
    ("a mountain trail above the tree line", "rocky slopes lead to distant snow-capped peaks"),
    ("a small independent coffee shop", "chalkboard menus and shelves of mugs line the wall"),
    ("an empty underground parking garage", "concrete pillars recede under fluorescent tubes"),
    ("a wheat field at golden hour", "the low sun sits just above the horizon"),
    ("a snowy village square", "light snow falls around a lit Christmas tree"),
    ("a skate park under a highway overpass", "graffiti-covered ramps surround the bowl"),
    ("a living room with large windows", "a grey sofa, a rug and potted plants sit behind"),
)


_POSITIONS = (
    "in the left third of the frame",
    "in the right third of the frame",
    "centered in the frame",
    "in the lower left corner",
    "slightly right of center",
)


_COMPOSITIONS = (
    "with the main action in the middle ground",
    "against an uncluttered background",
    "with leading lines drawing the eye toward it",
    "framed by a doorway in the foreground",
    "balanced by a bright open area on the opposite side",
)


# (movement, movement detail)
_ACTIONS: tuple[tuple[str, str], ...] = (
    ("moves toward the camera", "getting closer until it fills half the frame"),
    ("crosses the frame from left to right", "without looking at the camera"),
    ("turns around and moves away from the camera", "shrinking into the background"),
    ("stays mostly still", "with only small shifts of weight and turns of the head"),
    ("circles around the center of the frame", "completing about one full loop"),
    ("comes in from the right edge toward the center", "then stops abruptly"),
    ("moves forward in short bursts", "pausing every few seconds before continuing"),
    ("sways gently back and forth", "in a steady rhythm"),
)


_SPEEDS = ("slowly", "at a relaxed pace", "briskly", "quickly", "hesitantly")


_SHOTS = (
    "an extreme wide shot",
    "a wide shot",
    "a medium wide shot",
    "a medium shot",
    "a medium close-up",
    "a close-up",
)


_FRAMINGS = (
    "the framing stays constant throughout",
    "the subject grows larger in the frame as the clip goes on",
    "the subject drifts to the frame edge and is partly cut off at the end",
    "the horizon stays level about one third from the top",
    "foreground objects briefly hide the subject midway",
)


_MOVES = (
    "a static, locked-off shot",
    "a slow dolly-in",
    "a slow dolly-out",
    "a handheld tracking shot",
    "a smooth pan from left to right",
    "a pan from right to left",
    "a tilt up",
    "a crane shot rising upward",
    "a slow orbit around the subject",
    "a drone shot flying forward",
)


_ANGLES = (
    "at eye level",
    "from a low angle",
    "from a high angle",
    "from directly overhead",
    "at shoulder height",
)


_CAMERA_ENDS = (
    "with no zoom",
    "with a slight zoom in near the end",
    "with noticeable handheld shake",
    "ending on a rack focus to the background",
    "with a shallow depth of field that keeps the background blurred",
)


# (lighting, lighting detail): for the task that is not in the config
_LIGHTS: tuple[tuple[str, str], ...] = (
    ("soft overcast daylight", "shadows are faint and diffuse"),
    ("warm golden-hour backlight", "the subject is rim-lit with a glowing outline"),
    ("mixed neon and street lighting", "magenta and cyan tints fall on the subject"),
    ("hard midday sun", "shadows are short and crisp"),
    ("dim tungsten interior light", "the image is warm with some visible noise"),
)


_SWAP_NOTES = (
    "wrong {label}: it's {true}, not {wrong}",
    "{label} is off - should be {true}",
    "not {wrong}. it's {true}",
)


_OMIT_NOTES = ("missing detail: {detail}", "add this: {detail}", "caption leaves out '{detail}'")


_ADD_NOTES = ("there is no {label} in the clip", "remove the {label}, it's not there")


_STYLE_NOTES = (
    ("ok but wording is clunky", "The caption is accurate but awkwardly worded; make it flow."),
    ("mostly right, make it more concise", "The caption is accurate; make it more concise."),
)


_REVIEW_COMMENTS = (
    "see improved caption",
    "caption still had an error, fixed it",
    "please double-check the clip before approving",
)


Render = Callable[[Mapping[str, str], frozenset[str], str | None], str]


# A mistake in a model caption: ("swap", slot, wrong value), ("omit", slot, ""),
# or ("add", label, hallucinated sentence).
Mistake = tuple[str, str, str]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with(extra: str | None) -> str:
    return f" {extra}" if extra else ""


def _render_subject(s: Mapping[str, str], omit: frozenset[str], extra: str | None) -> str:
    detail = "" if "detail" in omit else f"; {s['detail']}"
    return f"The main subject is {s['subject']}{detail}. {s['others']}{_with(extra)}"


def _render_scene(s: Mapping[str, str], omit: frozenset[str], extra: str | None) -> str:
    detail = "" if "setting_detail" in omit else f"; {s['setting_detail']}"
    return (
        f"{_cap(s['setting'])}{detail}. {_cap(s['short'])} is {s['position']}, "
        f"{s['composition']}.{_with(extra)}"
    )


def _render_motion(s: Mapping[str, str], omit: frozenset[str], extra: str | None) -> str:
    detail = "" if "action_detail" in omit else f", {s['action_detail']}"
    return f"{_cap(s['short'])} {s['action']} {s['speed']}{detail}.{_with(extra)}"


def _render_spatial(s: Mapping[str, str], omit: frozenset[str], extra: str | None) -> str:
    detail = "" if "framing" in omit else f"; {s['framing']}"
    return f"{_cap(s['shot'])} with {s['short']} {s['position']}{detail}.{_with(extra)}"


def _render_camera(s: Mapping[str, str], omit: frozenset[str], extra: str | None) -> str:
    detail = "" if "end" in omit else f", {s['end']}"
    return f"{_cap(s['move'])} {s['angle']}{detail}.{_with(extra)}"


def _render_lighting(s: Mapping[str, str], omit: frozenset[str], extra: str | None) -> str:
    detail = "" if "light_detail" in omit else f"; {s['light_detail']}"
    return f"{_cap(s['light'])}{detail}.{_with(extra)}"


@dataclass(frozen=True)
class _TaskSpec:
    """How one kind of task is captioned and how a model gets it wrong."""

    focus: str
    render: Render
    labels: Mapping[str, str]
    swappable: Mapping[str, Sequence[str]]
    omittable: tuple[str, ...]
    hallucinations: tuple[tuple[str, str], ...]  # (sentence with {short}/{Short}, label)


_SPECS: dict[str, _TaskSpec] = {
    "subject": _TaskSpec(
        focus="main subject and its appearance",
        render=_render_subject,
        labels={"subject": "subject", "others": "background people", "detail": "appearance"},
        swappable={"subject": [s[0] for s in _SUBJECTS], "others": _OTHERS},
        omittable=("detail",),
        hallucinations=(
            ("{Short} is holding a smartphone.", "smartphone"),
            ("{Short} carries a large shopping bag.", "shopping bag"),
            ("A small dog follows {short}.", "dog"),
        ),
    ),
    "scene": _TaskSpec(
        focus="setting and composition of the scene",
        render=_render_scene,
        labels={
            "setting": "setting",
            "position": "subject position",
            "composition": "composition",
            "setting_detail": "background",
        },
        swappable={
            "setting": [s[0] for s in _SETTINGS],
            "position": _POSITIONS,
            "composition": _COMPOSITIONS,
        },
        omittable=("setting_detail",),
        hallucinations=(
            ("A parked bus is visible in the background.", "bus"),
            ("A fountain stands in the middle of the scene.", "fountain"),
            ("A text overlay appears in the top corner.", "text overlay"),
        ),
    ),
    "motion": _TaskSpec(
        focus="way the subject moves",
        render=_render_motion,
        labels={"action": "movement", "speed": "speed", "action_detail": "movement detail"},
        swappable={"action": [a[0] for a in _ACTIONS], "speed": _SPEEDS},
        omittable=("action_detail",),
        hallucinations=(
            ("Halfway through, {short} jumps.", "jump"),
            ("At the end, {short} waves at the camera.", "wave"),
            ("{Short} briefly stops and sits down.", "sitting down"),
        ),
    ),
    "spatial": _TaskSpec(
        focus="framing and the subject's position in the frame",
        render=_render_spatial,
        labels={"shot": "shot size", "position": "position in frame", "framing": "framing"},
        swappable={"shot": _SHOTS, "position": _POSITIONS},
        omittable=("framing",),
        hallucinations=(
            ("A second person is framed on the right.", "second person"),
            ("The shot uses a split-screen layout.", "split screen"),
            ("Black letterbox bars frame the image.", "letterbox"),
        ),
    ),
    "camera": _TaskSpec(
        focus="camera movement and angle",
        render=_render_camera,
        labels={"move": "camera movement", "angle": "camera angle", "end": "lens behaviour"},
        swappable={"move": _MOVES, "angle": _ANGLES},
        omittable=("end",),
        hallucinations=(
            ("The shot ends with a quick whip pan.", "whip pan"),
            ("There is a zoom out at the start.", "zoom out"),
            ("The camera shakes violently midway.", "camera shake"),
        ),
    ),
    "lighting": _TaskSpec(
        focus="lighting",
        render=_render_lighting,
        labels={"light": "lighting", "light_detail": "shadows"},
        swappable={"light": [light[0] for light in _LIGHTS]},
        omittable=("light_detail",),
        hallucinations=(("A camera flash goes off midway.", "flash"),),
    ),
}


_SPEC_ORDER = ("subject", "scene", "motion", "spatial", "camera")


def _spec_for(task: str, index: int) -> _TaskSpec:
    """The spec of a default task by name; any other task borrows one by position."""
    return _SPECS.get(task) or _SPECS[_SPEC_ORDER[index % len(_SPEC_ORDER)]]


def _clip_slots(seed: int, video_id: str) -> dict[str, str]:
    """The true content of a clip, shared by all its tasks (so captions agree)."""
    rng = random.Random(f"{seed}:clip:{video_id}")  # noqa: S311 (sample data, not secrets)
    subject, short, detail = rng.choice(_SUBJECTS)
    setting, setting_detail = rng.choice(_SETTINGS)
    action, action_detail = rng.choice(_ACTIONS)
    light, light_detail = rng.choice(_LIGHTS)
    return {
        "subject": subject,
        "short": short,
        "detail": detail,
        "others": rng.choice(_OTHERS),
        "setting": setting,
        "setting_detail": setting_detail,
        "position": rng.choice(_POSITIONS),
        "composition": rng.choice(_COMPOSITIONS),
        "action": action,
        "action_detail": action_detail,
        "speed": rng.choice(_SPEEDS),
        "shot": rng.choice(_SHOTS),
        "framing": rng.choice(_FRAMINGS),
        "move": rng.choice(_MOVES),
        "angle": rng.choice(_ANGLES),
        "end": rng.choice(_CAMERA_ENDS),
        "light": light,
        "light_detail": light_detail,
    }

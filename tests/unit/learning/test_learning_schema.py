"""The label schema as configuration and the labels checked against it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.learning.schema import Label, LabelSchema, validate_label

SCHEMA = LabelSchema()
GOOD = {"perspective": "overhead", "distance": "far"}


# --- the schema ------------------------------------------------------------------------------


def test_the_default_schema_has_two_tasks_with_ordered_classes():
    assert list(SCHEMA.tasks) == ["perspective", "distance"]
    assert SCHEMA.tasks["perspective"] == ("first_person", "third_person", "overhead")
    assert SCHEMA.tasks["distance"] == ("close", "medium", "far")


def test_a_schema_is_configuration_read_from_json():
    schema = LabelSchema.model_validate_json(
        '{"tasks": {"lighting": ["day", "dusk", "night"], "motion": ["still", "moving"]}}'
    )
    assert schema.tasks == {"lighting": ("day", "dusk", "night"), "motion": ("still", "moving")}
    assert LabelSchema.model_validate_json(schema.model_dump_json()) == schema


def test_a_schema_is_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        SCHEMA.tasks = {"other": ("a", "b")}


def test_a_64_character_name_is_accepted():
    name = "a" + "b" * 63
    assert LabelSchema(tasks={name: (name, "x1")}).tasks[name] == (name, "x1")


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ({}, "tasks: at least one task is needed"),
        ({"Perspective": ("a", "b")}, "invalid task name 'Perspective'"),
        ({"2d": ("a", "b")}, "invalid task name '2d'"),
        ({"a" * 65: ("a", "b")}, "invalid task name 'a{65}'"),
        ({"has-dash": ("a", "b")}, "invalid task name 'has-dash'"),
        ({"unusable": ("a", "b")}, "'unusable' names the unusable-frame flag"),
        ({"distance": ("close",)}, "tasks.distance: at least 2 classes are needed, got 1"),
        ({"distance": ()}, "tasks.distance: at least 2 classes are needed, got 0"),
        ({"distance": ("close", "far", "close")}, "tasks.distance: class 'close' is listed twice"),
        ({"distance": ("close", "Far")}, "tasks.distance: invalid class name 'Far'"),
        ({"distance": ("close", "")}, "tasks.distance: invalid class name ''"),
    ],
)
def test_an_invalid_schema_is_refused_with_a_clear_message(tasks, message):
    with pytest.raises(ValidationError, match=message):
        LabelSchema(tasks=tasks)


# --- labels ----------------------------------------------------------------------------------


def test_a_full_answer_is_a_label_in_the_schemas_task_order():
    label = validate_label(SCHEMA, {"distance": "far", "perspective": "overhead"})
    assert label == Label(classes=GOOD, unusable=False)
    assert list(label.classes) == ["perspective", "distance"]


def test_an_unusable_frame_has_no_classes():
    assert validate_label(SCHEMA, {}, unusable=True) == Label(classes={}, unusable=True)


def test_an_unusable_frame_with_classes_is_refused():
    with pytest.raises(ValueError, match="an unusable frame takes no classes \\(got distance\\)"):
        validate_label(SCHEMA, {"distance": "far"}, unusable=True)


def test_an_unknown_task_is_named():
    with pytest.raises(ValueError, match="unknown task 'angle' \\(the tasks are perspective, dis"):
        validate_label(SCHEMA, {**GOOD, "angle": "low"})


def test_several_unknown_tasks_are_all_named():
    with pytest.raises(ValueError, match="unknown tasks 'angle', 'light'"):
        validate_label(SCHEMA, {"angle": "low", "light": "day"})


def test_an_unknown_class_is_named_with_its_task():
    with pytest.raises(
        ValueError,
        match="perspective: unknown class 'aerial' \\(the classes are first_person, third_per",
    ):
        validate_label(SCHEMA, {**GOOD, "perspective": "aerial"})


def test_a_class_of_another_task_is_unknown():
    with pytest.raises(ValueError, match="distance: unknown class 'overhead'"):
        validate_label(SCHEMA, {"perspective": "overhead", "distance": "overhead"})


def test_every_task_needs_a_class_unless_the_frame_is_unusable():
    with pytest.raises(ValueError, match="no class for distance \\(every task needs one"):
        validate_label(SCHEMA, {"perspective": "overhead"})
    with pytest.raises(ValueError, match="no class for perspective, distance"):
        validate_label(SCHEMA, {})


def test_a_label_alone_is_either_classes_or_unusable():
    with pytest.raises(ValidationError, match="an unusable frame takes no classes"):
        Label(classes=GOOD, unusable=True)
    with pytest.raises(ValidationError, match="a label needs a class for each task"):
        Label()
    assert Label.model_validate_json(Label(classes=GOOD).model_dump_json()) == Label(classes=GOOD)

"""Settings of training sets: the defaults, JSON in VIDCURATE_* variables, and refusals."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.trainsets.settings import DEFAULT_DISTRIBUTION, GridSettings, TrainsetSettings


def test_the_defaults():
    settings = TrainsetSettings()

    assert (settings.sets_bucket, settings.evaluations_bucket) == (
        "vidcurate-sets", "vidcurate-evaluations")  # fmt: skip
    distribution = settings.set_distribution
    assert distribution == DEFAULT_DISTRIBUTION
    assert list(distribution.categories) == ["photorealistic", "bw_stylized", "color_stylized"]
    assert distribution.target == {
        "photorealistic": 0.65, "bw_stylized": 0.20, "color_stylized": 0.15}  # fmt: skip
    assert (distribution.set_size, distribution.tolerance, distribution.min_quality) == (
        20, 0.10, None)  # fmt: skip
    assert settings.set_grid == GridSettings(
        thumbnail=200, columns=5, background="#F0F0F0", jpeg_quality=90, max_cells=25)  # fmt: skip
    assert settings.set_grid.background_rgb == (240, 240, 240)
    assert (settings.set_model, settings.set_temperature, settings.set_max_output_tokens,
            settings.set_model_attempts, settings.set_image_model) == (
        "gpt-4.1-mini", 0.3, 2000, 3, "gemini-2.5-flash-image")  # fmt: skip


def test_the_distribution_and_the_grid_are_json_variables(monkeypatch):
    monkeypatch.setenv("VIDCURATE_SET_DISTRIBUTION", json.dumps({
        "categories": {"sketch": "pencil sketches", "photo": "photographs"},
        "target": {"sketch": 0.3, "photo": 0.7},
        "set_size": 10,
        "min_quality": 5,
    }))  # fmt: skip
    monkeypatch.setenv("VIDCURATE_SET_GRID", '{"columns": 4, "background": "#000000"}')

    settings = TrainsetSettings()

    assert settings.set_distribution.target_counts() == {"sketch": 3, "photo": 7}
    assert settings.set_distribution.min_quality == 5
    assert (settings.set_grid.columns, settings.set_grid.background_rgb) == (4, (0, 0, 0))
    assert settings.set_grid.thumbnail == 200


def test_an_inconsistent_distribution_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("VIDCURATE_SET_DISTRIBUTION", json.dumps({
        "categories": {"a": "A", "b": "B"}, "target": {"a": 0.5, "b": 0.4}}))  # fmt: skip
    with pytest.raises(ValidationError, match=r"sum to 0\.9, not 1"):
        TrainsetSettings()


def test_an_unpriced_set_model_is_refused(monkeypatch):
    monkeypatch.setenv("VIDCURATE_SET_MODEL", "gpt-4.1-mni")
    with pytest.raises(ValidationError, match="VIDCURATE_SET_MODEL: no price for model"):
        TrainsetSettings()
    monkeypatch.setenv(
        "VIDCURATE_MODEL_PRICES",
        '{"gpt-4.1-mni": {"input_per_million": 1, "output_per_million": 2}}',
    )
    assert TrainsetSettings().set_model == "gpt-4.1-mni"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"background": "grey"}, "not a #RRGGBB colour"),
        ({"background": "#F0F0F"}, "not a #RRGGBB colour"),
        ({"columns": 0}, "columns"),
        ({"jpeg_quality": 100}, "jpeg_quality"),
        ({"max_cells": 0}, "max_cells"),
        ({"thumbnail": 8}, "thumbnail"),
        ({"colums": 4}, "colums"),
    ],
)
def test_grid_settings_refuse_nonsense(fields, message):
    with pytest.raises(ValidationError, match=message):
        GridSettings(**fields)

"""Settings of caption campaigns: task sets and the size limits of dropped files."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.captions.layout import NAME_PATTERN
from shared.publishing import PublishingSettings

DEFAULT_TASK_SETS: dict[str, dict[str, str]] = {
    "default": {
        "subject": "subject_description",
        "scene": "scene_composition_dynamics",
        "motion": "subject_motion_dynamics",
        "spatial": "spatial_framing_dynamics",
        "camera": "camera_framing_dynamics",
    }
}


class CaptionSettings(PublishingSettings):
    """Task sets by config type, and what an ingested file may weigh (exports are published
    with the publishing settings)."""

    task_sets: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_TASK_SETS.items()},
        description=(
            "Caption task sets by config type: {config_type: {task: long name}}, as JSON in "
            "VIDCURATE_TASK_SETS. 'default' is always present unless redefined."
        ),
    )
    max_annotation_bytes: int = Field(
        256 << 10,
        gt=0,
        le=300 << 10,
        description=(
            "Largest feedback/review file ingested; bigger ones are quarantined. At most "
            "300 KiB: a task document holds three files and must stay under Firestore's 1 MiB."
        ),
    )
    max_video_list_bytes: int = Field(
        64 << 20, gt=0, description="Largest videos/*.jsonl file ingested."
    )
    export_lease_seconds: float = Field(
        300.0,
        gt=0,
        description=(
            "How long an export in progress keeps its folder without a sign of life (it "
            "renews this before each file); past it, the next export clears what its writer "
            "left. Longer than writing one file may take."
        ),
    )

    @field_validator("task_sets")
    @classmethod
    def _check_task_sets(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        merged = {k: dict(v) for k, v in DEFAULT_TASK_SETS.items()}
        merged.update(value)
        for config_type, tasks in merged.items():
            if not NAME_PATTERN.fullmatch(config_type) or config_type == "videos":
                raise ValueError(f"task_sets: invalid config type name {config_type!r}")
            if not tasks:
                raise ValueError(f"task_sets.{config_type}: no tasks")
            for task, long_name in tasks.items():
                if not NAME_PATTERN.fullmatch(task) or task == "videos":
                    raise ValueError(f"task_sets.{config_type}: invalid task name {task!r}")
                if not long_name:
                    raise ValueError(f"task_sets.{config_type}.{task}: empty long name")
        return merged

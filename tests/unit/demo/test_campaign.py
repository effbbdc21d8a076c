"""The sample campaign generator: a realistic, deterministic folder and an honest summary.

The files are read back with the domain functions the ingestion uses (not with the
generator's own code), so the summary is checked against what the system will see.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from shared.captions.files import Feedback, parse_task_file, parse_video_list
from shared.captions.layout import InvalidFileError, TaskFileName, VideoListName, parse_object_name
from shared.captions.settings import DEFAULT_TASK_SETS
from shared.captions.status import STATUSES, EdgeCase, derive_status
from shared.demo.campaign import CampaignSummary, generate_campaign

CONFIG = "default"
STAGE_2 = (
    "initial_feedback",
    "gpt_feedback",
    "gpt_feedback_llm",
    "gpt_feedback_prompt",
    "feedback_rating_score",
    "final_feedback",
    "gpt_caption",
    "gpt_caption_prompt",
    "gpt_caption_llm",
    "caption_rating_score",
)


def folder_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class ReadBack:
    """The campaign folder as the ingestion will see it."""

    def __init__(self, root: Path, tasks: list[str]) -> None:
        self.registered: dict[str, str] = {}
        self.valid: dict[str, dict[str, Any]] = {}
        self.invalid: dict[str, str] = {}
        self.grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            name = f"{CONFIG}/{rel}"
            parsed = parse_object_name(name)
            try:
                if isinstance(parsed, VideoListName):
                    self.registered.update(parse_video_list(name, path.read_bytes()))
                    continue
                assert isinstance(parsed, TaskFileName)
                content = parse_task_file(name, parsed.kind, path.read_bytes())
            except InvalidFileError as exc:
                self.invalid[rel] = str(exc)
                continue
            self.valid[rel] = content
            key = (parsed.video_id, parsed.task)
            self.grouped.setdefault(key, {})[parsed.kind] = content
        self.statuses: dict[tuple[str, str], str] = {}
        self.edges: set[tuple[str, str, str]] = set()
        for video_id in self.registered:
            for task in tasks:
                derived = derive_status(self.grouped.get((video_id, task), {}))
                self.statuses[video_id, task] = derived.status.value
        for (video_id, task), files in self.grouped.items():
            derived = derive_status(files)
            self.edges.update((code.value, task, video_id) for code, _ in derived.edge_cases)
            if task not in tasks:
                self.edges.add((EdgeCase.TASK_NOT_IN_CONFIG.value, task, video_id))
            if video_id not in self.registered:
                self.edges.add((EdgeCase.VIDEO_NOT_REGISTERED.value, task, video_id))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> CampaignSummary:
    return generate_campaign(tmp_path_factory.mktemp("campaign") / "sample")


@pytest.fixture(scope="module")
def read_back(campaign: CampaignSummary) -> ReadBack:
    return ReadBack(campaign.out_dir, campaign.tasks)


def test_defaults_use_the_default_task_set(campaign: CampaignSummary) -> None:
    assert campaign.tasks == list(DEFAULT_TASK_SETS["default"])
    assert campaign.seed == 7
    assert campaign.extra_task == "lighting"


def test_at_least_200_videos_registered_from_two_lists(
    campaign: CampaignSummary, read_back: ReadBack
) -> None:
    assert campaign.videos >= 200
    assert len(campaign.video_ids) == campaign.videos
    assert sorted(read_back.registered) == sorted(campaign.video_ids)
    lists = sorted(p.name for p in (campaign.out_dir / "videos").iterdir())
    assert lists == ["batch_01.jsonl", "batch_02.jsonl"]
    per_list = [
        parse_video_list("x", (campaign.out_dir / "videos" / name).read_bytes()) for name in lists
    ]
    assert all(per_list)
    assert not set(per_list[0]) & set(per_list[1])
    assert read_back.registered["vid_00017"] == (
        "https://storage.googleapis.com/vidcurate-sample/videos/vid_00017.mp4"
    )


def test_every_status_in_every_task(campaign: CampaignSummary) -> None:
    for task in campaign.tasks:
        counts = campaign.status_counts[task]
        assert set(counts) == {s.value for s in STATUSES}
        assert all(count > 0 for count in counts.values()), (task, counts)
        assert sum(counts.values()) == campaign.videos


def test_proportions_are_realistic(campaign: CampaignSummary) -> None:
    for task in campaign.tasks:
        share = {k: v / campaign.videos for k, v in campaign.status_counts[task].items()}
        assert 0.08 <= share["not_completed"] <= 0.30, (task, share)
        assert 0.15 <= share["completed_not_reviewed"] <= 0.40, (task, share)
        assert 0.30 <= share["approved"] <= 0.60, (task, share)
        assert 0.07 <= share["rejected"] <= 0.25, (task, share)
    # the tasks do not all look alike
    assert len({tuple(c.values()) for c in campaign.status_counts.values()}) > 1


def test_summary_statuses_match_the_files(campaign: CampaignSummary, read_back: ReadBack) -> None:
    assert campaign.statuses == read_back.statuses
    assert set(campaign.statuses) == {(v, t) for v in campaign.video_ids for t in campaign.tasks}
    for task in campaign.tasks:
        for status, count in campaign.status_counts[task].items():
            assert count == sum(
                1 for v in campaign.video_ids if read_back.statuses[v, task] == status
            )


def test_every_edge_case_a_few_times(campaign: CampaignSummary, read_back: ReadBack) -> None:
    assert set(campaign.edge_cases) == read_back.edges
    assert campaign.edge_cases == sorted(campaign.edge_cases)
    codes = [code for code, _task, _video in campaign.edge_cases]
    for code in EdgeCase:
        assert codes.count(code.value) >= 2, code
    task_not_in_config = [e for e in campaign.edge_cases if e[0] == "task_not_in_config"]
    assert {task for _c, task, _v in task_not_in_config} == {"lighting"}
    unregistered = {v for c, _t, v in campaign.edge_cases if c == "video_not_registered"}
    assert unregistered == set(campaign.unregistered_videos)
    assert not unregistered & set(read_back.registered)
    assert set(campaign.other_statuses) == {
        key for key in read_back.grouped if key[0] in unregistered or key[1] == "lighting"
    }


def test_annotators_and_reviewer(campaign: CampaignSummary, read_back: ReadBack) -> None:
    assert campaign.annotators == ["alice", "bob"]
    assert campaign.reviewer == "rita"
    users = {c["user"] for rel, c in read_back.valid.items() if "_feedback" in rel}
    reviewers = {
        c["reviewer"] for rel, c in read_back.valid.items() if rel.endswith("_review.json")
    }
    assert users == {"alice", "bob", "rita"}
    assert reviewers == {"rita"}


def test_rejections_keep_the_annotators_version(
    campaign: CampaignSummary, read_back: ReadBack
) -> None:
    edge_keys = {(video, task) for _c, task, video in campaign.edge_cases}
    rejected = [
        key
        for key, status in campaign.statuses.items()
        if status == "rejected" and key not in edge_keys
    ]
    assert rejected
    for key in rejected:
        files = read_back.grouped[key]
        assert files["review"]["reviewer_double_check"] is False
        assert files["feedback_prev"]["user"] in campaign.annotators
        assert files["feedback"]["user"] == campaign.reviewer
        assert files["feedback"]["final_caption"] != files["feedback_prev"]["final_caption"]
        assert files["feedback"]["timestamp"] > files["feedback_prev"]["timestamp"]


def test_feedback_files_are_whole_workflows(read_back: ReadBack) -> None:
    feedbacks = [c for rel, c in read_back.valid.items() if "_feedback" in rel]
    assert {c["workflow_type"] for c in feedbacks} == {"perfect_precaption", "improved_precaption"}
    assert {c["pre_caption_mode"] for c in feedbacks} == {"Text", "Image", "Video"}
    assert len({c["final_caption"] for c in feedbacks}) > len(feedbacks) // 3
    for content in feedbacks:
        Feedback.model_validate(content)
        perfect = content["initial_caption_rating_score"] == 5
        assert content["feedback_is_needed"] is not perfect
        if perfect:
            assert content["workflow_type"] == "perfect_precaption"
            assert content["final_caption"] == content["pre_caption"]
            assert not set(STAGE_2) & set(content)
        else:
            assert content["workflow_type"] == "improved_precaption"
            assert set(STAGE_2) <= set(content)
        assert content["timestamp"].startswith("2025-")


def test_unknown_fields_are_present_and_kept(read_back: ReadBack) -> None:
    extra = [c for c in read_back.valid.values() if "annotation_tool_version" in c]
    assert extra
    model = Feedback.model_validate(extra[0])
    assert model.model_extra == {"annotation_tool_version": extra[0]["annotation_tool_version"]}


def test_untouched_and_mixed_videos(campaign: CampaignSummary, read_back: ReadBack) -> None:
    assert len(campaign.untouched_videos) >= campaign.videos // 10
    touched = {video for video, _task in read_back.grouped}
    assert not touched & set(campaign.untouched_videos)
    for video in campaign.untouched_videos:
        assert all(campaign.statuses[video, t] == "not_completed" for t in campaign.tasks)

    mixed = campaign.mixed_video
    assert mixed == "vid_00017"
    statuses = {campaign.statuses[mixed, t] for t in campaign.tasks}
    assert statuses == {s.value for s in STATUSES}
    assert any(video == mixed for _c, _t, video in campaign.edge_cases)
    files = [
        c
        for (video, _t), kinds in read_back.grouped.items()
        if video == mixed
        for c in kinds.values()
    ]
    assert {c["user"] for c in files if "user" in c} >= {"alice", "bob"}
    assert {c["reviewer"] for c in files if "reviewer" in c} == {"rita"}


def test_bad_files_are_invalid_and_everything_else_valid(
    campaign: CampaignSummary, read_back: ReadBack
) -> None:
    assert len(campaign.bad_files) >= 3
    assert sorted(read_back.invalid) == sorted(rel for rel, _why in campaign.bad_files)
    messages = " ".join(read_back.invalid.values())
    assert "not valid JSON" in messages
    assert "initial_caption_rating_score" in messages
    assert "reviewer_double_check" in messages
    for rel, _why in campaign.bad_files:
        parsed = parse_object_name(f"{CONFIG}/{rel}")
        assert isinstance(parsed, TaskFileName)
        with pytest.raises(InvalidFileError):
            parse_task_file(rel, parsed.kind, (campaign.out_dir / rel).read_bytes())
    written = sorted(
        p.relative_to(campaign.out_dir).as_posix()
        for p in campaign.out_dir.rglob("*")
        if p.is_file()
    )
    assert written == campaign.files
    assert campaign.files_written == len(written)
    assert len(read_back.valid) + len(read_back.invalid) + 2 == len(written)


def test_bad_files_do_not_change_statuses(campaign: CampaignSummary, tmp_path: Path) -> None:
    clean = generate_campaign(tmp_path / "clean", include_bad_files=False)
    assert clean.bad_files == []
    assert clean.statuses == campaign.statuses
    assert clean.edge_cases == campaign.edge_cases
    assert not ReadBack(clean.out_dir, clean.tasks).invalid
    assert clean.files_written < campaign.files_written


def test_same_seed_same_bytes_other_seed_other_bytes(
    campaign: CampaignSummary, tmp_path: Path
) -> None:
    again = generate_campaign(tmp_path / "again")
    other = generate_campaign(tmp_path / "other", seed=8)
    assert folder_digest(again.out_dir) == folder_digest(campaign.out_dir)
    assert again.statuses == campaign.statuses
    assert folder_digest(other.out_dir) != folder_digest(campaign.out_dir)
    assert other.statuses != campaign.statuses


def test_json_files_are_indented(campaign: CampaignSummary) -> None:
    rel = next(
        r
        for r in campaign.files
        if r.endswith("_feedback.json") and r not in dict(campaign.bad_files)
    )
    text = (campaign.out_dir / rel).read_text()
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_custom_tasks_and_small_campaign(tmp_path: Path) -> None:
    summary = generate_campaign(
        tmp_path / "small",
        videos=30,
        seed=3,
        tasks={"lighting": "lighting_conditions", "mood": "mood"},
    )
    assert summary.tasks == ["lighting", "mood"]
    assert summary.extra_task not in summary.tasks
    back = ReadBack(summary.out_dir, summary.tasks)
    assert back.statuses == summary.statuses
    assert set(summary.edge_cases) == back.edges
    assert {code for code, _t, _v in summary.edge_cases} == {code.value for code in EdgeCase}
    for task in summary.tasks:
        assert all(summary.status_counts[task].values())


def test_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_campaign(tmp_path / "a", videos=5)
    with pytest.raises(ValueError, match="reviewer"):
        generate_campaign(tmp_path / "b", reviewer="alice")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_campaign(busy)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]

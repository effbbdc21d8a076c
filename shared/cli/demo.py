"""``vidcurate demo``: a caption-annotation campaign, end to end, on the embedded stand-ins.

It generates a realistic campaign (240 videos, two annotators and a reviewer, every status,
every edge case and a few broken files), drops it into the annotations bucket exactly as an
annotation tool would, lets the event runtime ingest it, shows that a strict export refuses
the edge cases, exports with ``--ignore-errors``, generates the seven critique types of every
reviewed caption (offline unless API keys are set), consolidates them, adds video clips,
samples and describes their frames, draws a contact sheet, and says where everything is.
With HF_TOKEN and VIDCURATE_HF_DATASET set, the export is also published.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from shared.captions.export import ExportBlockedError, run_export
from shared.captions.messages import ExportRequest
from shared.cli import captions as captions_cli
from shared.cli import critiques as critiques_cli
from shared.cli import frames as frames_cli
from shared.config import Settings
from shared.critiques.messages import CritiqueRequest
from shared.critiques.status import status_report
from shared.demo.campaign import generate_campaign
from shared.demo.clips import SAMPLE_CLIPS, demo_clips
from shared.llm.ledger import summarize_costs
from shared.platform.context import Context
from shared.vision.messages import AnalysisRequest

SHOWN_PROBLEMS = 5


def run_demo(
    services: Context[Settings],
    console: Console,
    *,
    videos: int = 240,
    export_dir: Path | None = None,
) -> bool:
    """Run the demo on ``services``; returns whether every step succeeded."""
    settings = services.settings
    run = uuid.uuid4().hex[:8]
    home = settings.home.resolve()
    campaign_dir = home / "campaigns" / f"demo-{run}"
    export_dir = export_dir or home / "exports"
    console.print(
        Panel.fit(
            f"vidcurate demo (run {run}) on the [bold]{settings.backend}[/] backend\n"
            f"data under {home if settings.backend == 'local' else settings.annotations_bucket}",
            title="vidcurate",
        )
    )
    summary = generate_campaign(campaign_dir, videos=videos, seed=7)
    console.print(
        f"• generated a campaign of {summary.videos} videos x {len(summary.tasks)} tasks "
        f"({summary.files_written} files, annotators {', '.join(summary.annotators)}, "
        f"reviewer {summary.reviewer}, {len(summary.edge_cases)} planted edge cases, "
        f"{len(summary.bad_files)} broken files) in {campaign_dir}"
    )
    console.print("• dropping it into the annotations bucket as an annotation tool would")
    report = captions_cli.ingest_folder(console, services, campaign_dir, "default")

    console.print("• a strict export first (what `vidcurate export` does without flags):")
    try:
        run_export(services, ExportRequest(), request_id=f"demo-strict-{run}")
    except ExportBlockedError as exc:
        head, *problems = str(exc).splitlines()
        console.print(f"  [yellow]{head}[/]")
        for line in problems[:SHOWN_PROBLEMS]:
            console.print(f"  {line.strip()}")
        if len(problems) > SHOWN_PROBLEMS:
            console.print(f"  ... {len(problems) - SHOWN_PROBLEMS} more")
    console.print("• then `vidcurate export --ignore-errors --with-history`:")
    publish = settings.hf_token is not None and settings.hf_dataset is not None
    request = ExportRequest(ignore_errors=True, with_history=True, publish=publish)
    result = captions_cli.export(console, services, request, export_dir)
    if not publish:
        console.print(
            "• Hub publishing skipped: set HF_TOKEN and VIDCURATE_HF_DATASET=owner/name "
            "to publish the export as one commit with a dataset card"
        )
    critiques_ok = True
    if result is not None:
        console.print(
            f"• critiques of every reviewed caption (`vidcurate critiques run --export-folder "
            f"{result.folder}`):"
        )
        critiques_ok = critiques_cli.run(
            console, services, CritiqueRequest(export_folder=result.folder)
        )
        spend = summarize_costs(services.documents)
        console.print(
            f"• cost ledger: {spend.calls} model calls, ${spend.cost_usd:.4f} "
            "(`vidcurate costs` for the breakdown)"
        )
        critiques = status_report(services, result.folder)
        if critiques["consolidated_file"]:
            console.print(
                f"• consolidated: gs://{settings.exports_bucket}/{critiques['consolidated_file']} "
                f"(locally under {home / 'buckets' / settings.exports_bucket})"
            )
    frames_ok = _clips_and_frames(services, console, home / "clips" / f"demo-{run}")
    console.print(
        "Next: [bold]vidcurate status[/] (per task progress), open the export folder above, "
        "or edit a file under the campaign folder and run "
        f"[bold]vidcurate ingest {campaign_dir} --config-type default[/] again."
    )
    return result is not None and critiques_ok and frames_ok and report.failed_events == 0


def _clips_and_frames(services: Context[Settings], console: Console, folder: Path) -> bool:
    """Add clips to the videos bucket, sample and describe their frames, draw a sheet."""
    clips = demo_clips(folder)
    where = "the sample clips" if clips and clips[0].parent == SAMPLE_CLIPS else "generated clips"
    console.print(
        f"• {len(clips)} clips ({where}) into the videos bucket (`vidcurate videos add`):"
    )
    failed = frames_cli.add_videos(console, services, clips, prefix="demo", metadata={})
    console.print("• their frames described (`vidcurate frames analyze --dataset demo`):")
    failed += frames_cli.analyze(console, services, AnalysisRequest(dataset="demo"), out=None)
    sheet = services.settings.home.resolve() / "contact_sheet.jpg"
    frames_bucket = services.settings.frames_bucket
    frames_cli.grid(console, services, [f"gs://{frames_bucket}/demo/"], sheet, columns=5,
                    cell=200)  # fmt: skip
    console.print(f"• contact sheet of every frame: {sheet}")
    return failed == 0

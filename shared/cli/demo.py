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

import importlib.util
import time
import uuid
from pathlib import Path
from typing import Annotated

import httpx2
import typer
from rich.console import Console
from rich.panel import Panel

from shared.captions.export import ExportBlockedError, run_export
from shared.captions.messages import ExportRequest
from shared.cli import captions as captions_cli
from shared.cli import critiques as critiques_cli
from shared.cli import frames as frames_cli
from shared.cli import labels as labels_cli
from shared.cli import sets as sets_cli
from shared.cli import videos as videos_cli
from shared.cli.running import run_until_idle
from shared.cli.session import console, exit_if, session
from shared.config import Settings
from shared.critiques import CRITIQUE_TYPES
from shared.critiques.consolidate import copy_outputs
from shared.critiques.messages import CritiqueRequest
from shared.critiques.status import status_report
from shared.demo.campaign import generate_campaign
from shared.demo.clips import SAMPLE_CLIPS, demo_clips
from shared.demo.discovery import DEMO_WORDS, discovery_source
from shared.demo.labels import (
    DEMO_ANNOTATORS,
    DEMO_ROUND,
    DEMO_TOP_K,
    DISAGREE_EVERY,
    SHARE_LABELLED,
    VARIANTS_KEY,
    scripted_answer,
)
from shared.demo.sets import variant_jpegs, write_demo_sets
from shared.discovery.runs import DiscoveryRequest, start_run
from shared.discovery.status import run_status
from shared.features.runs import Selection, create_run, load_manifest
from shared.features.tables import consolidate
from shared.features.tasks import read_result, run_task
from shared.learning import Labelling, invite
from shared.learning.rounds import RoundConfig
from shared.llm.ledger import summarize_costs
from shared.media import CLIPS, clip_id
from shared.platform.context import Context
from shared.platform.sharding import TaskSlot
from shared.trainsets.execute import rollback
from shared.trainsets.sets import add_folder, new_run, request_evaluations, set_states
from shared.vision.messages import AnalysisRequest
from shared.web.server import served

SHOWN_PROBLEMS = 5


def demo(
    videos: Annotated[int, typer.Option(help="Videos in the generated campaign (>= 20).")] = 240,
    export_dir: Annotated[
        Path | None,
        typer.Option("--export-dir", help="Where the export goes (default: HOME/exports)."),
    ] = None,
) -> None:
    """Generate a caption campaign, ingest it through the bucket, export it, critique it,
    add clips and describe their frames: the whole pipeline on this machine (about 30 s;
    ``--videos 20`` is the quick tour, a few seconds)."""
    started = time.perf_counter()
    # The demo explains each failure itself; its JSON logs would only bury the story.
    with session("CRITICAL", min_backoff_seconds=0.1, max_backoff_seconds=0.5) as services:
        console.print(
            f"vidcurate demo: {videos} videos in {services.settings.home.resolve()} "
            + ("(about 30 s; --videos 20 is the quick tour)" if videos > 20 else "(quick tour)")
        )
        ok = run_demo(services, console, videos=videos, export_dir=export_dir)
    console.print(f"demo {'done' if ok else 'finished with failures'} in "
                  f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    exit_if(not ok)


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
        f"reviewer {summary.reviewer}, {_as_detected(summary.edge_cases)} planted edge cases, "
        f"{len(summary.bad_files)} broken files) in {campaign_dir}"
    )
    console.print("• dropping it into the annotations bucket as an annotation tool would")
    report = captions_cli.ingest_folder(console, services, campaign_dir, "default")
    export_dir = export_dir or home / "exports"
    folder = _exports(services, console, run, export_dir)
    critiques_ok = folder is not None and _critiques(services, console, folder, export_dir / folder)
    frames_ok = _clips_and_frames(services, console, home / "clips" / f"demo-{run}")
    features_ok = _features(services, console)
    sets_ok = _image_sets(services, console, home / "sets" / f"demo-{run}")
    labels_ok = _labelling(services, console)
    discovery_ok = _discovery(services, console, home / "discovery" / f"demo-{run}")
    console.print(
        "Next: [bold]vidcurate status[/] (per task progress), [bold]vidcurate web[/] with a "
        "[bold]vidcurate labels invite NAME --admin[/] link (clips, labelling, status, costs, "
        "image sets, rounds, features, discovery), open the export folder above, "
        "or edit a file under the campaign folder and run "
        f"[bold]vidcurate ingest {campaign_dir} --config-type default[/] again."
    )
    return (
        folder is not None
        and critiques_ok
        and frames_ok
        and features_ok
        and sets_ok
        and labels_ok
        and discovery_ok
        and report.failed_events == 0
    )


def _as_detected(edges: list[tuple[str, str, str]]) -> int:
    """Planted edge cases counted as ingestion reports them: an unregistered video is one
    edge case whatever number of its tasks were annotated."""
    return len({(code, None if code == "video_not_registered" else task, video)
                for code, task, video in edges})  # fmt: skip


def _exports(
    services: Context[Settings], console: Console, run: str, export_dir: Path
) -> str | None:
    """A strict export (refused: the edge cases), then one with ``--ignore-errors``
    (published when the Hub is configured); the folder of the second, if it was written."""
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
    settings = services.settings
    publish = settings.hf_token is not None and settings.hf_dataset is not None
    request = ExportRequest(ignore_errors=True, with_history=True, publish=publish)
    result = captions_cli.export_captions(console, services, request, export_dir)
    if not publish:
        console.print(
            "• Hub publishing skipped: set HF_TOKEN and VIDCURATE_HF_DATASET=owner/name "
            "to publish the export as one commit with a dataset card"
        )
    return None if result is None else result.folder


def _critiques(services: Context[Settings], console: Console, folder: str, local: Path) -> bool:
    """The seven critique types of every reviewed caption, launched as seven runs (as users
    do): the export consolidates once, after the last. Then the spend and the file."""
    console.print(
        "• critiques of every reviewed caption, one run per type (`vidcurate critiques run "
        f"--export-folder {local} --critique-type TYPE`):"
    )
    ok = True
    for number, name in enumerate(CRITIQUE_TYPES, 1):
        request = CritiqueRequest(export_folder=folder, critique_types=[name])
        plan = critiques_cli.plan_in_turn(services, request)
        run_until_idle(console, services, timeout=24 * 3600)
        copy_outputs(services, folder, local)
        report = status_report(services, folder)
        row = report["by_type"].get(name, {})
        ok = ok and not row.get("failed")  # retried attempts are no failure
        done = f"{row.get('success', 0)} generated, {row.get('skipped', 0)} skipped"
        waiting = report["waiting_for"]
        after = (
            f"waiting for {len(waiting)} more type(s)"
            if waiting
            else f"all seven done: consolidated {report['consolidated_file']}"
        )
        console.print(f"  {number}/7 {name}: {plan.items} items, {done}; {after}")
    spend = summarize_costs(services.documents)
    console.print(
        f"• cost ledger: {spend.calls} model calls, ${spend.cost_usd:.4f} "
        "(`vidcurate costs` for the breakdown)"
    )
    critiques = status_report(services, folder)
    consolidated = critiques["consolidated_file"]
    if isinstance(consolidated, str):
        console.print(
            f"• consolidated: gs://{services.settings.exports_bucket}/{consolidated}, copied "
            f"with output_critiques/ into {local}"
        )
    return ok


def _clips_and_frames(services: Context[Settings], console: Console, folder: Path) -> bool:
    """Add clips to the videos bucket, sample and describe their frames, draw a sheet."""
    clips = demo_clips(folder)
    where = "the sample clips" if clips and clips[0].parent == SAMPLE_CLIPS else "generated clips"
    console.print(
        f"• {len(clips)} clips ({where}) into the videos bucket (`vidcurate videos add`):"
    )
    failed = videos_cli.add_videos(console, services, clips, prefix="demo", metadata={})
    console.print("• their frames described (`vidcurate frames analyze --prefix demo`):")
    results = services.settings.home.resolve() / "egocentric_analysis.json"
    failed += frames_cli.analyze(console, services, AnalysisRequest(dataset="demo"), out=results)
    sheet = services.settings.home.resolve() / "contact_sheet.jpg"
    frames_bucket = services.settings.frames_bucket
    frames_cli.grid(console, services, [f"gs://{frames_bucket}/demo/"], sheet, columns=5, cell=200)
    console.print(f"• contact sheet of every frame: {sheet}")
    return failed == 0


def _discovery(services: Context[Settings], console: Console, folder: Path) -> bool:
    """Word discovery offline: three words searched in a folder of clips, scored, heard and
    checked by the offline models, stored; then the HTTP API asked for one word's clips."""
    source, where = discovery_source(folder / "clips")
    words_file = folder / "words.csv"
    words_file.write_text("word\n" + "\n".join(DEMO_WORDS) + "\n")
    console.print(
        f"• word discovery (`vidcurate discover run --words {words_file} --source {source}`), "
        f"{len(DEMO_WORDS)} words over {where} with invented lines, offline models:"
    )
    request = DiscoveryRequest(words=DEMO_WORDS, words_file=str(words_file), source=str(source))
    plan = start_run(services, request, rate=None)
    run_until_idle(console, services, timeout=300)
    status = run_status(services, plan.run)
    console.print(
        f"  run {plan.run}: {status.done}/{status.queued} words done, clips "
        + ", ".join(f"{stage} {count}" for stage, count in status.clips.items())
        + f", {status.mappings} word mappings stored"
    )
    word = DEMO_WORDS[1]
    size, cache = 0, ""
    with served(services) as url, httpx2.Client(base_url=url, timeout=30) as client:
        found = client.get(f"/v3/words/{word}/videos", params={"limit": 5}).json()
        first = found["videos"][0] if found["videos"] else None
        if first is not None:
            part = client.get(first["url"], headers={"Range": "bytes=0-1023"})
            size, cache = len(part.content), part.headers["Cache-Control"]
    console.print(f"  GET /v3/words/{word}/videos: {len(found['videos'])} clip(s), by relevance:")
    for clip in found["videos"]:
        console.print(
            f"    {clip['name']}: relevance {clip['relevance_score']:.2f}, said at "
            f"{clip['timestamp'] or 0:.1f} s ({clip['transcript_source']}), {clip['url']}"
        )
    if first is not None:
        console.print(f"  GET {first['url']} with Range: bytes=0-1023 → {size} bytes, {cache}")
    return status.failed == 0 and status.done == status.queued and first is not None


def _features(services: Context[Settings], console: Console) -> bool:
    """The clips' technical facts and picture quality, as `vidcurate features run` computes
    them (the two cheap extractors: shots, motion and text decode far more)."""
    extractors = ["technical", "quality"]
    console.print(
        "• their features (`vidcurate features run --prefix demo/ --extractors "
        f"{','.join(extractors)}`):"
    )
    record = create_run(services, Selection(prefix="demo/"), extractors)
    report = run_task(services, record.run, TaskSlot())
    consolidate(services, record.run)
    bucket = services.settings.features_bucket
    for entry in load_manifest(services, record.run)[:4]:
        technical = read_result(services, "technical", entry)
        quality = read_result(services, "quality", entry)
        if technical is None or quality is None:
            continue
        console.print(
            f"  {entry.video_id}: {technical['width']}x{technical['height']} "
            f"{technical['video_codec']} {technical['fps'] or 0:.0f} fps "
            f"{technical['duration']:.0f} s, sharpness {quality['sharpness'] or 0:.0f}, "
            f"brightness {quality['brightness'] or 0:.0f}"
        )
    console.print(
        f"  {report.computed} videos extracted, {report.failed} failed; tables in "
        f"gs://{bucket}/tables/{record.run}/"
    )
    return report.failed == 0


def _image_sets(services: Context[Settings], console: Console, folder: Path) -> bool:
    """Training sets made from the demo's frames, off their target mix on purpose: evaluated
    (a dry run), their plans applied, evaluated again, and one rolled back."""
    frames_bucket = services.settings.frames_bucket
    frames = [
        services.blobs.read(frames_bucket, info.name)
        for info in services.blobs.list(frames_bucket, "demo/")
        if info.name.endswith(".jpg")
    ]
    made = write_demo_sets(frames, folder)
    ids = list(made)
    for set_id, path in made.items():
        add_folder(services, path, set_id)
    categories = list(services.settings.set_distribution.categories)
    console.print(
        f"• {len(ids)} training image sets from those frames in {folder}, photographs and "
        "stylised copies mixed off the 13/4/3 target on purpose (`vidcurate sets add`); "
        "evaluated, a dry run (`vidcurate sets evaluate --all`):"
    )
    request_evaluations(services, ids, new_run())
    run_until_idle(console, services, timeout=3600)
    sets_cli.print_states(console, set_states(services, ids), categories)
    console.print("• the plans applied (`--execute`: surplus to the trash, missing ones drawn):")
    request_evaluations(services, ids, new_run(), execute=True)
    run_until_idle(console, services, timeout=3600)
    sets_cli.print_states(console, set_states(services, ids), categories)
    console.print("• evaluated again, the new balance:")
    request_evaluations(services, ids, new_run())
    run_until_idle(console, services, timeout=3600)
    rows = set_states(services, ids)
    sets_cli.print_states(console, rows, categories)
    undone = rollback(services, ids[0])
    console.print(
        f"• `vidcurate sets rollback --set {ids[0]}`: operation {undone.operation} undone, "
        f"{len(undone.deleted)} image(s) restored, {len(undone.generated)} removed"
    )
    return all(row["status"] == "evaluated" for row in rows)


def _labelling(services: Context[Settings], console: Console) -> bool:
    """Two scripted annotators label part of the frames through the web app's own path (one
    disagrees on purpose); their progress and agreement as `vidcurate labels status` shows.
    Then two tiny active-learning rounds on those labels."""
    added = _variant_frames(services)
    labelling = Labelling(services)
    for name in DEMO_ANNOTATORS:
        invite(services.documents, name)
    for name in DEMO_ANNOTATORS:
        share = round(len(labelling.queue(name)) * SHARE_LABELLED)
        _answer_queue(labelling, name, share, disagreeing=name == DEMO_ANNOTATORS[1])
    console.print(
        f"• the sample frames and {added} crops and mirrors of them (clips `{VARIANTS_KEY}/...`, "
        f"so that a round has enough) labelled by two annotators ({', '.join(DEMO_ANNOTATORS)}),"
        f" {SHARE_LABELLED:.0%} of their own queue each, {DEMO_ANNOTATORS[1]} disagreeing every "
        f"{DISAGREE_EVERY}th frame (`vidcurate labels status`; `vidcurate web` and `vidcurate "
        "labels invite NAME` open the labelling page):"
    )
    status = labelling.status()
    labels_cli.print_label_status(console, status)
    labelled = all(p.labelled > 0 for p in status.annotators if p.annotator in DEMO_ANNOTATORS)
    return labelled and _learning(services, console)


def _variant_frames(services: Context[Settings]) -> int:
    """Register ten crops and mirrors of every sample frame as extra sampled clips."""
    bucket = services.settings.frames_bucket
    sources = [
        services.blobs.read(bucket, info.name)
        for info in services.blobs.list(bucket, "demo/")
        if info.name.endswith(".jpg")
    ]
    added = 0
    for n, group in enumerate(variant_jpegs(sources)):
        key = f"{VARIANTS_KEY}/frame{n:03d}"
        frames = []
        for m, data in enumerate(group):
            path = f"{key}/{m * 1000}.jpg"
            services.blobs.write(bucket, path, data, content_type="image/jpeg")
            frames.append({"timestamp": float(m), "path": path})
        services.documents.set(
            f"{CLIPS}/{clip_id(bucket, key)}",
            {"status": "done", "name": key, "video_key": key, "frames": frames},
        )
        added += len(group)
    return added


def _learning(services: Context[Settings], console: Console) -> bool:
    """Rounds 0 and 1 of active learning on those labels, small enough for the CPU."""
    if importlib.util.find_spec("torch") is None:
        console.print("• active learning skipped: torch is not installed (the `learn` extra)")
        return True
    from shared.learning.train import run_round  # noqa: PLC0415 (torch loads only here)

    workdir = services.settings.home.resolve() / "learn-cache"
    for number in (0, 1):
        if number:  # the annotators answer what round 0 asked first
            _label_queue_head(services, console, DEMO_TOP_K)
        config = RoundConfig(round=number, **DEMO_ROUND)
        result = run_round(services, config, workdir)
        test = result.metrics.get("sets", {}).get("test", {})
        scores = ", ".join(
            f"{task} accuracy {m['accuracy']:.2f}, macro F1 {m['macro_f1']:.2f}"
            for task, m in test.items()
        )
        console.print(
            f"• active-learning round {number} (`vidcurate learn round`, resnet18 at "
            f"{config.image_size} px, "
            f"{config.epochs} epochs, CPU) in {result.metrics.get('seconds', 0):.0f} s: test "
            f"{scores}; started from {result.metrics['started_from']['perspective']}"
        )
        for line in result.metrics["guidance"]["advice"]:
            console.print(f"  guidance: {line}")
        console.print(f"  the new queue's head (first on the labelling page): {result.queue[:3]}")
    return True


def _label_queue_head(services: Context[Settings], console: Console, count: int) -> None:
    """Both annotators label the frames the last round put at the head of their queues."""
    labelling = Labelling(services)  # a fresh one: it reads the new active queue
    for name in DEMO_ANNOTATORS:
        _answer_queue(labelling, name, count, disagreeing=False)
    console.print(f"• both annotators labelled the {count} frames round 0 asked about first")


def _answer_queue(labelling: Labelling, name: str, count: int, *, disagreeing: bool) -> None:
    """``name`` answers the first ``count`` frames of their queue with the scripted answers
    (``disagreeing``: another class on every DISAGREE_EVERY-th), through the web app's path."""
    queue = labelling.queue(name)
    labels = labelling.labels(name, refresh=True)
    for position, frame_id in enumerate(queue.frame_ids[:count]):
        disagree = disagreeing and position % DISAGREE_EVERY == 0
        record = labels.get(frame_id)
        labelling.answer(
            name,
            position=position,
            frame_id=frame_id,
            queue_version=queue.version,
            revision=record.revision if record else 0,
            classes=scripted_answer(labelling.schema, frame_id, disagree=disagree),
        )

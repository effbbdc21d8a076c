"""``vidcurate discover run|status|bundles``: word-driven video discovery."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from shared.cli.running import run_locally
from shared.cli.session import JsonOption, console, echo_json, fail_usage, output_console, session
from shared.cli.tables import table
from shared.config import Settings
from shared.discovery.bundles import BundlesFileError, coverage, load_bundles
from shared.discovery.runs import (
    DiscoveryRequest,
    WordsFileError,
    latest_run,
    read_words,
    start_run,
)
from shared.discovery.status import DiscoveryStatus, run_status
from shared.llm.client import model_client
from shared.llm.speech import transcription_client
from shared.platform.context import Context

LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")

discover_app = typer.Typer(
    help="Find short movie clips that teach the words of a vocabulary list.",
    no_args_is_help=True,
)
bundles_app = typer.Typer(help="Vocabulary bundles and their coverage.", no_args_is_help=True)
discover_app.add_typer(bundles_app, name="bundles")


def _source(value: str) -> str:
    if value == "clipcafe":
        return value
    folder = Path(value).expanduser()
    if not value.strip() or not folder.is_dir():
        fail_usage(f"--source: {value} is neither 'clipcafe' nor a folder of clips")
    return str(folder.resolve())


@discover_app.command("run")
def discover_run(
    words: Annotated[
        Path, typer.Option(help="CSV of words: a 'word' column, or one word per line.")
    ],
    source: Annotated[
        str | None,
        typer.Option(help="'clipcafe', or a folder of clips in its shape (default: the setting)."),
    ] = None,
    language: Annotated[str, typer.Option(help="The learners' language (ISO 639-1).")] = "en",
    max_videos: Annotated[int, typer.Option(min=1, max=1000, help="Most clips per word.")] = 100,
    min_score: Annotated[
        float, typer.Option(min=0, max=1, help="Lowest relevance a mapping keeps.")
    ] = 0.6,
    max_mappings: Annotated[int, typer.Option(min=1, max=50, help="Most words per clip.")] = 5,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would run and cost; queue nothing.")
    ] = False,
    max_cost_usd: Annotated[
        float | None,
        typer.Option(help="Queue only the words whose estimated model spend fits under this."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Locally: give up delivering after this many seconds.")
    ] = 3600.0,
) -> None:
    """One message per word: search, score, fetch and hear, review and store, each stage
    cached (a word done before costs nothing); then the run's status."""
    if not LANGUAGE.match(language):
        fail_usage(f"--language: {language!r} is not a language code (ISO 639-1, e.g. en)")
    if max_cost_usd is not None and not max_cost_usd > 0:
        fail_usage(f"--max-cost-usd: {max_cost_usd:g} leaves nothing to spend; give more than 0")
    try:
        listed = read_words(words)
    except WordsFileError as exc:
        fail_usage(f"--words: {exc}")
    with session() as services:
        settings = services.settings
        chosen = _source(settings.clip_source if source is None else source)
        if settings.backend == "local":
            services.clip_source(chosen)  # a missing key is said here, not by every search
        rate = settings.clip_search_per_minute if chosen == "clipcafe" else None
        request = DiscoveryRequest(
            words=tuple(listed),
            words_file=str(words),
            language=language,
            source=chosen,
            max_videos=max_videos,
            min_score=min_score,
            max_mappings=max_mappings,
            dry_run=dry_run,
            max_cost_usd=max_cost_usd,
        )
        plan = start_run(services, request, rate=rate)
        offline = all(
            model_client(services).is_offline(m)
            for m in (settings.candidate_model, settings.final_model)
        ) and transcription_client(services).is_offline(settings.transcription_model)
        spend = (
            "offline models (labelled as such), no model spend"
            if offline
            else f"model spend at most about ${plan.estimate_usd:.2f}"
        )
        pace = (
            f", searches take about {plan.search_minutes:.0f} min at {rate:g}/min" if rate else ""
        )
        console.print(
            f"{'dry run: ' if plan.dry_run else f'run {plan.run}: '}{plan.words} words from "
            f"{words}, up to {max_videos} clips each from {chosen}; {spend}{pace}"
        )
        if plan.capped:
            console.print(
                f"--max-cost-usd {max_cost_usd:g}: {plan.capped} word(s) left for a later run"
            )
        if plan.dry_run:
            return
        run_locally(
            console,
            services,
            timeout,
            elsewhere=(
                f"queued {plan.queued} words; follow: vidcurate discover status --run {plan.run}"
            ),
        )
        if services.settings.backend == "local":
            _print_status(run_status(services, plan.run))


def _chosen(services: Context[Settings], run: str | None) -> str:
    chosen = run or latest_run(services)
    if chosen is None:
        fail_usage("no discovery run yet: vidcurate discover run --words FILE.csv")
    return chosen


def _print_status(status: DiscoveryStatus) -> None:
    eta = ""
    if status.eta_seconds is not None and status.remaining:
        hours, rest = divmod(int(status.eta_seconds), 3600)
        eta = f", about {hours}h{rest // 60:02d}m left"
    pace = f", {status.words_per_minute:g} words/min" if status.words_per_minute else ""
    console.print(
        f"run {status.run} ({status.source}): {status.done}/{status.queued} words done, "
        f"{status.failed} failed, {status.remaining} remaining{pace}{eta}"
        + (f"; {status.no_clips} found no clip" if status.no_clips else "")
    )
    clips = table("Clips", ["stage", "clips"])
    for stage, count in status.clips.items():
        clips.add_row(stage, str(count))
    console.print(clips)
    console.print(
        f"{status.mappings} word mappings stored; {status.calls} model calls, "
        f"${status.cost_usd:.4f}"
    )
    for word, reason in status.failures.items():
        console.print(f"  failed {word!r}: {reason}")
    if status.refusals:
        console.print(
            "not mapped: "
            + "; ".join(f"{reason} ({count})" for reason, count in status.refusals.items())
        )


@discover_app.command("status")
def discover_status(
    run: Annotated[str | None, typer.Option(help="Default: the latest run.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Words done, failed (with the reason) and remaining; clips per stage; cost; ETA."""
    with session(create_home=False) as services:
        status = run_status(services, _chosen(services, run))
    if as_json:
        echo_json(status.model_dump(mode="json"))
        return
    _print_status(status)


@bundles_app.command("load")
def bundles_load(
    file: Annotated[Path, typer.Argument(help="CSV with bundle and word columns (language).")],
    as_json: JsonOption = False,
) -> None:
    """Load vocabulary bundles: each word's bundles (added to those it had)."""
    with session() as services:
        try:
            loaded = load_bundles(services.documents, file)
        except BundlesFileError as exc:
            fail_usage(str(exc))
    if as_json:
        echo_json({"bundles": loaded.bundles, "words": loaded.words})
        return
    report = output_console(as_json)
    report.print(
        f"{file}: {loaded.words} words in {len(loaded.bundles)} bundles ("
        + ", ".join(f"{b} {n}" for b, n in loaded.bundles.items())
        + ")"
    )


@bundles_app.command("coverage")
def bundles_coverage(
    bundle: Annotated[str, typer.Argument(help="The bundle's id (e.g. toefl-intermediate).")],
    as_json: JsonOption = False,
) -> None:
    """How many of the bundle's words have clips, and the relevance of their mappings."""
    with session(create_home=False) as services:
        found = coverage(services.documents, bundle)
    if found is None:
        fail_usage(f"no bundle {bundle!r}: vidcurate discover bundles load FILE")
    if as_json:
        echo_json(found.model_dump(mode="json"))
        return
    console.print(
        f"{bundle}: {found.covered}/{found.words} words have clips ({found.coverage:.0%}), "
        f"{found.mappings} mappings; relevance by tenth: {found.score_distribution}"
    )
    if found.uncovered:
        console.print("  without clips: " + ", ".join(found.uncovered[:50]))

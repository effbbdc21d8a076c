"""Pull WebDataset tar shards of a Hugging Face dataset into the videos bucket.

A shard is one ``.tar`` file of a dataset repo (``OWNER/NAME``), e.g. Egocentric-10K's
``factory_001/workers/worker_001/factory001_worker001_part00.tar``. :func:`list_shards` lists
them (sorted: a shard's index is its position in that list) and :func:`select_shards` picks
some by index or name. :func:`pull_shard` downloads one whole shard with ``hf_hub_download``
(a plain file download, not the slow streaming API), reads it member by member with
``tarfile`` in streaming mode and stores every sample that has a video:

- ``<prefix>/<sample key>.<ext>`` in the videos bucket: the video member's bytes, its content
  type from the extension, and the sample's ``.json`` as object metadata (scalar values as
  ``str()`` gives them, as ``vidcurate videos add`` does; ``null`` and nested values as
  compact JSON; fields that do not fit Cloud Storage's 8 KiB of custom metadata are left
  out, and counted);
- ``<prefix>/<sample key>.json`` beside it: the sample's JSON as it is in the shard
  (``application/json``), written before the video so that it is there when the video's
  object event arrives.

``<prefix>`` is :func:`dataset_prefix`: ``OWNER--NAME`` (``builddotai/Egocentric-10K`` ->
``builddotai--Egocentric-10K``). Hub repo ids never contain ``--``, so the mapping is
reversible and two owners' datasets of the same name never share a prefix; every character
is one that object names and file systems take as is. The sample key keeps its folders, as
WebDataset keys do: the member path without the extension(s) of its base name
(``a/b.left.mp4``: key ``a/b``, extension ``left.mp4``).

Resumable without duplicates: an object that already holds the same bytes (MD5) and
metadata is not written again, so pulling a shard again after a crash, a truncated download
or a rejected member writes only what is missing. Replacements are conditional on the
generation that was compared, so a concurrent writer is never overwritten blindly.

The shard is untrusted input. Members with an absolute path, a ``..`` component, a
backslash or control characters, links (symbolic or hard), devices, FIFOs and anything that
is not a regular file or a folder are refused, as are more members, bigger members, bigger
samples or more bytes in all than :class:`PullLimits` allows: a :class:`ShardRejectedError`
names the shard, the member and why, and stops the pull. A truncated or otherwise unreadable
shard raises :class:`ShardCorruptError`, naming the member where it broke off (tarfile ends
quietly at a missing or garbled header, so the end-of-archive marker is checked too). Either
way the samples stored before stay; the sample being read when the pull stopped is not
stored (it may be incomplete), and a pull of a repaired shard picks up from there. Nothing
is extracted to disk: members are read from the tar stream, and only the members of one
sample (its videos and its JSON) are held in memory at a time.

Documents::

    dataset_shards/<id>   one per (dataset, shard): status pulling | done | failed, the
                          holder's lease while pulling, attempts, counts of the last attempt
                          (samples, clips and sidecars written or already present, skipped
                          samples, errors and the first of them) and the reason it failed.

A delivery that finds the shard done does nothing (unless ``force``); one that finds it being
pulled under another delivery's live lease raises :class:`~shared.core.errors.TransientError`
(retried later); a failed or abandoned pull (its lease expired) is taken over.

The Hub is read through the Hub adapter's retry layer (:mod:`shared.adapters.hf`), with
``settings.hf_token`` (HF_TOKEN; Secret Manager in the cloud), which is never logged nor put
in a message.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from shared.media.settings import MediaSettings
from shared.media.shards.errors import MAX_ERROR_CHARS, PullLimits
from shared.media.shards.messages import (
    SHARD_PULLS,
    SHARD_SUFFIX,
    SamplePick,
    ShardPullRequest,
    _check_dataset,
    check_shard_name,
)
from shared.media.shards.store import (
    ProgressCallback,
    PullResult,
    _claim,
    _finish,
    _recorded_result,
    shard_state_path,
)
from shared.media.shards.tar import _ShardPull
from shared.platform.context import Context
from shared.ports.datasets import ShardNotFoundError, ShardSource

log = logging.getLogger("vidcurate.datasets")


def list_shards(source: ShardSource, dataset: str) -> list[str]:
    """The dataset's ``.tar`` files, sorted: a shard's index is its position here."""
    dataset = _check_dataset(dataset)
    files = source.list_files(dataset)
    shards = sorted(name for name in files if name.lower().endswith(SHARD_SUFFIX))
    if not shards:
        some = ", ".join(sorted(files)[:5]) or "none"
        raise ShardNotFoundError(
            f"{dataset} has no {SHARD_SUFFIX} shards ({len(files)} file(s): {some})"
        )
    return shards


def select_shards(
    dataset: str,
    shards: Sequence[str],
    selectors: Sequence[int | str],
    *,
    all_shards: bool = False,
) -> list[str]:
    """The shards that ``selectors`` name, in the order given, each once.

    A selector is an index into ``shards`` (an int, or a string of digits), a shard's path in
    the repo, or the file name of exactly one shard. ``all_shards`` selects every shard.
    """
    if all_shards:
        return list(shards)
    if not selectors:
        raise ShardNotFoundError(
            f"no shard of {dataset} selected: name shards by index or file name, or select all"
        )
    chosen: list[str] = []
    for selector in selectors:
        shard = _select_one(dataset, shards, selector)
        if shard not in chosen:
            chosen.append(shard)
    return chosen


def resolve_shards(
    source: ShardSource,
    dataset: str,
    selectors: Sequence[int | str],
    *,
    all_shards: bool = False,
) -> list[str]:
    """:func:`list_shards`, then :func:`select_shards`."""
    shards = list_shards(source, dataset)
    return select_shards(dataset, shards, selectors, all_shards=all_shards)


def _select_one(dataset: str, shards: Sequence[str], selector: int | str) -> str:
    text = str(selector).strip()
    if isinstance(selector, int) or text.isdigit():
        index = int(text)
        if not 0 <= index < len(shards):
            raise ShardNotFoundError(
                f"shard index {index} is out of range: {dataset} has {len(shards)} shard(s), "
                f"indexes 0 to {len(shards) - 1}"
            )
        return shards[index]
    if text in shards:
        return text
    by_file_name = [shard for shard in shards if shard.rsplit("/", 1)[-1] == text]
    if len(by_file_name) == 1:
        return by_file_name[0]
    if len(by_file_name) > 1:
        raise ShardNotFoundError(
            f"{text!r} names {len(by_file_name)} shards of {dataset} "
            f"({', '.join(by_file_name[:3])}, ...): give the path in the repo"
        )
    raise ShardNotFoundError(
        f"{dataset} has no shard {text!r}; its shards are e.g. {', '.join(shards[:3])}"
    )


def request_shard_pulls(
    services: Context[MediaSettings],
    dataset: str,
    shards: Sequence[str],
    *,
    force: bool = False,
    requested_by: str | None = None,
    picks: Mapping[str, SamplePick] | None = None,
) -> list[str]:
    """Publish one ``dataset-shards`` message per shard (a function pulls each, or the
    samples ``picks`` names of it); their ids."""
    requests = [
        ShardPullRequest(
            dataset=dataset,
            shard=shard,
            force=force,
            requested_by=requested_by,
            pick=(picks or {}).get(shard),
        )
        for shard in shards
    ]
    messages = [
        SHARD_PULLS.message(request, {"dataset": request.dataset, "shard": request.shard})
        for request in requests
    ]
    return SHARD_PULLS.publish_all(services.bus, messages)


def pull_shard(
    services: Context[MediaSettings],
    dataset: str,
    shard: str,
    *,
    on_progress: ProgressCallback | None = None,
    limits: PullLimits | None = None,
    source: ShardSource | None = None,
    holder: str | None = None,
    force: bool = False,
    download_dir: Path | None = None,
    pick: SamplePick | None = None,
) -> PullResult:
    """Download ``shard`` (its path in the repo) and store its samples; see the module doc.

    ``holder`` names this delivery (the Pub/Sub message id; a fresh id by default): a
    redelivery of the same message takes its own lease back at once. A shard pulled before
    returns its recorded counts (``outcome="already_done"``) unless ``force``. The download
    goes to a temporary folder (under ``download_dir``; by default ``<home>/downloads`` on
    the local backend and the system's temporary folder in the cloud) that is removed
    afterwards.

    Raises :class:`ShardRejectedError` or :class:`ShardCorruptError` for a bad shard,
    :class:`DatasetAccessError` / :class:`DatasetNotFoundError` / :class:`ShardNotFoundError`
    when the Hub refuses or lacks it (all PermanentError), and TransientError when the Hub
    or a store stays unavailable. Either way the shard's document says ``failed`` and why,
    and every sample stored before the failure stays.
    """
    dataset = _check_dataset(dataset)
    try:
        shard = check_shard_name(shard)
    except ValueError as exc:
        raise ShardNotFoundError(f"{dataset}: {exc}") from exc
    holder = holder or f"pull-{uuid.uuid4().hex}"
    path = shard_state_path(dataset, shard, pick)
    recorded = _claim(services, path, dataset, shard, holder, force=force, pick=pick)
    if recorded is not None:
        log.info("shard already pulled", extra={"labels": {"dataset": dataset, "shard": shard}})
        return _recorded_result(dataset, shard, recorded)
    limits = limits or PullLimits(max_shard_bytes=services.settings.max_shard_bytes)
    pull = _ShardPull(services, dataset, shard, path, holder, limits, on_progress)
    try:
        with _download_area(services.settings, download_dir) as directory:
            hub = source or services.shard_source()
            local = hub.download(dataset, shard, directory, on_bytes=pull.downloaded)
            if pick is not None:
                pool = pull.video_keys(local)
                pull.result.available = len(set(pool))
                pull.keep = pick.choose(shard, pool)
            pull.read(local)
    except BaseException as exc:
        reason = str(exc) if isinstance(exc, Exception) else f"interrupted ({type(exc).__name__})"
        pull.record_failure(reason[:MAX_ERROR_CHARS], type(exc).__name__)
        raise
    _finish(services, path, holder, {**pull.result.counts(), "status": "done"})
    log.info(
        "shard pulled",
        extra={
            "labels": {"dataset": dataset, "shard": shard},
            "samples": pull.result.samples,
            "clips_written": pull.result.clips_written,
            "clips_present": pull.result.clips_present,
            "skipped": pull.result.skipped,
            "errors": len(pull.result.errors),
        },
    )
    return pull.result


@contextlib.contextmanager
def _download_area(settings: MediaSettings, download_dir: Path | None) -> Iterator[Path]:
    root = download_dir
    if root is None and settings.backend == "local":
        root = settings.home / "downloads"
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidcurate-shard-", dir=root) as folder:
        yield Path(folder)

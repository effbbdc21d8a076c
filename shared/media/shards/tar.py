"""Read an untrusted WebDataset tar shard into the videos bucket."""

from __future__ import annotations

import logging
import re
import tarfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Self, cast

from shared.core.errors import (
    PreconditionFailedError,
    TransientError,
)
from shared.media.objects import put_unless_same
from shared.media.settings import MediaSettings
from shared.media.shards.errors import PullLimits, ShardCorruptError, ShardRejectedError
from shared.media.shards.messages import dataset_prefix
from shared.media.shards.samples import (
    JSON_EXTENSION,
    VIDEO_TYPES,
    _is_video,
    _json_object,
    _object_name_problem,
    _Sample,
    _split_key,
    sample_metadata,
)
from shared.media.shards.store import (
    RENEW_SECONDS,
    Phase,
    ProgressCallback,
    PullProgress,
    PullResult,
    _finish,
    _renew,
)
from shared.platform.context import Context

log = logging.getLogger("vidcurate.datasets")


MAX_EXTENDED_HEADER_BYTES = 1 << 20
"""Largest pax or GNU long-name header read. tarfile reads such headers whole before it
returns the member they describe, so they are capped before that read."""


class _ExtendedHeaderTooLargeError(Exception):
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        super().__init__(name)


_EXTENDED_HEADER_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)


class _GuardedTarInfo(tarfile.TarInfo):
    """Refuses oversized pax / GNU long-name headers before tarfile reads them whole."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        """Parse a header block, as TarInfo does, refusing huge extended headers."""
        info = super().frombuf(buf, encoding, errors)
        if info.type in _EXTENDED_HEADER_TYPES and info.size > MAX_EXTENDED_HEADER_BYTES:
            raise _ExtendedHeaderTooLargeError(info.name, info.size)
        return info


_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:[/\\]")


# Also ValueError / RecursionError: tarfile raises them on hostile headers (a malformed GNU
# sparse map, thousands of chained pax headers), which are a bad shard, not a retry.
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, UnicodeError, ValueError, RecursionError)
"""What tarfile raises on a truncated or malformed archive."""


class _ShardPull:
    """One pull of one shard: the tar stream, the samples, the lease and the counts."""

    def __init__(
        self,
        services: Context[MediaSettings],
        dataset: str,
        shard: str,
        path: str,
        holder: str,
        limits: PullLimits,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.services = services
        self.dataset = dataset
        self.shard = shard
        self.path = path
        self.holder = holder
        self.limits = limits
        self.on_progress = on_progress
        self.prefix = dataset_prefix(dataset)
        self.bucket = services.settings.videos_bucket
        self.result = PullResult(dataset, shard, self.prefix)
        self.keep: set[str] | None = None  # only these samples' keys (a random pick)
        self._last: str | None = None  # the member read last, for error messages
        self._renew_at = time.monotonic() + RENEW_SECONDS

    # -- progress and the lease -------------------------------------------------------------

    def downloaded(self, done: int, total: int | None) -> None:
        """Progress of the download (huggingface_hub calls this per chunk); a shard larger
        than ``max_shard_bytes`` is refused as soon as its size is known."""
        cap = self.limits.max_shard_bytes
        if max(done, total or 0) > cap:
            raise self._rejected(
                self.shard,
                f"the shard is {total or done} bytes, more than {cap} (max_shard_bytes; "
                "pull it with `vidcurate videos pull` on a machine with room, or raise "
                "VIDCURATE_MAX_SHARD_BYTES where memory allows)",
            )
        self._tick("downloading", done, total)

    def _tick(self, phase: Phase, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            result = self.result
            self.on_progress(
                PullProgress(
                    self.dataset,
                    self.shard,
                    phase,
                    done,
                    total,
                    result.samples,
                    result.clips_written,
                    result.clips_present,
                )
            )
        if time.monotonic() >= self._renew_at:
            _renew(self.services, self.path, self.holder, self.result.counts())
            self._renew_at = time.monotonic() + RENEW_SECONDS

    def record_failure(self, reason: str, error_type: str) -> None:
        """Record the shard as failed; never hides the error being raised."""
        fields = {
            **self.result.counts(),
            "status": "failed",
            "error": reason,
            "error_type": error_type,
        }
        try:
            _finish(self.services, self.path, self.holder, fields)
        except Exception:
            log.exception(
                "could not record the failed pull",
                extra={"labels": {"dataset": self.dataset, "shard": self.shard}},
            )
        log.warning(
            "shard pull failed",
            extra={
                "labels": {"dataset": self.dataset, "shard": self.shard},
                "error": reason,
                "samples": self.result.samples,
                "clips_written": self.result.clips_written,
            },
        )

    # -- reading the tar stream -------------------------------------------------------------

    def video_keys(self, local: Path) -> list[str]:
        """The keys of the samples with a video in the tar file at ``local`` (members
        checked as when reading; nothing stored)."""
        keys: list[str] = []
        with local.open("rb") as raw, self._open_tar(raw) as tar:
            for _member, name in self._members(tar):
                split = _split_key(name)
                if split is not None and _is_video(split[1]) and split[0] not in keys[-1:]:
                    keys.append(split[0])
        return keys

    def read(self, local: Path) -> None:
        """Store every sample of the tar file at ``local`` (those of ``keep`` only, when
        set), member by member."""
        size = local.stat().st_size
        with local.open("rb") as raw, self._open_tar(raw) as tar:
            pending = self._read_samples(tar, raw, size)
            end = tar.offset
        # The last sample is complete only if the archive is: a shard cut short after a
        # sample's video but before its JSON must not store the video without its metadata.
        self._check_end_of_archive(local, end)
        if pending is not None:
            self._store(pending)
        self._tick("reading", size, size)

    def _open_tar(self, raw: IO[bytes]) -> tarfile.TarFile:
        # Opening reads the first member's header already.
        try:
            return tarfile.open(fileobj=raw, mode="r|", tarinfo=_GuardedTarInfo)
        except _ExtendedHeaderTooLargeError as exc:
            raise self._header_too_large(exc) from exc
        except _CORRUPT as exc:
            raise self._corrupt(None, f"not a tar archive ({exc})") from exc

    def _read_samples(self, tar: tarfile.TarFile, raw: IO[bytes], size: int) -> _Sample | None:
        """Group the members into samples by key and store each sample once the next one
        starts; the last sample, not stored yet."""
        seen: set[str] = set()
        sample: _Sample | None = None
        for member, name in self._members(tar):
            split = _split_key(name)
            if split is None:
                continue  # no extension: not part of any sample (WebDataset ignores it too)
            key, extension = split
            if sample is None or key != sample.key:
                if sample is not None:
                    self._store(sample)
                sample = _Sample(key)
                if key in seen:
                    sample.problem = (
                        "its members are not next to each other in the shard (its key appears "
                        "twice)"
                    )
                seen.add(key)
            chosen = self.keep is None or key in self.keep
            if chosen and (_is_video(extension) or extension == JSON_EXTENSION):
                self._keep(tar, member, sample, extension)
            self._tick("reading", raw.tell(), size)
        return sample

    def _members(self, tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, str]]:
        """The archive's file members with their normalized names, checked and counted."""
        members = 0
        total = 0
        while True:
            try:
                member = tar.next()
            except _ExtendedHeaderTooLargeError as exc:
                raise self._header_too_large(exc) from exc
            except _CORRUPT as exc:
                raise self._corrupt(self._last, _why(exc)) from exc
            if member is None:
                return
            # Streaming mode keeps every header it has read (not in typeshed); nothing here
            # looks back, and 100,000 headers would be held to no use.
            cast(Any, tar).members.clear()
            self._last = member.name
            members += 1
            if members > self.limits.max_members:
                raise self._rejected(
                    member.name, f"more than {self.limits.max_members} members (max_members)"
                )
            if member.isdir() and not [p for p in member.name.split("/") if p not in ("", ".")]:
                continue  # "./" or ".": the archive's own folder (tar -C dir -cf x.tar .)
            name = self._check_name(member)
            self._check_type(member)
            if member.isdir():
                continue
            total += member.size
            if total > self.limits.max_total_bytes:
                raise self._rejected(
                    member.name,
                    f"the members add up to more than {self.limits.max_total_bytes} bytes "
                    "(max_total_bytes)",
                )
            yield member, name

    def _keep(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, sample: _Sample, extension: str
    ) -> None:
        if extension == JSON_EXTENSION and member.size > self.limits.max_json_bytes:
            raise self._rejected(
                member.name,
                f"a JSON member of {member.size} bytes, over the {self.limits.max_json_bytes}-"
                "byte limit (max_json_bytes)",
            )
        sample.size += member.size
        if sample.size > self.limits.max_sample_bytes:
            raise self._rejected(
                member.name,
                f"sample {sample.key!r} holds more than {self.limits.max_sample_bytes} bytes "
                "of video and JSON (max_sample_bytes)",
            )
        if extension in sample.parts:
            sample.problem = f"it has two '.{extension}' members"
            return
        handle = tar.extractfile(member)
        if handle is None:  # pragma: no cover - regular files always have a reader
            raise self._rejected(member.name, "not a regular file")
        try:
            data = handle.read()
        except _CORRUPT as exc:
            raise self._corrupt(member.name, _why(exc)) from exc
        if len(data) != member.size:
            raise self._corrupt(member.name, "the archive ends inside this member")
        sample.parts[extension] = data

    def _check_name(self, member: tarfile.TarInfo) -> str:
        """The member's normalized name; ShardRejectedError when it could land anywhere else
        than inside the archive's folder."""
        name = member.name
        try:
            name.encode()
        except UnicodeError:
            raise self._rejected(name, "its name is not valid UTF-8") from None
        if name.startswith("/") or _WINDOWS_DRIVE.match(name):
            raise self._rejected(name, "an absolute path")
        if "\\" in name:
            raise self._rejected(name, "a backslash in its path (a Windows path separator)")
        if any(ord(char) < 32 or char == "\x7f" for char in name):
            raise self._rejected(name, "control characters in its name")
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise self._rejected(name, "a '..' component: its path climbs out of the archive")
        if not parts:
            raise self._rejected(name, "an empty path")
        return "/".join(parts)

    def _check_type(self, member: tarfile.TarInfo) -> None:
        """ShardRejectedError unless the member is a regular file within the size cap, or a
        folder."""
        name = member.name
        only = "only regular files and folders are taken"
        if member.issym():
            raise self._rejected(name, f"a symbolic link (to {member.linkname!r}); {only}")
        if member.islnk():
            raise self._rejected(name, f"a hard link (to {member.linkname!r}); {only}")
        if member.ischr() or member.isblk():
            raise self._rejected(name, f"a device file; {only}")
        if member.isfifo():
            raise self._rejected(name, f"a FIFO; {only}")
        if member.issparse():
            raise self._rejected(name, f"a sparse file; {only}")
        if not (member.isfile() or member.isdir()):
            raise self._rejected(name, f"of tar type {member.type!r}; {only}")
        if member.isfile() and member.size > self.limits.max_member_bytes:
            raise self._rejected(
                name,
                f"{member.size} bytes, over the {self.limits.max_member_bytes}-byte limit per "
                "member (max_member_bytes)",
            )

    def _check_end_of_archive(self, local: Path, offset: int) -> None:
        """tarfile stops quietly at a missing or garbled header after the first member: the
        archive is whole only if a zero block (its end marker) follows the last member."""
        last = self._last
        with local.open("rb") as raw:
            raw.seek(offset)
            block = raw.read(tarfile.BLOCKSIZE)
        if len(block) < tarfile.BLOCKSIZE:
            raise self._corrupt(
                last, "the archive ends without its end-of-archive marker (truncated)"
            )
        if block.count(0) != tarfile.BLOCKSIZE:
            raise self._corrupt(last, f"an unreadable header follows it (at byte {offset})")

    def _header_too_large(self, exc: _ExtendedHeaderTooLargeError) -> ShardRejectedError:
        return self._rejected(
            exc.name,
            f"an extended (pax or long-name) header of {exc.size} bytes, over the "
            f"{MAX_EXTENDED_HEADER_BYTES} bytes read",
        )

    def _rejected(self, member: str, reason: str) -> ShardRejectedError:
        return ShardRejectedError(self.dataset, self.shard, member, reason)

    def _corrupt(self, member: str | None, reason: str) -> ShardCorruptError:
        return ShardCorruptError(self.dataset, self.shard, member, reason)

    # -- storing a sample -------------------------------------------------------------------

    def _store(self, sample: _Sample) -> None:
        if self.keep is not None and sample.key not in self.keep:
            return  # not one of the samples picked at random
        result = self.result
        result.samples += 1
        videos = sorted(ext for ext in sample.parts if _is_video(ext))
        if sample.problem is not None:
            result.errors.append(f"sample {sample.key!r} not stored: {sample.problem}")
            return
        if not videos:
            result.skipped += 1
            return
        sidecar = sample.parts.get(JSON_EXTENSION)
        metadata: dict[str, str] = {}
        if sidecar is not None:
            try:
                metadata, omitted = sample_metadata(_json_object(sidecar))
            except ValueError as exc:
                result.errors.append(f"sample {sample.key!r} not stored: its JSON {exc}")
                return
            result.metadata_truncated += bool(omitted)
        base = f"{self.prefix}/{sample.key}"
        names = [f"{base}.{ext}" for ext in videos] + [f"{base}.{JSON_EXTENSION}"]
        problem = next(filter(None, map(_object_name_problem, names)), None)
        if problem is not None:
            result.errors.append(f"sample {sample.key!r} not stored: {problem}")
            return
        if sidecar is not None:
            written = self._put(f"{base}.{JSON_EXTENSION}", sidecar, "application/json", {})
            result.sidecars_written += written
            result.sidecars_present += not written
        for ext in videos:
            data = sample.parts[ext]
            content_type = VIDEO_TYPES[ext.rsplit(".", 1)[-1]]
            written = self._put(f"{base}.{ext}", data, content_type, metadata)
            result.clips_written += written
            result.clips_present += not written
            result.bytes_written += len(data) if written else 0

    def _put(self, name: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
        """Write the object unless it holds these bytes and metadata already; whether written."""
        try:
            _info, written = put_unless_same(
                self.services, self.bucket, name, data, metadata, content_type=content_type
            )
        except PreconditionFailedError as exc:
            raise TransientError(
                f"gs://{self.bucket}/{name} changed while shard {self.shard} was being pulled; "
                "the pull is retried"
            ) from exc
        return written


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, tarfile.ReadError) and "unexpected end of data" in text:
        return "the archive ends inside this member (truncated)"
    return text

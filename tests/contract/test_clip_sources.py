"""One suite for the clip-source port, over ClipCafe's adapter (against its fake, over real
HTTP) and the local folder: the same catalogue answers the same searches the same way."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clipcafefake import CLIPCAFE_KEY, FakeClip, FakeClipCafe, run_fake_clipcafe

from shared.adapters.clipcafe import ClipCafeSource
from shared.adapters.local.clipfolder import FolderClipSource
from shared.ports.clips import ClipQuery, ClipSource, ClipTooLargeError

CATALOGUE = [
    FakeClip("a1", "abandon-a", "Abandon A", "Abandon ship!", 4.0, 500, b"a" * 10),
    FakeClip("a2", "abandon-b", "Abandon B", "We never abandon. Ability too.", 6.0, 900, b"b" * 20),
    FakeClip("a3", "abandon-long", "Too long", "abandon it all", 40.0, 999, b"c" * 30),
    FakeClip("b1", "ability", "Ability", "What an ability", 3.0, 700, b"d" * 40),
    FakeClip("c1", "cant", "Can't", "I can't do it", 3.0, 800, b"e" * 50),
]


def folder_of(root: Path) -> Path:
    for clip in CATALOGUE:
        folder = root / clip.slug.split("-")[0]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{clip.slug}.mp4").write_bytes(clip.data)
        description = {"clip_id": clip.clip_id, "slug": clip.slug, "title": clip.title,
                       "transcript": clip.transcript, "duration": clip.duration,
                       "views": clip.views}  # fmt: skip
        (folder / f"{clip.slug}.json").write_text(json.dumps(description))
    return root


@pytest.fixture(params=["clipcafe", "folder"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClipSource]:
    if request.param == "folder":
        yield FolderClipSource(folder_of(tmp_path / "clips"))
        return
    with run_fake_clipcafe(FakeClipCafe(list(CATALOGUE))) as fake:
        yield ClipCafeSource(api_key=CLIPCAFE_KEY, base_url=fake.endpoint)


def test_a_search_finds_whole_words_in_range_most_viewed_first(source: ClipSource):
    page = source.search(ClipQuery("abandon"))
    assert [hit.clip_id for hit in page.hits] == ["a2", "a1"]  # a3 is 40 s long
    assert page.total == 2
    assert source.search(ClipQuery("can")).hits == ()  # "can't" is another word
    assert source.search(ClipQuery("zyzzyva")).hits == ()


def test_pages_by_offset_and_size(source: ClipSource):
    first = source.search(ClipQuery("abandon", size=1))
    second = source.search(ClipQuery("abandon", size=1, offset=1))
    assert [h.clip_id for h in first.hits + second.hits] == ["a2", "a1"]
    assert source.search(ClipQuery("abandon", size=1, offset=2)).hits == ()


def test_a_download_is_the_clips_bytes_and_respects_the_limit(source: ClipSource):
    hit = source.search(ClipQuery("ability")).hits[-1]
    out = io.BytesIO()
    assert source.download(hit, out, max_bytes=1000) == 40
    assert out.getvalue() == b"d" * 40
    with pytest.raises(ClipTooLargeError):
        source.download(hit, io.BytesIO(), max_bytes=10)


def test_hits_carry_what_the_catalogue_says(source: ClipSource):
    (hit,) = source.search(ClipQuery("what")).hits
    assert (hit.clip_id, hit.slug, hit.title, hit.transcript, hit.duration_seconds, hit.views) == (
        "b1", "ability", "Ability", "What an ability", 3.0, 700,
    )  # fmt: skip
    assert hit.download_url

"""The ClipCafe adapter and the searcher over it, against a local fake of ClipCafe's API over
real HTTP: the request's parameters, pages of 100, 429 with backoff for every instance, links
that expire after 5 minutes of a fake clock and are refreshed by searching again, the global
quota held by four workers, and the key kept out of every message. The local-folder source
answers the same searches."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from clipcafefake import CLIPCAFE_KEY, FakeClip, FakeClipCafe, catalogue, run_fake_clipcafe
from support import ManualClock

from shared.adapters.clipcafe import ClipCafeSource, parse_duration
from shared.adapters.local.clipfolder import FolderClipSource
from shared.adapters.local.documents import SqliteDocumentStore
from shared.discovery.sourcing import Searcher
from shared.ports.clips import (
    ClipQuery,
    ClipSourceError,
    ClipSourceRateLimitedError,
    ClipSourceUnavailableError,
    ClipTooLargeError,
)


@pytest.fixture
def documents(tmp_path: Path):
    store = SqliteDocumentStore(tmp_path / "docs.sqlite")
    yield store
    store.close()


def source_for(fake: FakeClipCafe, rate: float = 10.0) -> ClipCafeSource:
    return ClipCafeSource(api_key=CLIPCAFE_KEY, base_url=fake.endpoint, requests_per_minute=rate)


def test_a_search_sends_clipcafes_parameters_and_reads_its_hits():
    clips = [
        FakeClip(
            "7",
            "give-up-1",
            "Never give up",
            "You never give up, do you?",
            4.5,
            900,
            subtitles="1\n00:00:00,000 --> 00:00:02,000\nYou never give up",
            extra={"movie_title": "Rocky"},
        ),
        FakeClip("8", "long-one", "Too long", "give up", 40.0, 5000),  # outside 1-15 s
        FakeClip("9", "other", "Other", "nothing to see", 3.0, 100),
    ]
    with run_fake_clipcafe(FakeClipCafe(clips)) as fake:
        page = source_for(fake).search(ClipQuery("give up"))
        sent = fake.searches()[0].query
    assert sent == {
        "api_key": CLIPCAFE_KEY,
        "transcript": "give up",
        "movie_language": "English",
        "duration": "1-15",
        "sort": "views",
        "order": "desc",
        "size": "100",
        "from": "0",
    }
    assert page.total == 1
    (hit,) = page.hits
    assert (hit.clip_id, hit.slug, hit.title, hit.duration_seconds, hit.views) == (
        "7",
        "give-up-1",
        "Never give up",
        4.5,
        900,
    )
    assert hit.transcript == "You never give up, do you?"
    assert hit.metadata["movie_title"] == "Rocky"
    assert "download" not in hit.metadata
    assert hit.download_url.startswith(fake.endpoint)
    assert hit.subtitles.startswith("1\n00:00:00,000")


def test_pages_of_100_until_enough_or_none_left(documents):
    with run_fake_clipcafe(FakeClipCafe(catalogue(["abandon"], 250))) as fake:
        searcher = Searcher(source_for(fake, rate=6000), documents, max_wait=5)
        everything = searcher.search("abandon", limit=1000)
        offsets = [r.query["from"] for r in fake.searches()]
        some = searcher.search("abandon", limit=120)
    assert offsets == ["0", "100", "200"]
    assert (len(everything.hits), everything.total, everything.requests) == (250, 250, 3)
    assert [h.views for h in everything.hits] == sorted(
        (h.views for h in everything.hits), reverse=True
    )
    assert len({h.clip_id for h in everything.hits}) == 250
    assert (len(some.hits), some.requests) == (120, 2)
    assert [h.clip_id for h in some.hits] == [h.clip_id for h in everything.hits[:120]]


def test_a_429_backs_every_instance_off_then_asks_again(documents):
    clock = ManualClock(1_000.0)
    with run_fake_clipcafe(FakeClipCafe(catalogue(["brave"], 3))) as fake:
        fake.fail_next(429, times=1, retry_after="20")
        searcher = Searcher(
            source_for(fake), documents, max_wait=60, clock=clock, sleep=clock.sleep
        )
        outcome = searcher.search("brave", limit=100)
        statuses = [r.status for r in fake.searches()]
        # another instance, right after: it waits out the same push back (20 s from the 429)
        other = Searcher(source_for(fake), documents, max_wait=60, clock=clock, sleep=clock.sleep)
        clock.slept.clear()
        other.search("brave", limit=100)
    assert statuses == [429, 200]
    assert len(outcome.hits) == 3
    assert clock.slept
    assert clock.slept[0] == pytest.approx(6.12, abs=0.01)


def test_persistent_429s_end_as_an_error_for_a_later_retry(documents):
    clock = ManualClock(1_000.0)
    with run_fake_clipcafe(FakeClipCafe(catalogue(["brave"], 1))) as fake:
        fake.fail_next(429, times=5)
        searcher = Searcher(
            source_for(fake), documents, max_wait=600, clock=clock, sleep=clock.sleep
        )
        with pytest.raises(ClipSourceRateLimitedError):
            searcher.search("brave", limit=10)
        assert len(fake.searches()) == 3


def test_an_expired_link_is_refreshed_by_searching_again(documents):
    clock = ManualClock(1_000.0)
    clips = catalogue(["ability"], 2, data=b"clip-bytes" * 100)
    with run_fake_clipcafe(FakeClipCafe(clips, clock=clock, link_seconds=300)) as fake:
        searcher = Searcher(
            source_for(fake), documents, max_wait=600, clock=clock, sleep=clock.sleep
        )
        outcome = searcher.search("ability", limit=10)
        hit = outcome.hits[1]
        # WHEN six minutes pass before the download (the link lived five)
        clock.now += 360
        out = io.BytesIO()
        size, searches = searcher.download(
            hit, "ability", out, searched_at=outcome.searched_at, max_bytes=1 << 20
        )
        # THEN the link was replaced by a second search, and the clip came whole
        assert (size, searches, out.getvalue()) == (1000, 1, b"clip-bytes" * 100)
        assert len(fake.searches()) == 2
        assert [d.status for d in fake.downloads()] == [200]
        # WHEN the source says a link expired that we thought young (clocks differ)
        clock.now += 400
        out = io.BytesIO()
        lenient = Searcher(
            source_for(fake),
            documents,
            max_wait=600,
            clock=clock,
            sleep=clock.sleep,
            link_seconds=10_000,
        )
        size, searches = lenient.download(
            hit, "ability", out, searched_at=clock.now, max_bytes=1 << 20
        )
        # THEN the 410 leads to a fresh link too, and no partial bytes stay in the output
        assert (size, searches, out.getvalue()) == (1000, 1, b"clip-bytes" * 100)
        assert [d.status for d in fake.downloads()] == [200, 410, 200]


def test_a_clip_too_large_is_refused_while_it_downloads(documents):
    with run_fake_clipcafe(FakeClipCafe(catalogue(["big"], 1, data=b"x" * 5000))) as fake:
        searcher = Searcher(source_for(fake, rate=6000), documents, max_wait=5)
        outcome = searcher.search("big", limit=1)
        with pytest.raises(ClipTooLargeError, match="over 1000"):
            searcher.download(
                outcome.hits[0],
                "big",
                io.BytesIO(),
                searched_at=outcome.searched_at,
                max_bytes=1000,
            )


def test_four_workers_hold_the_global_quota_together(tmp_path: Path):
    # GIVEN a fake limited to 10 searches in any rolling second (600 a minute) and four
    # workers, each with its own gate object and store connection, searching as fast as
    # the shared gate lets them
    with run_fake_clipcafe(FakeClipCafe(catalogue(["w"], 1))) as fake:
        fake.limit_rpm(10, window=1.0)

        def work() -> None:
            store = SqliteDocumentStore(tmp_path / "docs.sqlite")
            searcher = Searcher(source_for(fake, rate=600), store, max_wait=30)
            for _ in range(8):
                searcher.search("w", limit=1)
            store.close()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # THEN the fake never had to refuse one, and no rolling second saw more than 10
        assert fake.over_limit == 0
        assert len(fake.searches()) == 32
        assert fake.max_searches_in_window(1.0) <= 10


def test_the_key_stays_out_of_every_message():
    with run_fake_clipcafe(FakeClipCafe([])) as fake:
        wrong = ClipCafeSource(api_key="not-" + CLIPCAFE_KEY, base_url=fake.endpoint)
        with pytest.raises(ClipSourceError, match="API key was refused") as refused:
            wrong.search(ClipQuery("x"))
        assert CLIPCAFE_KEY not in str(refused.value)
    down = ClipCafeSource(api_key=CLIPCAFE_KEY, base_url="http://127.0.0.1:9/")
    with pytest.raises(ClipSourceUnavailableError) as unreachable:
        down.search(ClipQuery("x"))
    assert CLIPCAFE_KEY not in str(unreachable.value)
    with pytest.raises(ClipSourceError, match="needs an API key"):
        ClipCafeSource(api_key=" ")


def test_durations_in_any_spelling():
    assert [parse_duration(v) for v in (4, "4.5", "00:07", "1:02:03.5", "soon", -1, True)] == [
        4.0,
        4.5,
        7.0,
        3723.5,
        None,
        None,
        None,
    ]


def test_a_folder_answers_like_clipcafe(tmp_path: Path):
    root = tmp_path / "clips"
    for word, slug, transcript, views in [
        ("abandon", "abandon-ship_01", "Abandon ship! I have the ability.", 50),
        ("abandon", "abandon-hope_02", "Abandon all hope.", 70),
        ("ability", "ability_01", "What an ability!", 10),
    ]:
        (root / word).mkdir(parents=True, exist_ok=True)
        (root / word / f"{slug}.mp4").write_bytes(slug.encode())
        (root / word / f"{slug}.json").write_text(
            json.dumps({"title": slug, "transcript": transcript, "duration": 4, "views": views})
        )
    (root / "ability" / "orphan.json").write_text("{}")  # no clip beside it: not a hit
    source = FolderClipSource(root)
    abandon = source.search(ClipQuery("abandon"))
    ability = source.search(ClipQuery("ability"))
    assert [h.clip_id for h in abandon.hits] == ["abandon-hope_02", "abandon-ship_01"]
    assert [h.clip_id for h in ability.hits] == ["abandon-ship_01", "ability_01"]  # any folder
    out = io.BytesIO()
    assert source.download(ability.hits[1], out, max_bytes=100) == len(b"ability_01")
    assert source.requests_per_minute is None
    with pytest.raises(ClipSourceError, match="no such folder"):
        FolderClipSource(tmp_path / "missing")


class MemoryLinks:
    """A link book in memory (the stages keep theirs in the word's search answer)."""

    def __init__(self) -> None:
        self.links: dict[str, tuple[str, float]] = {}

    def lookup(self, clip_id: str) -> tuple[str, float] | None:
        return self.links.get(clip_id)

    def remember(self, hits, at: float) -> None:
        for hit in hits:
            self.links[hit.clip_id] = (hit.download_url, at)


def test_one_refresh_renews_the_links_of_every_clip_of_the_word(documents):
    clock = ManualClock(1_000.0)
    clips = catalogue(["ability"], 5, data=b"clip")
    with run_fake_clipcafe(FakeClipCafe(clips, clock=clock, link_seconds=300)) as fake:
        book = MemoryLinks()

        def searcher() -> Searcher:  # a fetch delivery's own
            return Searcher(source_for(fake), documents, max_wait=600, clock=clock,
                            sleep=clock.sleep, links=book)  # fmt: skip

        outcome = searcher().search("ability", limit=10)
        clock.now += 360  # every link of the search has expired
        for hit in outcome.hits:
            searcher().download(hit, "ability", io.BytesIO(), searched_at=outcome.searched_at,
                                max_bytes=100)  # fmt: skip
        # the first download searched again; the four others used the links it renewed
        assert len(fake.searches()) == 2
        assert [d.status for d in fake.downloads()] == [200] * 5

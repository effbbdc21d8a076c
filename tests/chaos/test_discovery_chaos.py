"""Discovery under crashes: every stage dies once after its side effects and before the next
stage hears of the clip, and once after telling the next stage but before recording its own
status. The redeliveries finish the run, and each word is searched once, each clip stored
once, and each paid call (candidate, transcription, final) made once; real SDKs against the
fake model server, the ClipCafe adapter against its fake."""

from __future__ import annotations

from typing import Any

from clipcafefake import FakeClipCafe, catalogue, run_fake_clipcafe
from clips import make_clip
from discovery_support import deliver, live_settings, scripted_models
from llmfake import FakeLLM, run_fake_llm

from shared.bootstrap import build_context
from shared.core.errors import TransientError
from shared.discovery.runs import RUNS, DiscoveryRequest, start_run
from shared.discovery.store import VIDEOS, WORD_TO_VIDEO

NEXT_TOPICS = ("clip-candidates", "clip-fetches", "clip-reviews")
STATUSES = ("searched", "scored", "fetched", "stored")


class CrashingBus:
    """The bus, but the first publish to each of ``NEXT_TOPICS`` dies (the process crashed
    after its stage's paid work, before the next stage heard of it)."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus
        self.crashed: list[str] = []

    def _crash(self, topic: str) -> None:
        if topic in NEXT_TOPICS and topic not in self.crashed:
            self.crashed.append(topic)
            raise TransientError(f"injected crash before publishing to {topic}")

    def publish(self, topic: str, data: bytes, attributes: Any = None) -> str:
        self._crash(topic)
        return self._bus.publish(topic, data, attributes)

    def publish_many(self, topic: str, messages: Any) -> list[str]:
        self._crash(topic)
        return self._bus.publish_many(topic, messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


class _CrashingTransaction:
    def __init__(self, transaction: Any, owner: CrashingDocuments) -> None:
        self._transaction = transaction
        self._owner = owner

    def update(self, path: str, data: Any) -> None:
        status = data.get("status") if isinstance(data, dict) else None
        if status in STATUSES and status not in self._owner.crashed:
            self._owner.crashed.append(status)
            raise TransientError(f"injected crash before recording {status}")
        self._transaction.update(path, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transaction, name)


class CrashingDocuments:
    """The document store, but the first time each stage records its outcome, it dies (after
    it told the next stage)."""

    def __init__(self, documents: Any) -> None:
        self._documents = documents
        self.crashed: list[str] = []

    def run_transaction(self, fn: Any, **options: Any) -> Any:
        return self._documents.run_transaction(
            lambda tx: fn(_CrashingTransaction(tx, self)), **options
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._documents, name)


def test_a_crash_in_every_stage_still_stores_each_clip_once_and_pays_once(tmp_path):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=1.0, fps=10, size=(160, 96), audio=True)
    words = ["alpha", "bravo", "charlie"]
    with (
        run_fake_clipcafe(FakeClipCafe(catalogue(words, 2, data=clip.read_bytes()))) as cafe,
        run_fake_llm(FakeLLM(responder=scripted_models)) as llm,
    ):
        services = build_context(live_settings(tmp_path / "home", cafe, llm))
        bus, documents = CrashingBus(services.bus), CrashingDocuments(services.documents)
        services.bus, services.documents = bus, documents
        try:
            plan = start_run(services, DiscoveryRequest(words=tuple(words)), rate=6000)
            stats = deliver(services)
            clips = list(services.documents.iter_collection(f"{RUNS}/{plan.run}/clips"))
            stored = services.documents.count(VIDEOS)
            mappings = services.documents.count(WORD_TO_VIDEO)
        finally:
            services.close()
        # every crash happened, and was retried
        assert sorted(bus.crashed) == sorted(NEXT_TOPICS)
        assert sorted(documents.crashed) == sorted(STATUSES)
        # (a duplicate that found the clip held by its twin was deferred too)
        assert stats.total_failed >= len(NEXT_TOPICS) + len(STATUSES)
        # the run finished as a clean one would
        assert sorted(c.data["status"] for c in clips) == ["stored"] * 6
        assert stored == 6
        assert mappings == 6
        # each word searched once, each paid call made once per clip
        assert len([r for r in cafe.searches() if r.status == 200]) == 3
        assert len(llm.calls(model="gpt-4o-mini")) == 6
        assert len(llm.calls(model="gpt-4o-2024-08-06")) == 6
        assert len(llm.transcriptions) == 6
        assert [d.status for d in cafe.downloads()] == [200] * 6

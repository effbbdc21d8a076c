"""A function with an instance cap on the local runtime: it runs on that many threads of its
own, never more at once, and the other functions' deliveries go on beside it instead of
waiting behind it (as separate functions scale separately in the cloud)."""

from __future__ import annotations

import threading
import time

from shared.adapters.local import build_local_services
from shared.config import Settings
from shared.platform.runtime.catalog import FunctionSpec, TopicTrigger
from shared.platform.runtime.local import EventRuntime, Route
from shared.ports import OutgoingMessage


def test_a_capped_function_runs_beside_the_others_never_past_its_cap(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path, log_level="CRITICAL", workers=2)
    _blobs, _documents, bus = build_local_services(settings)
    slow = FunctionSpec("slow", TopicTrigger("slow"), "waits", capability="t", max_instances=3)
    fast = FunctionSpec("fast", TopicTrigger("fast"), "quick", capability="t")
    for spec in (slow, fast):
        bus.create_subscription(spec.subscription, spec.trigger.topic,
                                dead_letter_topic=spec.dead_letter_topic)  # fmt: skip
    lock = threading.Lock()
    running = peak = 0
    slow_done: list[float] = []
    fast_done: list[float] = []

    def wait(event: object) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)  # a handler waiting for a shared rate, say
        with lock:
            running -= 1
            slow_done.append(time.monotonic())

    def quick(event: object) -> None:
        with lock:
            fast_done.append(time.monotonic())

    bus.publish_many("slow", [OutgoingMessage(b"{}")] * 12)
    bus.publish_many("fast", [OutgoingMessage(b"{}")] * 40)
    runtime = EventRuntime(settings, bus, [Route(slow, wait), Route(fast, quick)])
    stats = runtime.run_until_idle(timeout=60)
    bus.close()

    assert (stats.handled["slow"], stats.handled["fast"]) == (12, 40)
    assert peak == 3  # its cap, though the shared workers are fewer
    # the quick ones did not wait for the slow ones (0.4 s of them at 3 at once)
    assert max(fast_done) < max(slow_done)

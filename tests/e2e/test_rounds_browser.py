"""The active-learning rounds pages in a real browser, over rounds the capability really ran
(a small ResNet-18 on tiny synthetic frames): the list draws its chart and links to each
round; a round's page loads its training curves, confusion matrices and queued frames from
the app; both pass axe-core's WCAG 2.1 A/AA rules. Screenshots page-rounds.png and
page-round.png go to build/screenshots/ (or $VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from labelling_support import web_app
from learning_support import add_shape_frames

from shared.learning import invite
from shared.learning.rounds import NotEnoughLabelsError, RoundConfig
from shared.learning.roundstore import read_json, record_round, round_path

torch = pytest.importorskip("torch")

from shared.learning.train import run_round  # noqa: E402

pytestmark = [*BROWSER_MARKS, pytest.mark.xdist_group("torch")]
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
SMALL = {"architecture": "resnet18", "image_size": 32, "batch_size": 16, "workers": 0,
         "epochs": 3, "lr": 1e-3, "top_k": 5, "min_per_class": 3}  # fmt: skip
IMAGES_LOADED = "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"


def test_the_rounds_pages_in_a_browser(browser, make_services, tmp_path):
    services = make_services()
    add_shape_frames(services, 6, labelled=0.67)
    run_round(services, RoundConfig(round=0, **SMALL), tmp_path / "work")
    with pytest.raises(NotEnoughLabelsError):
        run_round(services, RoundConfig(round=1, **{**SMALL, "min_per_class": 50}), tmp_path)
    record_round(
        services, 2, {"status": "running", "started_at": datetime.now(UTC), "device": "cpu"}
    )
    metrics = read_json(services, round_path(0, "metrics.json"))
    token = invite(services.documents, "viv")
    axe = Axe()
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)

        # the list: every round, and the chart of the finished ones' test macro F1
        page.goto(f"{base}/rounds")
        page.wait_for_load_state("networkidle")
        assert page.locator("table.rounds tbody tr").count() == 3
        drawn = page.evaluate(
            "() => Chart.getChart('chart-rounds').data.datasets.map(d => [d.label, d.data[0]])"
        )
        assert dict(drawn) == pytest.approx(
            {t: m["macro_f1"] for t, m in metrics["sets"]["test"].items()}
        )
        assert "not enough labelled frames" in page.inner_text("#round-1")
        results = axe.run(page, options=WCAG)
        assert results.violations_count == 0, f"/rounds:\n{results.generate_report()}"
        screenshot(page, "page-rounds.png")

        # a round's page, reached with the keyboard: its plots and queued frames load
        page.focus("a[href='/rounds/0']")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/rounds/0")
        page.wait_for_load_state("networkidle")
        plots = page.locator("figure.plot img")
        assert plots.count() == 2 * len(services.settings.label_schema.tasks)
        assert page.locator("table.queue img").count() == len(metrics["queue_head"]) > 0
        page.wait_for_function(IMAGES_LOADED)
        sizes = page.eval_on_selector_all(
            "figure.plot img", "images => images.map(i => [i.naturalWidth, i.alt])"
        )
        assert all(width > 0 and len(alt) > 40 for width, alt in sizes), sizes
        for advice in metrics["guidance"]["advice"]:
            assert advice in page.inner_text("#guidance")
        results = axe.run(page, options=WCAG)
        assert results.violations_count == 0, f"/rounds/0:\n{results.generate_report()}"
        screenshot(page, "page-round.png")

        # a failed and a running round's pages pass too
        for number, expected in ((1, "This round failed"), (2, "still running")):
            page.goto(f"{base}/rounds/{number}")
            assert expected in page.inner_text("main")
            results = axe.run(page, options=WCAG)
            assert results.violations_count == 0, f"/rounds/{number}:\n{results.generate_report()}"
        assert errors == []

"""The features pages in a real browser, over a real run of the capability (small clips, one
not a video): the list of runs and a run's page pass axe-core's WCAG 2.1 A/AA rules and can
be walked with the keyboard; a run's page that is looked at while its tasks go updates its
numbers in place, without a reload, and loads itself once more when the run ends.
Screenshots go to build/screenshots/ (or $VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from clips import make_clip
from labelling_support import web_app

from shared.features.runs import Selection, create_run
from shared.features.tables import consolidate
from shared.features.tasks import run_task
from shared.learning import invite
from shared.platform.sharding import TaskSlot

pytestmark = BROWSER_MARKS
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
PREFIX = "videos/01_filtered/"


@pytest.fixture
def services(make_services, tmp_path):
    services = make_services()
    for n in range(5):
        path = tmp_path / f"clip{n}.mp4"
        make_clip(path, seconds=1.0, fps=10, size=(96 + 2 * n, 64), gop=10)
        services.blobs.write(
            services.settings.videos_bucket,
            f"{PREFIX}clip{n}.mp4",
            path.read_bytes(),
            content_type="video/mp4",
        )
    services.blobs.write(
        services.settings.videos_bucket,
        f"{PREFIX}broken.mp4",
        b"not a video at all",
        content_type="video/mp4",
    )
    return services


def keyboard_reaches_the_navigation(page) -> None:
    nav = page.eval_on_selector_all("header nav a", "links => links.map(a => a.href)")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(len(nav) + 1):  # the brand, then the navigation
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => [document.activeElement.href || document.activeElement.tagName,"
            " getComputedStyle(document.activeElement).outlineStyle]"
        )
        assert focused[1] != "none", f"{focused[0]} is focused but shows no focus"
        reached.append(focused[0])
    assert list(dict.fromkeys(href for href in reached if href in nav)) == nav


def test_the_features_pages_pass_the_accessibility_rules(browser, services):
    run = create_run(
        services, Selection(prefix=PREFIX), ["technical", "quality", "shots"], run="r-done"
    ).run
    for index in range(3):
        run_task(services, run, TaskSlot(index, 3))
    consolidate(services, run)
    create_run(services, Selection(prefix=PREFIX), ["technical"], run="r-later")
    token = invite(services.documents, "viv")
    axe = Axe()
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)
        for name, path in (("features-list", "/features"), ("features", f"/features/{run}")):
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            results = axe.run(page, options=WCAG)
            assert results.violations_count == 0, f"{path}:\n{results.generate_report()}"
            keyboard_reaches_the_navigation(page)
            page.evaluate("() => document.activeElement.blur()")
            screenshot(page, f"page-{name}.png")
        assert page.text_content("#run-state-word") == "Finished"
        done = page.text_content("tr[data-extractor='shots'] [data-field='done']")
        assert done == "5"
        assert "not a readable video file" in page.text_content("#failures-body")
        with page.expect_download() as download:
            page.click(f"a[href='/features/{run}/tables/shots.parquet']")
        assert download.value.suggested_filename == f"vidcurate-features-{run}-shots.parquet"

        page.goto(f"{base}/features")
        page.click("a[href='/features/r-later']")
        page.wait_for_url("**/features/r-later")
        assert page.text_content("#run-state-word") == "Not started"
        results = axe.run(page, options=WCAG)
        assert results.violations_count == 0, results.generate_report()
        assert errors == []


def test_a_run_page_follows_its_tasks_without_a_reload(browser, services):
    run = create_run(services, Selection(prefix=PREFIX), ["technical"], run="r-live").run
    run_task(services, run, TaskSlot(0, 3))
    token = invite(services.documents, "viv")
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)
        page.goto(f"{base}/features/{run}")
        cell = "tr[data-extractor='technical'] [data-field='done']"
        # The manifest is in name order: task 0 of 3 had broken.mp4 and clip2.
        assert page.text_content(cell) == "1"
        assert page.text_content("tr[data-extractor='technical'] [data-field='failed']") == "1"
        assert "not a readable video file" in page.text_content("#failures-body")
        assert page.text_content("#run-state-word") == "Waiting"
        page.evaluate("() => { window.notReloaded = true; }")

        run_task(services, run, TaskSlot(1, 3))  # clip0 and clip3

        page.wait_for_function(
            "() => document.querySelector(\"tr[data-task='1'] [data-field='state']\")"
            ".textContent === 'finished'",
            timeout=20_000,
        )
        assert page.evaluate("() => window.notReloaded") is True  # updated in place
        assert page.text_content(cell) == "3"
        assert page.text_content("tr[data-extractor='technical'] [data-field='left']") == "2"
        assert page.text_content("tr[data-task='1'] [data-field='computed']") == "2"
        screenshot(page, "page-features-live.png")

        run_task(services, run, TaskSlot(2, 3))  # the last task: the run ends
        page.wait_for_function(
            "() => document.getElementById('run-state-word').textContent === 'Finished'",
            timeout=20_000,
        )
        assert page.text_content(cell) == "5"
        assert errors == []

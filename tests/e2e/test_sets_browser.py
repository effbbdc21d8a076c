"""The image-sets pages in a real browser, over sets evaluated by the offline judge: the list
and a set's page pass axe-core's WCAG 2.1 A/AA rules, every contact sheet loads (a decoded
picture), the charts hold the numbers the tables show, and a set is reached from the list
with the keyboard. Screenshots go to build/screenshots/ (or $VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from labelling_support import web_app

from shared.adapters.models.offline_images import placeholder_png
from shared.learning import invite
from shared.trainsets.evaluate import evaluate
from shared.trainsets.messages import SetEvaluation
from shared.trainsets.sets import add_folder

pytestmark = BROWSER_MARKS
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
CATEGORIES = ("photorealistic", "bw_stylized", "color_stylized")
RUN = "20261203_181500_1a2b3c"


def add_set(services, root: Path, set_id: str, counts: tuple[int, int, int]) -> None:
    folder = root / set_id
    folder.mkdir(parents=True)
    for category, count in zip(CATEGORIES, counts, strict=True):
        for n in range(count):
            picture = placeholder_png(category, f"{set_id} take {n}", 320, 240)
            (folder / f"{category}-{n:02d}.png").write_bytes(picture)
    add_folder(services, folder, set_id)


def test_the_sets_pages_show_the_sheets_and_pass_the_accessibility_rules(
    browser, make_services, tmp_path
):
    services = make_services()
    add_set(services, tmp_path, "actor_a", (24, 2, 1))  # off target, on two sheets
    add_set(services, tmp_path, "actor_c", (13, 4, 3))  # on target
    add_set(services, tmp_path, "actor_b", (6, 9, 5))  # its plan applied
    add_set(services, tmp_path, "actor_d", (3, 0, 0))  # never evaluated
    for set_id in ("actor_a", "actor_b", "actor_c"):
        ask = SetEvaluation(set_id=set_id, run=RUN, execute=set_id == "actor_b")
        evaluate(services, ask)
    token = invite(services.documents, "viv")
    axe = Axe()
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)
        page.goto(f"{base}/sets")
        page.wait_for_load_state("networkidle")
        results = axe.run(page, options=WCAG)
        assert results.violations_count == 0, f"/sets:\n{results.generate_report()}"
        assert page.locator("table.sets tbody tr").count() == 3
        assert page.locator("ul.never a").all_inner_texts() == ["actor_d"]
        screenshot(page, "page-sets.png")

        # from the list to a set, with the keyboard
        page.focus("table.sets a[href='/sets/actor_a']")
        page.keyboard.press("Enter")
        page.wait_for_url("**/sets/actor_a")
        page.wait_for_load_state("networkidle")

        sheets = page.locator("ol.sheets img")
        assert sheets.count() == 2
        for index in range(2):
            sheet = sheets.nth(index)
            sheet.scroll_into_view_if_needed()
            assert sheet.evaluate("img => img.complete && img.naturalWidth > 0"), index
            assert sheet.get_attribute("alt").startswith(f"Contact sheet {index + 1} of 2")
        widths = sheets.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
        assert widths == [[1000, 1000], [400, 200]]  # 25 cells of 200 px on 5 columns, then 2

        # the chart of the mix holds the shares the table states
        drawn = page.evaluate("() => Chart.getChart('chart-mix').data.datasets[0].data")
        stated = [
            float(text.split()[0])
            for text in page.locator("#mix tbody td:nth-child(3)").all_inner_texts()
        ]
        assert drawn == stated
        quality = page.evaluate(
            "() => Chart.getChart('chart-quality').data.datasets"
            ".flatMap(d => d.data).reduce((a, b) => a + b, 0)"
        )
        assert quality == 27

        results = axe.run(page, options=WCAG)
        assert results.violations_count == 0, f"/sets/actor_a:\n{results.generate_report()}"
        screenshot(page, "page-set.png")

        # a plan applied (the changes made), a set never evaluated (no sheet, no chart)
        for set_id in ("actor_b", "actor_d"):
            page.goto(f"{base}/sets/{set_id}")
            page.wait_for_load_state("networkidle")
            results = axe.run(page, options=WCAG)
            assert results.violations_count == 0, f"/sets/{set_id}:\n{results.generate_report()}"
        assert page.locator("ol.sheets img").count() == 0
        assert errors == []

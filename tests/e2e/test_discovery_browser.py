"""The word discovery pages in a real browser, over a discovery run, loaded bundles and
stored mappings: the relevance histogram and the coverage chart are drawn with the numbers
their tables show, and the overview, a run's page and a bundle's page pass axe-core's
WCAG 2.1 A/AA rules. Screenshots go to build/screenshots/ (or $VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from discovery_support import deliver, make_clip_folder
from labelling_support import web_app

from shared.discovery.bundles import load_bundles
from shared.discovery.runs import DiscoveryRequest, start_run
from shared.discovery.store import MappingRecord, create_mapping
from shared.learning import invite

pytestmark = BROWSER_MARKS
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
BUNDLES = (
    "bundle,word\nTOEFL Beginner,abandon\nTOEFL Beginner,ability\nTOEFL Beginner,brave\n"
    "TOEFL Beginner,zebra\nTOEFL Beginner,quixotic\nBusiness English,ability\n"
    "Business English,give up\nBusiness English,deadline\n"
)
SCORES = (0.05, 0.31, 0.48, 0.62, 0.66, 0.71, 0.74, 0.78, 0.83, 0.88, 0.91, 0.97, 1.0)


def seed(services, root) -> str:
    folder = make_clip_folder(root / "clips")
    words = ("abandon", "ability", "brave", "zebra")
    plan = start_run(services, DiscoveryRequest(words=words, source=str(folder)), rate=None)
    deliver(services)
    bundles = root / "bundles.csv"
    bundles.write_text(BUNDLES)
    load_bundles(services.documents, bundles)
    for index, score in enumerate(SCORES):
        record = MappingRecord("give up", "en", f"v{index}", score, "audio", 1.5, False, "upload")
        assert create_mapping(services.documents, record) == "created"
    return plan.run


def test_the_discovery_pages_draw_their_charts_and_pass_the_rules(browser, make_services, tmp_path):
    services = make_services()
    run = seed(services, tmp_path)
    token = invite(services.documents, "viv")
    axe = Axe()
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)
        page.goto(f"{base}/discovery")
        page.wait_for_load_state("networkidle")

        # the histogram is drawn, and adds up to every mapping the table counts
        drawn = page.evaluate(
            "() => { const c = Chart.getChart('chart-relevance'); if (!c) return null;"
            " return c.data.datasets[0].data; }"
        )
        assert drawn is not None
        assert len(drawn) == 10
        assert sum(drawn) == int(page.inner_text("#relevance-total")) > len(SCORES)
        covered = page.evaluate(
            "() => Chart.getChart('chart-coverage').data.datasets.map(d => d.data)"
        )
        assert sum(covered[0]) > 0  # words with clips, per bundle
        assert page.evaluate("() => Chart.getChart('chart-coverage').data.labels") == [
            "business-english",
            "toefl-beginner",
        ]
        results = axe.run(page, options=WCAG)
        assert results.violations_count == 0, results.generate_report()
        screenshot(page, "page-discovery.png")

        for name, path, chart in (
            ("page-discovery-bundle.png", "/discovery/bundles/business-english", True),
            ("page-discovery-run.png", f"/discovery/runs/{run}", False),
        ):
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            if chart:
                bins = page.evaluate(
                    "() => Chart.getChart('chart-relevance').data.datasets[0].data"
                )
                assert sum(bins) == int(page.inner_text("#bundle-mappings")) > 0
            results = axe.run(page, options=WCAG)
            assert results.violations_count == 0, f"{path}:\n{results.generate_report()}"
            screenshot(page, name)
        assert errors == []

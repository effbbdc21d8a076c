"""The status page in a real browser: it updates by itself while `vidcurate ingest` runs in
the background (no reload), and an operator replays a dead letter from it. Screenshots go to
build/screenshots/ (or $VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

import io
import threading

from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from labelling_support import web_app
from rich.console import Console

from shared.bootstrap import use_context
from shared.cli.captions import ingest_folder
from shared.demo.campaign import generate_campaign
from shared.learning import invite
from shared.ports import OutgoingMessage

pytestmark = BROWSER_MARKS


def test_the_status_page_follows_an_ingest_and_replays_a_dead_letter(
    browser, make_services, tmp_path
):
    services = make_services()
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=20, seed=3, include_bad_files=False)
    services.bus.publish_many("ping-dead-letter", [OutgoingMessage(b'{"n": 1}')])
    token = invite(services.documents, "ops", admin=True)
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)
        page.goto(f"{base}/status")
        approved_now = (
            "() => [...document.querySelectorAll('td[data-state=approved]')]"
            ".reduce((sum, cell) => sum + Number(cell.textContent), 0)"
        )
        assert page.evaluate(approved_now) == 0
        page.evaluate("window.loadedOnce = true")  # gone if the page reloads

        # WHEN an ingest runs in the background
        def ingest() -> None:
            use_context(services)
            try:
                ingest_folder(Console(file=io.StringIO()), services, campaign, "default")
            finally:
                use_context(None)

        worker = threading.Thread(target=ingest)
        worker.start()
        # THEN the page shows the campaign by itself, without a reload
        page.wait_for_function(
            "() => [...document.querySelectorAll('td[data-state=approved]')]"
            ".reduce((sum, cell) => sum + Number(cell.textContent), 0) > 0",
            timeout=60_000,
        )
        worker.join(timeout=120)
        page.wait_for_function("() => window.vidcurateRefreshes >= 2", timeout=20_000)
        assert page.evaluate("window.loadedOnce") is True
        approved = page.locator("td[data-state=approved]").all_inner_texts()
        assert sum(int(n) for n in approved) > 0
        screenshot(page, "status-page.png")

        # the dead letter inspected first: its body, kept open across refreshes
        page.click("details.dead-letter summary")
        refreshes = page.evaluate("window.vidcurateRefreshes")
        page.wait_for_function(f"() => window.vidcurateRefreshes >= {refreshes + 2}")
        assert page.evaluate("document.querySelector('details.dead-letter').open") is True
        assert page.inner_text("details.dead-letter pre") == '{"n": 1}'

        # an operator replays the dead letter from the page
        page.click("button.replay")
        page.wait_for_function(
            "() => document.getElementById('status-notice').textContent.startsWith('Replayed')"
        )
        page.wait_for_function(
            "() => !document.querySelector('button.replay')", timeout=20_000
        )  # the next refresh no longer lists it
        assert services.bus.backlog(["ping"]) == 1
        assert errors == []
        page.close()

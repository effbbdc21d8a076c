"""The costs page in a real browser: its charts are drawn (each chart holds the numbers its
table shows), and every main page passes axe-core's WCAG 2 A/AA rules (labels, names,
contrast) and can be walked with the keyboard. Screenshots of every page go to
build/screenshots/ (or $VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from explorer_support import add_described_clips
from labelling_support import web_app

from shared.learning import invite
from shared.llm.ledger import record_call
from shared.media import clip_id
from shared.ports import OutgoingMessage

pytestmark = BROWSER_MARKS
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
CHARTS = ["chart-days", "chart-tokens", "chart-models", "chart-kinds", "chart-runs", "chart-rates"]


def spend(documents, now: datetime, calls: int = 120) -> None:
    rng = random.Random(4)
    for index in range(calls):
        back = (
            timedelta(minutes=rng.randrange(0, 50))
            if index % 3 == 0
            else timedelta(hours=rng.randrange(1, 24 * 20))
        )
        record_call(
            documents,
            f"c{index}",
            {
                "outcome": "success",
                "model": rng.choice(["gpt-4.1", "gpt-4o-mini"]),
                "prompt_name": "describe",
                "input_tokens": rng.randrange(200, 2000),
                "output_tokens": rng.randrange(20, 150),
                "cost_usd": round(rng.uniform(0.001, 0.02), 6),
                "labels": {
                    "kind": rng.choice(["vision", "blind_model_critique", "discovery_final"]),
                    "run": rng.choice(["export_20261130_0900", "disc_20261201_a"]),
                },
            },
            now=now - back,
        )


def test_the_costs_page_draws_its_charts(browser, make_services):
    services = make_services()
    spend(services.documents, datetime.now(UTC))
    token = invite(services.documents, "viv")
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)
        page.goto(f"{base}/costs?days=30")

        for chart in CHARTS:
            points = page.evaluate(
                "(id) => { const c = Chart.getChart(id); if (!c) return -1;"
                " return c.data.datasets.flatMap(d => d.data).filter(v => v > 0).length; }",
                chart,
            )
            assert points > 0, chart
        # the chart of spend per day adds up to the total the page states
        drawn = page.evaluate(
            "() => Chart.getChart('chart-days').data.datasets"
            ".flatMap(d => d.data).reduce((a, b) => a + b, 0)"
        )
        stated = float(page.get_attribute("#total-spend", "data-usd"))
        assert drawn == pytest.approx(stated, abs=1e-6)
        screenshot(page, "costs-page.png")

        # another period, chosen with the keyboard
        page.focus("nav.windows a[href='/costs?days=7']")
        page.keyboard.press("Enter")
        page.wait_for_url("**days=7")
        assert len(page.evaluate("() => Chart.getChart('chart-days').data.labels")) == 7
        with page.expect_download() as download:
            page.click("a[href^='/costs/days.csv']")
        assert download.value.suggested_filename == "vidcurate-costs-days-7d.csv"
        assert errors == []


def test_every_page_passes_the_accessibility_rules_and_the_keyboard(
    browser, make_services, tmp_path
):
    services = make_services()
    names = add_described_clips(services, tmp_path / "clips", 1)
    spend(services.documents, datetime.now(UTC), calls=30)
    services.bus.publish_many("ping-dead-letter", [OutgoingMessage(b'{"n": 1}')])
    token = invite(services.documents, "ops", admin=True)
    clip = clip_id(services.settings.videos_bucket, names[0])
    pages = {
        "clips": "/clips",
        "clip": f"/clips/{clip}",
        "status": "/status",
        "costs": "/costs",
        "labelling": "/label",
        "labelling-status": "/admin/labels",
    }
    axe = Axe()
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")

            results = axe.run(page, options=WCAG)
            assert results.violations_count == 0, f"{path}:\n{results.generate_report()}"

            # the keyboard reaches every link of the navigation, in order, from the top
            nav = page.eval_on_selector_all("header nav a", "links => links.map(a => a.href)")
            reached = []
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            for _ in range(len(nav) + 1):  # the brand, then the navigation
                page.keyboard.press("Tab")
                focused = page.evaluate(
                    "() => [document.activeElement.href || document.activeElement.tagName,"
                    " getComputedStyle(document.activeElement).outlineStyle]"
                )
                assert focused[1] != "none", f"{path}: {focused[0]} is focused but shows no focus"
                reached.append(focused[0])
            assert list(dict.fromkeys(href for href in reached if href in nav)) == nav, path
            screenshot(page, f"page-{name}.png")
        assert errors == []

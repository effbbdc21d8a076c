"""The clip explorer in a real browser (Playwright driving Debian's Chromium): the list, a
clip's page, the video playing (its element reports progress), three frames with their
descriptions and cost, keyboard navigation and the basics of accessibility. Screenshots go to
build/screenshots/ (or $VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

import pytest
from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from explorer_support import add_described_clips
from labelling_support import web_app
from llmfake import DEFAULT_OPENAI_KEY, llm_server_fixture  # noqa: F401 (fixture llm_server)

from shared.learning import invite
from shared.media import clip_id

pytestmark = BROWSER_MARKS


def test_explore_clips_play_one_and_read_its_frames(browser, make_services, tmp_path):
    services = make_services()
    names = add_described_clips(services, tmp_path / "clips", 2)
    token = invite(services.documents, "viv")
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token)

        # the list: both clips, their sampling and descriptions
        page.goto(f"{base}/clips")
        rows = page.locator("table.clips tbody tr")
        assert rows.count() == 2
        assert "done" in rows.nth(0).inner_text()
        screenshot(page, "explorer-clips.png")
        # search by metadata, with the keyboard only
        page.focus("#field")
        page.keyboard.type("factory_id")
        page.keyboard.press("Tab")
        page.keyboard.type("F1")
        page.keyboard.press("Enter")
        page.wait_for_url("**value=F1**")
        assert page.locator("table.clips tbody tr").count() == 1
        assert names[1] in page.inner_text("table.clips")

        # a clip's page: the video plays, three frames with descriptions and the cost
        page.goto(f"{base}/clips/{clip_id(services.settings.videos_bucket, names[0])}")
        frames = page.locator("ol.frames li.frame")
        assert frames.count() == 3
        assert page.locator("ol.frames .description").count() == 3
        assert "tokens" in page.inner_text("#cost")
        assert "$0.00000" in page.inner_text("#cost")  # offline: described, at no cost
        page.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        )
        played = page.evaluate(
            """async () => {
                const video = document.getElementById('player');
                video.muted = true;
                await video.play();
                await new Promise(done => {
                    const check = () => video.currentTime > 0.5 ? done() : setTimeout(check, 50);
                    check();
                });
                video.pause();
                return {time: video.currentTime, duration: video.duration};
            }"""
        )
        assert played["time"] > 0.5
        assert played["duration"] == pytest.approx(30, abs=0.5)
        screenshot(page, "explorer-clip.png")

        # accessibility basics: every image has alternative text, every input a label, the
        # current page is marked in the navigation
        assert page.locator("img:not([alt])").count() == 0
        assert page.get_attribute("nav a[aria-current='page']", "href") == "/clips"
        page.goto(f"{base}/clips")
        for field in ("prefix", "field", "value"):
            assert page.locator(f"label[for='{field}']").count() == 1
        assert errors == []
        page.close()


def test_an_operator_describes_a_clip_and_watches_the_cost_go_up(
    browser, make_services, tmp_path, llm_server
):
    # the vision model answers through the OpenAI SDK (the fake server), priced
    services = make_services(
        openai_api_key=DEFAULT_OPENAI_KEY, openai_base_url=llm_server.openai_base_url
    )
    (name,) = add_described_clips(services, tmp_path / "clips", 1)
    token = invite(services.documents, "op", admin=True)
    with web_app(services) as base:
        page, errors = signed_in(browser, base, token, height=1000)
        page.goto(f"{base}/clips/{clip_id(services.settings.videos_bucket, name)}")
        before = float(page.get_attribute("#cost", "data-cost"))
        assert before > 0  # described once already, at a price
        # the cost first, then the description with another prompt
        page.select_option("#prompt", "egocentric_activity")
        page.click("#estimate")
        page.wait_for_function(
            "() => document.getElementById('estimate-result').textContent.includes('frame(s)')"
        )
        assert "3 frame(s) to describe" in page.inner_text("#estimate-result")
        assert page.is_enabled("#analyze")
        page.click("#analyze")
        page.wait_for_function(
            f"() => Number(document.getElementById('cost').dataset.cost) > {before}",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => document.getElementById('cost').dataset.frames === '6'", timeout=30_000
        )
        assert float(page.get_attribute("#cost", "data-cost")) > before
        screenshot(page, "explorer-analyzed.png")
        assert errors == []
        page.close()

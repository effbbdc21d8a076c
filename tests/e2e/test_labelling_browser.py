"""The labelling page in a real browser: Playwright driving Debian's Chromium against the app
served by uvicorn on the local stores. Screenshots go to build/screenshots/ (or
$VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

import pytest
from browser_support import BROWSER_MARKS, browser_fixture, screenshot, signed_in  # noqa: F401
from labelling_support import add_sampled_clips, web_app
from support import poll

from shared.learning import Labelling, invite, label_path

pytestmark = BROWSER_MARKS

PERSPECTIVE_KEYS = ("1", "2", "3")
DISTANCE_KEYS = ("q", "w", "e")
PERSPECTIVES = ("first_person", "third_person", "overhead")
DISTANCES = ("close", "medium", "far")


@pytest.fixture
def site(make_services):
    services = make_services()
    add_sampled_clips(services, 4, 3)  # 12 frames
    with web_app(services) as base:
        yield services, base


def _open(browser, base: str, token: str):
    return signed_in(browser, base, token, height=800)


def _shown(page, position: int) -> None:
    page.wait_for_selector(f"#frame[data-shown='{position}']", timeout=10_000)


def test_label_ten_frames_by_keyboard_go_back_change_one_reload_and_resume(browser, site):
    services, base = site
    page, errors = _open(browser, base, invite(services.documents, "ann"))
    queue = Labelling(services).queue("ann").frame_ids
    _shown(page, 0)
    assert page.inner_text("#position") == "1"
    # GIVEN ten frames labelled with the keyboard, one answer per task each
    for position in range(10):
        page.keyboard.press(PERSPECTIVE_KEYS[position % 3])
        page.keyboard.press(DISTANCE_KEYS[(position + 1) % 3])
        _shown(page, position + 1)
    assert page.inner_text("#labelled") == "10"
    assert page.get_attribute("#progress", "value") == "10"
    screenshot(page, "labelling-page.png")
    # WHEN the annotator goes back to the fifth frame and changes its perspective
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    _shown(page, 4)
    pressed = page.locator("button.choice[aria-pressed='true']").all_inner_texts()
    assert any(PERSPECTIVES[4 % 3].replace("_", " ") in text for text in pressed)
    page.keyboard.press("3")  # overhead (it was third_person): a change of one task...
    page.wait_for_selector("#hint:not([hidden])")
    assert page.get_attribute("button[data-class='overhead']", "aria-pressed") == "true"
    page.keyboard.press("Enter")  # ...saved with Enter
    _shown(page, 5)
    # THEN the label changed and kept its history; still ten labels
    changed = poll(
        lambda: (
            (doc := services.documents.get(label_path("ann", queue[4]))).data["revision"] == 2
            and doc.data
        ),
        timeout=10,
        message="the change was not written",
    )
    assert changed["classes"] == {"perspective": "overhead", "distance": DISTANCES[5 % 3]}
    assert changed["revision"] == 2
    assert changed["history"][0]["classes"]["perspective"] == ("third_person")
    assert services.documents.count("labels", [("annotator", "==", "ann")]) == 10
    # AND holding a key answers one frame only
    page.keyboard.down("u")
    page.keyboard.down("u")  # the browser's repeat
    page.keyboard.up("u")
    _shown(page, 6)
    page.keyboard.press("ArrowLeft")
    _shown(page, 5)
    # AND a reload resumes at the first unlabelled frame
    page.goto(f"{base}/label")
    _shown(page, 10)
    assert page.inner_text("#position") == "11"
    assert page.inner_text("#labelled") == "10"
    # AND the end of the queue is a clear done state
    page.keyboard.press("u")  # unusable
    _shown(page, 11)
    page.keyboard.press("u")
    page.wait_for_selector("#done:not([hidden])")
    assert "Queue done" in page.inner_text("#done")
    screenshot(page, "labelling-done.png")
    assert errors == []


def test_a_second_annotator_gets_another_order_of_the_same_frames(browser, site):
    services, base = site
    ann, _ = _open(browser, base, invite(services.documents, "ann"))
    ben, errors = _open(browser, base, invite(services.documents, "ben"))
    _shown(ben, 0)
    fetch = "fetch('/label/api/frames?start=0&count=12').then(r => r.json())"
    ann_order = [item["frame"] for item in ann.evaluate(fetch)["items"]]
    ben_order = [item["frame"] for item in ben.evaluate(fetch)["items"]]
    assert sorted(ann_order) == sorted(ben_order)
    assert len(ann_order) == 12
    assert ann_order != ben_order
    screenshot(ben, "labelling-second-annotator.png")
    assert errors == []


def test_buttons_work_without_a_keyboard_and_wrong_sessions_see_sign_in(browser, site):
    services, base = site
    page, errors = _open(browser, base, invite(services.documents, "ann"))
    _shown(page, 0)
    page.get_by_role("button", name="third person").click()
    page.get_by_role("button", name="far").click()
    _shown(page, 1)
    page.get_by_role("button", name="Prev").click()
    _shown(page, 0)
    assert page.get_attribute("button[data-class='far']", "aria-pressed") == "true"
    # every button is named, the frame has alternative text
    assert page.get_attribute("#frame", "alt")
    stranger = browser.new_context().new_page()
    stranger.goto(f"{base}/label")
    assert stranger.url.endswith("/signin")
    screenshot(stranger, "signin-page.png")
    assert errors == []

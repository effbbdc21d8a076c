"""The clip explorer over HTTP (uvicorn on a free port, real requests): the list by prefix,
metadata and keyset pages, a clip's page with its frames and descriptions, its video with byte
ranges, its frames and contact sheet; sign-in required; unknown or deleted clips and hostile
query strings answered with a clear 4xx, never a 500."""

from __future__ import annotations

import io

import pytest
import requests
from explorer_support import add_described_clips
from labelling_support import web_app
from PIL import Image
from support import poll

from shared.learning import invite
from shared.media import CLIPS, clip_id
from shared.media.api import clip_page
from shared.web.auth import CSRF_COOKIE, CSRF_HEADER


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from contexts import PROVIDER_KEYS  # noqa: PLC0415, F401 (keys are unset by make_services)

    from shared.bootstrap import build_context  # noqa: PLC0415
    from shared.config import Settings  # noqa: PLC0415

    root = tmp_path_factory.mktemp("explorer")
    services = build_context(
        Settings(_env_file=None, home=root / "home", log_level="CRITICAL", llm_provider="offline")
    )
    names = add_described_clips(services, root / "clips", 3)
    token = invite(services.documents, "viv")
    with web_app(services) as base:
        session = requests.Session()
        assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
        yield services, base, session, names
    services.close()


def test_the_list_pages_and_searches(site):
    _, base, session, names = site
    page = session.get(f"{base}/api/clips", timeout=10).json()
    assert [c["name"] for c in page["clips"]] == names
    assert page["next_cursor"] is None
    assert page["analyses"][names[0]]["described"] == 3
    by_meta = session.get(f"{base}/api/clips", params={"field": "factory_id", "value": "F1"},
                          timeout=10).json()  # fmt: skip
    assert [c["name"] for c in by_meta["clips"]] == [names[1]]
    none = session.get(f"{base}/api/clips", params={"prefix": "other/"}, timeout=10).json()
    assert none["clips"] == []
    html = session.get(f"{base}/clips", params={"prefix": "demo/"}, timeout=10)
    assert html.status_code == 200
    assert all(name in html.text for name in names)


def test_keyset_pages_cover_every_clip_once(site):
    services, _, _, names = site
    first = clip_page(services, size=2)
    second = clip_page(services, size=2, after=first.next_cursor)
    assert [c.name for c in first.clips + second.clips] == names
    assert second.next_cursor is None


def test_a_clip_page_shows_its_frames_descriptions_and_cost(site):
    services, base, session, names = site
    clip = clip_id(services.settings.videos_bucket, names[0])
    page = session.get(f"{base}/clips/{clip}", timeout=10)
    assert page.status_code == 200
    assert page.text.count('<li class="frame') == 3
    assert page.text.count("(quick look)") == 3  # 5, 15 and 25 s
    assert "offline" in page.text  # the descriptions say who wrote them
    assert "factory_id" in page.text
    data = session.get(f"{base}/api/clips/{clip}", timeout=10).json()
    assert [f["timestamp"] for f in data["clip"]["frames"]] == [5.0, 15.0, 25.0]
    assert len(data["analyses"][0]["frames"]) == 3
    frame = session.get(f"{base}/clips/{clip}/frames/1.jpg", timeout=10)
    assert frame.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(frame.content)).size == (160, 96)
    sheet = session.get(f"{base}/clips/{clip}/sheet.jpg", timeout=10)
    assert sheet.headers["content-disposition"] == 'attachment; filename="clip0_sheet.jpg"'
    assert Image.open(io.BytesIO(sheet.content)).format == "JPEG"


def test_the_video_streams_with_byte_ranges(site):
    services, base, session, names = site
    clip = clip_id(services.settings.videos_bucket, names[0])
    original = services.blobs.read(services.settings.videos_bucket, names[0])
    whole = session.get(f"{base}/clips/{clip}/video", timeout=10)
    assert whole.content == original
    assert whole.headers["accept-ranges"] == "bytes"
    ranged = {"Range": "bytes=100-199"}
    part = session.get(f"{base}/clips/{clip}/video", headers=ranged, timeout=10)
    assert part.status_code == 206
    assert part.content == original[100:200]
    again = {"If-None-Match": whole.headers["etag"]}
    assert session.get(f"{base}/clips/{clip}/video", headers=again, timeout=10).status_code == 304


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/clips/nope", 404),
        ("/api/clips/nope", 404),
        ("/clips/nope/video", 404),
        ("/clips/CLIP/frames/99.jpg", 404),
        ("/clips/CLIP/frames/x.jpg", 422),
        ("/api/clips?field=bad%20field&value=x", 422),
        ("/api/clips?prefix=" + "a" * 600, 422),
        ("/api/clips?after=" + "%00%27%22%3Cscript%3E", 200),
        ("/clips?prefix=%3Cscript%3Ealert(1)%3C/script%3E", 200),
    ],
)
def test_bad_requests_get_a_clear_answer(site, path, status):
    services, base, session, names = site
    path = path.replace("CLIP", clip_id(services.settings.videos_bucket, names[0]))
    response = session.get(base + path, timeout=10)
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert "<script>alert(1)" not in response.text  # escaped, never run


def test_viewers_must_sign_in(site):
    _, base, _, _ = site
    assert requests.get(f"{base}/api/clips", timeout=10).status_code == 401
    page = requests.get(f"{base}/clips", timeout=10, allow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/signin")


def test_a_clip_deleted_while_its_page_is_open(site):
    services, base, session, names = site
    clip = clip_id(services.settings.videos_bucket, names[2])
    assert session.get(f"{base}/clips/{clip}", timeout=10).status_code == 200
    services.blobs.delete(services.settings.videos_bucket, names[2])
    gone = session.get(f"{base}/clips/{clip}/video", timeout=10)
    assert gone.status_code == 404
    assert "gone from the bucket" in gone.text
    services.documents.delete(f"{CLIPS}/{clip}")
    page = session.get(f"{base}/clips/{clip}", timeout=10)
    assert page.status_code == 404
    assert "may have been deleted" in page.text


def test_the_cost_first_then_an_operator_starts_the_description(site):
    services, base, session, names = site
    clip = clip_id(services.settings.videos_bucket, names[1])
    url = f"{base}/api/clips/{clip}"
    # every frame was described with the default prompt: nothing left to pay for
    done = session.get(f"{url}/estimate", timeout=10).json()
    assert (done["frames"], done["offline"]) == (0, True)
    other = session.get(f"{url}/estimate", params={"prompt": "egocentric_activity"},
                        timeout=10).json()  # fmt: skip
    assert other["frames"] == 3
    assert other["estimated_cost_usd"] == 0.0  # offline
    assert other["list_price_usd"] > 0
    assert session.get(f"{url}/estimate", params={"prompt": "nope"}, timeout=10).status_code == 422
    unpriced = session.get(f"{url}/estimate", params={"model": "gpt-9"}, timeout=10)
    assert unpriced.status_code == 422
    assert "VIDCURATE_MODEL_PRICES" in unpriced.json()["error"]

    operator = requests.Session()
    operator.post(f"{base}/signin", json={"token": invite(services.documents, "op", admin=True)},
                  timeout=10)  # fmt: skip
    for who in (session, operator):
        who.get(f"{base}/clips/{clip}", timeout=10)  # the page sets its anti-forgery cookie
    body = {"prompt": "egocentric_activity"}
    assert operator.post(f"{url}/analyze", json=body, timeout=10).status_code == 403  # forged
    viewer = session.post(f"{url}/analyze", json=body, timeout=10,
                          headers={CSRF_HEADER: session.cookies[CSRF_COOKIE]})  # fmt: skip
    assert viewer.status_code == 403
    started = operator.post(f"{url}/analyze", json=body, timeout=10,
                            headers={CSRF_HEADER: operator.cookies[CSRF_COOKIE]})  # fmt: skip
    assert started.status_code == 202
    assert (started.json()["by"], started.json()["where"]) == ("op", "here")

    def described() -> int:
        analyses = session.get(url, timeout=10).json()["analyses"]
        return sum(len(a["frames"]) for a in analyses if a["prompt"].startswith("egocentric"))

    poll(lambda: described() == 3, timeout=30, message="the frames were not described")
    actions = [a.data for a in services.documents.iter_collection("operator_actions")]
    assert [(a["who"], a["action"], a["clip"]) for a in actions] == [("op", "analyze", names[1])]

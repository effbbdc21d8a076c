"""The web app over HTTP (uvicorn on a free port, real requests): sign-in, the labelling API's
refusals, the admin pages, errors as pages; and IAP's signed header checked against a locally
signed token whose keys a local server publishes as IAP does (a JWK set)."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from labelling_support import add_sampled_clips, web_app
from support import free_port, serving

from shared.learning import invite, label_path
from shared.ports import OutgoingMessage
from shared.web.auth import CSRF_COOKIE, CSRF_HEADER, IAP_HEADER, IAP_ISSUER

AUDIENCE = "/projects/123456/locations/europe-west1/services/vidcurate-web"
ANSWER = {"perspective": "overhead", "distance": "far"}


# ---------------------------------------------------------------- personal links (laptop)


@pytest.fixture
def site(services):
    add_sampled_clips(services, 4, 3)
    with web_app(services) as base:
        yield services, base


def _signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{base}/signin", json={"token": token}, timeout=10)
    assert response.status_code == 200, response.text
    return session


def _first_item(session: requests.Session, base: str) -> dict:
    body = session.get(f"{base}/label/api/frames", params={"start": 0}, timeout=10).json()
    return {**body["items"][0], "version": body["version"]}


def _post(session, base, item, *, csrf=True, **changes):
    body = {
        "position": item["position"],
        "frame": item["frame"],
        "queue_version": item["version"],
        "revision": item["revision"],
        "classes": ANSWER,
        **changes,
    }
    headers = {CSRF_HEADER: session.cookies.get(CSRF_COOKIE, "")} if csrf else {}
    return session.post(f"{base}/label/api/labels", json=body, headers=headers, timeout=10)


def test_without_a_session_pages_send_to_sign_in_and_apis_answer_401(site):
    _, base = site
    page = requests.get(f"{base}/label", allow_redirects=False, timeout=10)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin"
    api = requests.get(f"{base}/label/api/frames", params={"start": 0}, timeout=10)
    assert api.status_code == 401
    assert "sign in" in api.json()["error"]
    assert requests.get(f"{base}/signin", timeout=10).status_code == 200


def test_a_bad_or_renewed_link_is_refused(site):
    services, base = site
    old = invite(services.documents, "ann")
    invite(services.documents, "ann")  # a new link ends the old one
    response = requests.post(f"{base}/signin", json={"token": old}, timeout=10)
    assert response.status_code == 401
    assert "not valid" in response.json()["error"]
    assert requests.post(f"{base}/signin", json={}, timeout=10).status_code == 422


def test_the_page_shows_one_frame_without_its_clip_or_file_name(site):
    services, base = site
    session = _signed_in(base, invite(services.documents, "ann"))
    page = session.get(f"{base}/label", timeout=10)
    assert page.status_code == 200
    assert "clip0000" not in page.text
    assert ".jpg" not in page.text
    assert 'id="frame"' in page.text
    assert "<progress" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    item = _first_item(session, base)
    image = session.get(f"{base}{item['image']}", timeout=10)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"


def test_an_answer_is_written_once_and_a_replay_is_refused(site):
    services, base = site
    session = _signed_in(base, invite(services.documents, "ann"))
    item = _first_item(session, base)
    written = _post(session, base, item)
    assert written.status_code == 200, written.text
    assert written.json()["revision"] == 1
    assert written.json()["labelled"] == 1
    replay = _post(session, base, item, classes={**ANSWER, "distance": "close"})
    assert replay.status_code == 409
    assert "another tab" in replay.json()["error"]
    labels = services.documents.query("labels", [("annotator", "==", "ann")])
    assert len(labels) == 1
    assert labels[0].data["classes"] == ANSWER


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"classes": {"perspective": "sideways", "distance": "far"}}, 422, "unknown class"),
        ({"classes": {"perspective": "overhead"}}, 422, "no class for distance"),
        ({"frame": "0" * 32}, 409, "not at position 0"),
        ({"position": 10**6}, 409, "not at position"),
        ({"queue_version": "stale"}, 409, "queue changed"),
        ({"revision": 3}, 409, "revision 0, not 3"),
        ({"position": -1}, 422, "position"),
        ({"extra": 1}, 422, "extra"),
    ],
)
def test_bad_answers_are_refused_with_a_reason_and_nothing_written(site, changes, status, words):
    services, base = site
    session = _signed_in(base, invite(services.documents, "ann"))
    response = _post(session, base, _first_item(session, base), **changes)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert services.documents.count("labels") == 0


def test_a_forged_request_without_the_pages_token_is_refused(site):
    services, base = site
    session = _signed_in(base, invite(services.documents, "ann"))
    item = _first_item(session, base)
    forged = _post(session, base, item, csrf=False)
    assert forged.status_code == 403
    assert "labelling page" in forged.json()["error"]
    wrong = session.post(
        f"{base}/label/api/labels",
        json={"position": 0, "frame": item["frame"], "queue_version": item["version"],
              "revision": 0, "classes": ANSWER},
        headers={CSRF_HEADER: "guess"},
        timeout=10,
    )  # fmt: skip
    assert wrong.status_code == 403
    assert services.documents.count("labels") == 0


def test_annotators_see_and_write_only_their_own_queue(site):
    services, base = site
    ann = _signed_in(base, invite(services.documents, "ann"))
    ben = _signed_in(base, invite(services.documents, "ben"))
    ann_item, ben_item = _first_item(ann, base), _first_item(ben, base)
    order = [i["frame"] for i in ann.get(f"{base}/label/api/frames", params={"start": 0,
             "count": 12}, timeout=10).json()["items"]]  # fmt: skip
    other = [i["frame"] for i in ben.get(f"{base}/label/api/frames", params={"start": 0,
             "count": 12}, timeout=10).json()["items"]]  # fmt: skip
    assert sorted(order) == sorted(other)
    assert order != other
    assert _post(ben, base, ben_item).status_code == 200
    # ann answering with ben's frame at its position in ben's queue: not hers there
    if ann_item["frame"] != ben_item["frame"]:
        assert _post(ann, base, {**ann_item, "frame": ben_item["frame"]}).status_code == 409
    assert services.documents.get(label_path("ann", "anything")) is None
    assert ann.get(f"{base}/admin/labels", timeout=10).status_code == 403
    assert ann.get(f"{base}/admin/api/labels", timeout=10).status_code == 403


def test_admins_see_progress_and_agreement(site):
    services, base = site
    admin = _signed_in(base, invite(services.documents, "lead", admin=True))
    invite(services.documents, "ann")
    page = admin.get(f"{base}/admin/labels", timeout=10)
    assert page.status_code == 200
    assert "Labelling status" in page.text
    assert "ann" in page.text
    data = admin.get(f"{base}/admin/api/labels", timeout=10).json()
    assert data["frames"] == 12
    assert {a["annotator"] for a in data["annotators"]} >= {"ann"}


@pytest.mark.parametrize(
    "path",
    ["/label?position=-4", "/label?position=abc", "/label?position=99999999999",
     "/nowhere", "/label/image/v/0", "/label/image/-1/x", "/label/api/frames?start=0&count=999",
     "/label/api/frames?start=%00"],
)  # fmt: skip
def test_hostile_requests_get_a_clear_4xx_not_a_traceback(site, path):
    services, base = site
    session = _signed_in(base, invite(services.documents, "ann"))
    response = session.get(f"{base}{path}", timeout=10)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def test_the_end_of_the_queue_is_a_done_state(site):
    services, base = site
    session = _signed_in(base, invite(services.documents, "ann"))
    page = session.get(f"{base}/label", params={"position": 12}, timeout=10)
    assert page.status_code == 200
    assert "Queue done" in page.text
    assert session.get(f"{base}/label/image/12/x", timeout=10).status_code == 404
    assert session.get(f"{base}/label/image/0/{'0' * 32}", timeout=10).status_code == 409


# ------------------------------------------------------------------------- IAP in the cloud


class _Keys:
    """A P-256 key pair that signs like IAP, and its public half as a JWK set."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict:
        data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def sign(self, email: str, *, audience: str = AUDIENCE, expires_in: float = 600) -> str:
        now = int(time.time())
        claims = {
            "iss": IAP_ISSUER,
            "aud": audience,
            "sub": f"accounts.google.com:{abs(hash(email))}",
            "email": email,
            "iat": now - 5,
            "exp": int(now + expires_in),
        }
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"kid": self.kid})


@pytest.fixture
def iap(make_services):
    """The app configured for IAP, IAP's keys served locally; (services, base, keys)."""
    keys = _Keys("iap-key-1")
    document = json.dumps({"keys": [keys.jwk()]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(server, "iap-keys") as keys_url:
        services = make_services(
            web_iap_audience=AUDIENCE,
            web_iap_certs_url=f"{keys_url}/public_key-jwk",
            web_admins=("boss@example.com",),
        )
        add_sampled_clips(services, 2, 2)
        invite(services.documents, "ann", email="ann@example.com")
        with web_app(services) as base:
            yield services, base, keys


def _as(base: str, path: str, token: str | None) -> requests.Response:
    headers = {IAP_HEADER: token} if token is not None else {}
    return requests.get(f"{base}{path}", headers=headers, allow_redirects=False, timeout=10)


def test_iap_a_valid_assertion_names_the_annotator(iap):
    _, base, keys = iap
    response = _as(base, "/label", keys.sign("ann@example.com"))
    assert response.status_code == 200
    assert "ann" in response.text


@pytest.mark.parametrize(
    ("make_token", "words"),
    [
        (lambda keys: None, "missing"),
        (lambda keys: "", "missing"),
        (lambda keys: keys.sign("ann@example.com", expires_in=-120), "expired"),
        (lambda keys: keys.sign("ann@example.com", audience="/projects/1/apps/other"),
         "another audience"),
        (lambda keys: _Keys("iap-key-1").sign("ann@example.com"), "does not verify"),
        (lambda keys: _Keys("unknown-kid").sign("ann@example.com"), "does not verify"),
        (lambda keys: "not.a.jwt", "does not verify"),
    ],
    ids=["missing", "empty", "expired", "wrong-audience", "forged", "unknown-key", "garbage"],
)  # fmt: skip
def test_iap_an_assertion_that_does_not_verify_is_refused(iap, make_token, words):
    _, base, keys = iap
    response = _as(base, "/label", make_token(keys))
    assert response.status_code == 401
    assert words in response.text
    api = requests.get(f"{base}/label/api/frames", params={"start": 0}, timeout=10,
                       headers={IAP_HEADER: make_token(keys) or ""})  # fmt: skip
    assert api.status_code == 401
    assert words in api.json()["error"]


def test_iap_a_verified_stranger_is_not_an_annotator_and_admins_come_from_settings(iap):
    _, base, keys = iap
    stranger = _as(base, "/label", keys.sign("someone@example.com"))
    assert stranger.status_code == 403
    assert "not an annotator" in stranger.text
    assert _as(base, "/admin/labels", keys.sign("ann@example.com")).status_code == 403
    boss = _as(base, "/admin/labels", keys.sign("boss@example.com"))
    assert boss.status_code == 200
    assert "Labelling status" in boss.text
    # sign-in links are not a way around IAP
    assert requests.post(f"{base}/signin", json={"token": "x"}, timeout=10).status_code == 404


def test_an_annotator_whose_email_is_listed_as_admin_is_one_with_a_link_too(make_services):
    services = make_services(web_admins=("lead@example.com",))
    add_sampled_clips(services, 1, 2)
    token = invite(services.documents, "lead", email="Lead@Example.com")
    with web_app(services) as base:
        session = _signed_in(base, token)
        assert session.get(f"{base}/admin/labels", timeout=10).status_code == 200


def test_iap_keys_that_cannot_be_fetched_answer_503_not_401(make_services):
    services = make_services(
        web_iap_audience=AUDIENCE, web_iap_certs_url=f"http://127.0.0.1:{free_port()}/keys"
    )
    with web_app(services) as base:
        response = _as(base, "/label/api/frames?start=0", _Keys("k").sign("ann@example.com"))
    assert response.status_code == 503
    assert "cannot be fetched" in response.json()["error"]


NEW_PAGES = ("/clips", "/api/clips", "/status", "/api/status", "/status/report")


@pytest.mark.parametrize("path", NEW_PAGES)
def test_iap_guards_the_explorer_and_status_pages_too(iap, path):
    _, base, keys = iap
    # any identity IAP vouches for may look (a verified stranger is a viewer here)
    assert _as(base, path, keys.sign("someone@example.com")).status_code == 200
    for token, words in (
        (None, "missing"),
        (keys.sign("ann@example.com", expires_in=-120), "expired"),
        (keys.sign("ann@example.com", audience="/projects/1/apps/other"), "another audience"),
        (_Keys("iap-key-1").sign("ann@example.com"), "does not verify"),
    ):
        refused = _as(base, path, token)
        assert refused.status_code == 401, (path, words)
        assert words in refused.text


def test_iap_operator_actions_need_an_admin_identity(iap):
    services, base, keys = iap
    services.bus.publish_many("ping-dead-letter", [OutgoingMessage(b"{}")])
    for email, status in (("someone@example.com", 403), ("boss@example.com", 200)):
        session = requests.Session()
        headers = {IAP_HEADER: keys.sign(email)}
        session.get(f"{base}/status", headers=headers, timeout=10)  # the anti-forgery cookie
        listed = session.get(f"{base}/api/status", headers=headers, timeout=10).json()
        message = listed["dead_letters"][0]["message_id"]
        replay = session.post(
            f"{base}/api/status/replay",
            json={"function": "ping", "message_id": message},
            headers={**headers, CSRF_HEADER: session.cookies[CSRF_COOKIE]},
            timeout=10,
        )
        assert replay.status_code == status, (email, replay.text)

"""A local stand-in for the Hugging Face Hub, spoken to by the real ``huggingface_hub`` client.

No installable Hub server exists, so this answers the endpoints the client uses to create a
dataset repo, commit files and read them back, over real HTTP on 127.0.0.1:

- ``POST /api/repos/create``, ``POST /api/validate-yaml``
- ``GET /api/datasets/{repo}[/revision/{rev}]`` (repo info with the head ``sha``)
- ``POST /api/datasets/{repo}/preupload/{rev}`` (always ``uploadMode: regular``: content
  travels inline in the commit, no LFS)
- ``POST /api/datasets/{repo}/commit/{rev}`` (NDJSON: header, file, deletedFile,
  deletedFolder lines; ``parentCommit`` checked as the Hub does, 412 when the head moved)
- ``GET /api/datasets/{repo}/tree/{rev}[/{path}]`` (``recursive``, ``expand`` with
  ``lastCommit``; pages of :attr:`FakeHub.tree_page_size` entries behind a ``Link: rel="next"``
  cursor when set, as the Hub pages large trees)
- ``GET|HEAD /datasets/{repo}/resolve/{rev}/{path}`` (ETag, X-Repo-Commit, Content-Length):
  what ``hf_hub_download`` reads; a gated repo (:attr:`FakeRepo.gated`) answers 403
  ``GatedRepo`` until :attr:`FakeRepo.access_granted` (401 to anonymous readers), as the Hub
  does for a user who has not accepted the dataset's conditions
- ``GET /api/whoami-v2``

Every request must carry the expected bearer token (401 otherwise, as the Hub answers a bad
token; reads of public repos may be anonymous). Repos live in memory with their files and
every commit and its operations, so a test asserts "exactly one commit". Faults are
injected per path regex: :meth:`FakeHub.fail_next`. A route the fake does not know answers
404 and is remembered in :attr:`FakeHub.unknown_routes`, so that a new client call shows up.

``tests/`` is on ``sys.path``. A test module gets the ``hub_server`` fixture by importing
``hub_server_fixture`` (the fixture is registered under its ``name``, ``hub_server``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import yaml
from support import serving

__all__ = ["FakeCommit", "FakeHub", "FakeRepo", "hub_server_fixture", "run_fake_hub"]

DEFAULT_TOKEN = "hf_fake_test_token_3f9a7c1e"
DEFAULT_USER = "vidcurate-bot"
MAIN = "main"


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob, as the Hub reports it for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakeCommit:
    """One commit posted through ``/commit``: its header and operations, in order."""

    oid: str
    parent: str
    summary: str
    description: str
    date: str
    operations: list[tuple[str, str]]  # (key, path): ("file", "a/b.json"), ("deletedFile", ...)

    @property
    def paths(self) -> list[str]:
        """Paths added or changed by this commit."""
        return [path for key, path in self.operations if key == "file"]


@dataclass
class FakeRepo:
    """A repo: files on ``main``, and the commits made through the API.

    Like the Hub, a new repo starts with an initial commit (``head``); it is not in
    ``commits``, which lists only what clients committed.
    """

    repo_id: str
    repo_type: str
    private: bool
    gated: bool = False
    access_granted: bool = False
    head: str = field(default_factory=lambda: uuid.uuid4().hex + "00000000")
    files: dict[str, bytes] = field(default_factory=dict)
    file_commits: dict[str, FakeCommit] = field(default_factory=dict)
    commits: list[FakeCommit] = field(default_factory=list)


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    method: str | None
    status: int
    remaining: int
    headers: dict[str, str]
    after_handling: bool
    delay: float


@dataclass
class _Hook:
    pattern: re.Pattern[str]
    method: str | None
    action: Callable[[], object]


class Reply(Exception):  # noqa: N818 (control flow: "answer this", not an error)
    """Raised by a route to answer with ``status`` and a JSON error body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class FakeHub:
    """State and behaviour of the fake Hub (the HTTP plumbing is in the handler below)."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, user: str = DEFAULT_USER) -> None:
        self.token = token
        self.user = user
        self.endpoint = ""  # set when the server listens
        self.repos: dict[str, FakeRepo] = {}
        self.tree_page_size: int | None = None  # None: every entry in one page
        self.requests: list[tuple[str, str, int]] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._hooks: list[_Hook] = []
        self._lock = threading.RLock()

    # -- what tests use ------------------------------------------------------------------

    def fail_next(
        self,
        path_regex: str,
        status: int,
        times: int = 1,
        *,
        method: str | None = None,
        retry_after: str | float | None = None,
        headers: dict[str, str] | None = None,
        after_handling: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests whose path matches ``path_regex`` with ``status``.

        ``method`` narrows it (``"POST"``); ``retry_after`` adds a ``Retry-After`` header.
        With ``after_handling`` the request is carried out first and only its answer is
        replaced: a commit that lands but whose answer the client never sees. ``delay``
        seconds pass before the answer: a stalled Hub, for the client's timeouts.
        """
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        with self._lock:
            self._faults.append(
                _Fault(re.compile(path_regex), method, status, times, extra, after_handling, delay)
            )

    def run_before_next(
        self, path_regex: str, action: Callable[[], object], *, method: str | None = None
    ) -> None:
        """Run ``action`` once, just before handling the next request to ``path_regex``.

        A way to make something happen "meanwhile", e.g. a person editing the README between
        the client reading it and committing.
        """
        with self._lock:
            self._hooks.append(_Hook(re.compile(path_regex), method, action))

    def repo(self, repo_id: str) -> FakeRepo:
        """The repo ``repo_id`` (KeyError when it was never created)."""
        with self._lock:
            return self.repos[repo_id]

    def create_repo(
        self,
        repo_id: str,
        *,
        repo_type: str = "dataset",
        private: bool = True,
        gated: bool = False,
    ) -> FakeRepo:
        """Create a repo directly, as if someone made it on the website."""
        with self._lock:
            return self.repos.setdefault(
                repo_id, FakeRepo(repo_id, repo_type, private, gated=gated)
            )

    def commit_as_user(
        self, repo_id: str, files: dict[str, bytes], summary: str = "edit"
    ) -> FakeCommit:
        """A commit made by a person (website edit), outside the client under test."""
        with self._lock:
            repo = self.create_repo(repo_id)
            return self._commit(
                repo, summary, "", [("file", path, data) for path, data in files.items()]
            )

    def requests_to(self, path_regex: str, method: str | None = None) -> list[tuple[str, str, int]]:
        """The requests (method, path, status) whose path matches, in arrival order."""
        pattern = re.compile(path_regex)
        with self._lock:
            return [
                r
                for r in self.requests
                if pattern.search(r[1]) and (method is None or r[0] == method)
            ]

    # -- request handling ----------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body)."""
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            self._run_hook(method, path)
            fault = self._take_fault(method, path)
            if fault is not None and fault.delay:
                time.sleep(fault.delay)  # in the server's thread: the client sees a stall
            if fault is not None and not fault.after_handling:
                raise Reply(fault.status, f"injected HTTP {fault.status}", fault.headers)
            authenticated = self._authenticate(headers.get("Authorization"))
            status, reply_headers, reply = self._route(method, path, query, body, authenticated)
            if fault is not None:
                raise Reply(fault.status, f"injected HTTP {fault.status}", fault.headers)
        except Reply as reply_error:
            status = reply_error.status
            reply_headers = {"Content-Type": "application/json", **reply_error.headers}
            reply = json.dumps({"error": reply_error.message}).encode()
            if status in (401, 403, 404):
                reply_headers.setdefault("X-Error-Message", reply_error.message)
        with self._lock:
            self.requests.append((method, path, status))
        return status, reply_headers, reply

    def _run_hook(self, method: str, path: str) -> None:
        with self._lock:
            for hook in self._hooks:
                if hook.pattern.search(path) and hook.method in (None, method):
                    self._hooks.remove(hook)
                    hook.action()
                    return

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.pattern.search(path):
                    if fault.method is not None and fault.method != method:
                        continue
                    fault.remaining -= 1
                    return fault
        return None

    def _authenticate(self, header: str | None) -> bool:
        if header is None:
            return False
        if header != f"Bearer {self.token}":
            raise Reply(401, "Invalid credentials in Authorization header")
        return True

    def _route(
        self, method: str, path: str, query: dict[str, str], body: bytes, authenticated: bool
    ) -> tuple[int, dict[str, str], bytes]:
        api = r"/api/(?P<kind>datasets|models|spaces)/(?P<repo>[^/]+/[^/]+)"
        resolve = (
            r"/(?P<kind>datasets|spaces)/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)"
        )
        routes: list[tuple[str, str, Callable[..., tuple[int, dict[str, str], bytes]]]] = [
            ("POST", r"/api/repos/create", self._create_repo_route),
            ("POST", r"/api/validate-yaml", self._validate_yaml),
            ("GET", r"/api/whoami-v2", self._whoami),
            ("POST", api + r"/preupload/(?P<rev>[^/]+)", self._preupload),
            ("POST", api + r"/commit/(?P<rev>[^/]+)", self._commit_route),
            ("GET", api + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", self._tree),
            ("GET", api + r"(?:/revision/(?P<rev>[^/]+))?", self._info),
            ("GET", resolve, self._resolve),
            ("HEAD", resolve, self._resolve),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                with self._lock:
                    return handler(
                        method=method, query=query, body=body, authenticated=authenticated, **params
                    )
        with self._lock:
            self.unknown_routes.append((method, path))
        raise Reply(404, f"the fake Hub does not serve {method} {path}")

    # -- routes --------------------------------------------------------------------------

    @staticmethod
    def _json(data: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

    def _require_write(self, authenticated: bool) -> None:
        if not authenticated:
            raise Reply(401, "You must be authenticated to do this")

    def _readable_repo(self, repo_id: str, authenticated: bool) -> FakeRepo:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and not authenticated):
            # The Hub does not tell a private repo from a missing one.
            raise Reply(404, "Repository not found", {"X-Error-Code": "RepoNotFound"})
        return repo

    @staticmethod
    def _check_revision(repo: FakeRepo, rev: str) -> None:
        if rev not in (MAIN, repo.head):
            raise Reply(404, f"Invalid rev id: {rev}", {"X-Error-Code": "RevisionNotFound"})

    def _create_repo_route(
        self, *, body: bytes, authenticated: bool, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        self._require_write(authenticated)
        payload = json.loads(body)
        owner = payload.get("organization") or self.user
        repo_id = f"{owner}/{payload['name']}"
        repo_type = payload.get("type") or "model"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.endpoint}/{prefix}{repo_id}"
        if repo_id in self.repos:
            return self._json({"error": "You already created this repo", "url": url}, 409)
        private = payload.get("visibility", "public") == "private" or bool(payload.get("private"))
        self.repos[repo_id] = FakeRepo(repo_id, repo_type, private)
        return self._json({"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, *, body: bytes, **_: Any) -> tuple[int, dict[str, str], bytes]:
        content = json.loads(body).get("content", "")
        match = re.match(r"^\s*---\r?\n([\s\S]*?)\r?\n---(\r?\n|$)", content)
        if match:
            try:
                metadata = yaml.safe_load(match.group(1))
            except yaml.YAMLError as exc:
                return self._json({"errors": [{"message": f"Invalid YAML: {exc}"}]}, 400)
            if metadata is not None and not isinstance(metadata, dict):
                return self._json({"errors": [{"message": "metadata must be a mapping"}]}, 400)
        return self._json({"errors": [], "warnings": []})

    def _whoami(self, *, authenticated: bool, **_: Any) -> tuple[int, dict[str, str], bytes]:
        self._require_write(authenticated)
        return self._json({"type": "user", "name": self.user, "auth": {"type": "access_token"}})

    def _info(
        self, *, repo: str, authenticated: bool, rev: str = MAIN, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        fake = self._readable_repo(repo, authenticated)
        self._check_revision(fake, rev)
        return self._json(
            {
                "id": fake.repo_id,
                "_id": fake.repo_id,
                "author": fake.repo_id.split("/")[0],
                "sha": fake.head,
                "private": fake.private,
                "lastModified": _now(),
                "siblings": [{"rfilename": path} for path in sorted(fake.files)],
            }
        )

    def _preupload(
        self, *, repo: str, rev: str, body: bytes, authenticated: bool, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        self._require_write(authenticated)
        fake = self._readable_repo(repo, authenticated)
        self._check_revision(fake, rev)
        files = json.loads(body)["files"]
        return self._json(
            {
                "files": [
                    {
                        "path": f["path"],
                        "uploadMode": "regular",
                        "shouldIgnore": False,
                        "oid": git_blob_oid(fake.files[f["path"]])
                        if f["path"] in fake.files
                        else None,
                    }
                    for f in files
                ],
                "commitOid": fake.head,
            }
        )

    def _commit_route(
        self, *, repo: str, rev: str, body: bytes, authenticated: bool, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        self._require_write(authenticated)
        fake = self._readable_repo(repo, authenticated)
        self._check_revision(fake, rev)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise Reply(400, "the first line must be the commit header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent and not fake.head.startswith(parent):
            raise Reply(412, "A commit has happened since. Please refresh and try again.")
        operations: list[tuple[str, str, bytes]] = []
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            if key == "file":
                if value.get("encoding") != "base64":
                    raise Reply(400, f"unsupported encoding {value.get('encoding')!r}")
                operations.append(("file", value["path"], base64.b64decode(value["content"])))
            elif key in ("deletedFile", "deletedFolder"):
                operations.append((key, value["path"], b""))
            else:
                raise Reply(400, f"the fake Hub does not take {key!r} lines (no LFS)")
        commit = self._commit(
            fake, header.get("summary", ""), header.get("description", ""), operations
        )
        prefix = "" if fake.repo_type == "model" else f"{fake.repo_type}s/"
        return self._json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self.endpoint}/{prefix}{fake.repo_id}/commit/{commit.oid}",
                "hookOutput": "",
            }
        )

    def _commit(
        self,
        repo: FakeRepo,
        summary: str,
        description: str,
        operations: list[tuple[str, str, bytes]],
    ) -> FakeCommit:
        for key, path, _ in operations:
            if key == "deletedFile" and path not in repo.files:
                raise Reply(
                    404,
                    f"A file with this name doesn't exist: {path}",
                    {"X-Error-Code": "EntryNotFound"},
                )
        oid = hashlib.sha1(
            f"{repo.head}:{summary}:{uuid.uuid4()}".encode(), usedforsecurity=False
        ).hexdigest()
        commit = FakeCommit(
            oid, repo.head, summary, description, _now(), [(k, p) for k, p, _ in operations]
        )
        for key, path, data in operations:
            if key == "file":
                repo.files[path] = data
                repo.file_commits[path] = commit
            elif key == "deletedFile":
                repo.files.pop(path, None)
            else:
                for name in [n for n in repo.files if n.startswith(path.rstrip("/") + "/")]:
                    del repo.files[name]
        repo.head = oid
        repo.commits.append(commit)
        return commit

    def _tree(
        self,
        *,
        repo: str,
        rev: str,
        query: dict[str, str],
        authenticated: bool,
        path: str = "",
        **_: Any,
    ) -> tuple[int, dict[str, str], bytes]:
        fake = self._readable_repo(repo, authenticated)
        self._check_revision(fake, rev)
        base = path.strip("/")
        prefix = f"{base}/" if base else ""
        under = {name: data for name, data in fake.files.items() if name.startswith(prefix)}
        if base and not under:
            raise Reply(404, f"{base} does not exist on {rev}", {"X-Error-Code": "EntryNotFound"})
        recursive = query.get("recursive", "").lower() in ("1", "true")
        expand = query.get("expand", "").lower() in ("1", "true")
        cursor = int(query.get("cursor") or 0)
        entries: dict[str, dict[str, Any]] = {}
        for name, data in sorted(under.items()):
            rest = name[len(prefix) :]
            folders = rest.split("/")[:-1]
            for depth in range(len(folders) if recursive else min(1, len(folders))):
                folder = prefix + "/".join(folders[: depth + 1])
                entries.setdefault(
                    folder,
                    {
                        "type": "directory",
                        "path": folder,
                        "oid": git_blob_oid(folder.encode()),
                        "size": 0,
                    },
                )
            if recursive or not folders:
                entry = {"type": "file", "path": name, "oid": git_blob_oid(data), "size": len(data)}
                if expand:
                    commit = fake.file_commits[name]
                    entry["lastCommit"] = {
                        "id": commit.oid,
                        "title": commit.summary,
                        "date": commit.date,
                    }
                entries[name] = entry
        if expand:
            for entry in entries.values():
                if entry["type"] == "directory":
                    latest = max(
                        (
                            fake.file_commits[n]
                            for n in fake.files
                            if n.startswith(entry["path"] + "/")
                        ),
                        key=fake.commits.index,
                    )
                    entry["lastCommit"] = {
                        "id": latest.oid,
                        "title": latest.summary,
                        "date": latest.date,
                    }
        listing = list(entries.values())
        size = self.tree_page_size
        if size is None:
            return self._json(listing)
        status, headers, reply = self._json(listing[cursor : cursor + size])
        if cursor + size < len(listing):
            flags = f"recursive={str(recursive).lower()}&expand={str(expand).lower()}"
            suffix = f"/{quote(base)}" if base else ""
            url = f"{self.endpoint}/api/{fake.repo_type}s/{fake.repo_id}/tree/{rev}{suffix}"
            headers["Link"] = f'<{url}?{flags}&cursor={cursor + size}>; rel="next"'
        return status, headers, reply

    def _resolve(
        self, *, method: str, repo: str, rev: str, path: str, authenticated: bool, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        fake = self._readable_repo(repo, authenticated)
        self._check_revision(fake, rev)
        if fake.gated and not (authenticated and fake.access_granted):
            # The Hub lists a gated repo's files to anyone but serves them only to users
            # who accepted its conditions: 401 anonymous, 403 authenticated.
            raise Reply(
                403 if authenticated else 401,
                f"Access to dataset {fake.repo_id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in.",
                {"X-Error-Code": "GatedRepo"},
            )
        if path not in fake.files:
            raise Reply(404, "Entry not found", {"X-Error-Code": "EntryNotFound"})
        data = fake.files[path]
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{git_blob_oid(data)}"',
            "X-Repo-Commit": fake.head,
            "Content-Length": str(len(data)),
        }
        return 200, headers, b"" if method == "HEAD" else data


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, reply = self.server.hub.handle(self.command, self.path, self.headers, body)
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(reply))))
        self.end_headers()
        if self.command != "HEAD":
            # A client may hang up without reading the body (ours closes a 503 unread).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(reply)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve  # noqa: N815 (http.server names)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: FakeHub.requests keeps what tests need."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub


@contextmanager
def run_fake_hub(hub: FakeHub | None = None) -> Iterator[FakeHub]:
    """Serve ``hub`` (a new FakeHub by default) on a free port until the block ends."""
    hub = hub or FakeHub()
    with serving(_Server(hub), "fake-hub") as url:
        hub.endpoint = url
        yield hub


@pytest.fixture(name="hub_server")
def hub_server_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A running fake Hub; the client's environment keeps it off the network and the machine.

    huggingface_hub reads these variables when it is first imported: code under test imports
    it lazily, after this fixture. The endpoint goes through ``Settings(hf_endpoint=...)``.
    """
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    for variable in ("HF_TOKEN", "HF_ENDPOINT", "VIDCURATE_HF_TOKEN", "VIDCURATE_HF_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    with run_fake_hub() as hub:
        yield hub
    assert not hub.unknown_routes, (
        f"the client called routes the fake does not serve: {hub.unknown_routes}"
    )

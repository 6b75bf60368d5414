"""A fake Hugging Face Hub on 127.0.0.1: the subset of the API that huggingface_hub and `localv4 pull` use.

Two real HTTP servers: the hub (model info, tree listing, `resolve/` with the hub's headers) and a
"CDN" on another port, where the hub redirects LFS files, as huggingface.co does. Repos are plain
folders under ROOT (`ROOT/org/name/...`); every file is served with its real sha256 and git blob id.

With `xet=True` a third server speaks the Xet storage protocol (the CAS) that the `hf_xet` client
downloads through: LFS files then also carry the hub's Xet headers (`X-Xet-Hash`, a `Link` to the
xet-read-token route) and a `xetHash` in the tree listing. The plain CDN path keeps working.

Faults, for tests: answer a status (429/500/404), drop the connection, serve one corrupt byte or
stall at a byte offset, and throttle. Every body byte sent is counted per file and per server.

    python -m tests.support.hubserver --root DIR --port N [--xet]    # then HF_ENDPOINT=http://127.0.0.1:N
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")
LFS_MIN_SIZE = 10 * 1024 * 1024
SEND_CHUNK = 1024 * 1024

# The fake CAS cuts files into fixed 64 KiB chunks (the real client cuts content-defined chunks of
# ~64 KiB, at most 128 KiB; a reader only needs each chunk within that limit) and packs 1024 of
# them into a xorb, about the real 64 MiB limit. Chunks are stored uncompressed.
XET_CHUNK_SIZE = 64 * 1024
XET_CHUNK_HEADER_SIZE = 8
XORB_CHUNKS = 1024
XET_TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class HubFile:
    path: str  # relative to the repo root, '/'-separated
    disk: Path
    size: int
    sha256: str
    git_sha1: str  # the git blob id: of the content, or of the LFS pointer for LFS files
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))


@dataclass(frozen=True)
class HubRepo:
    id: str
    commit: str
    files: dict[str, HubFile]


@dataclass
class Fault:
    """One misbehaviour for GETs of file bodies whose repo path matches `pattern`.

    `api/<repo>` as the pattern breaks the repo's listing (model info) instead.
    """

    pattern: str
    kind: str  # "status" | "drop" | "corrupt" | "stall"
    times: int | None = 1  # None: forever
    status: int = 500
    at: int = 0  # byte offset in the file where drop/corrupt/stall happens
    seconds: float = 60.0  # stall length
    retry_after: int | None = None


@dataclass
class Served:
    """One request for a file, as the server saw it. It is logged when the answer starts and `sent`
    counts each write before it goes: a client that has read the bytes finds them in the log."""

    server: str  # "hub", "cdn" or "cas" (xorb bytes; `start` is then the file offset they begin at)
    method: str
    path: str
    start: int  # first byte asked for (Range), 0 without Range
    status: int
    sent: int  # body bytes handed to the socket
    authorized: bool  # an Authorization header came with it
    arrived: float  # time.monotonic() when the request came in


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """What git stores for an LFS file; its git blob id is the file's `blobId` on the hub."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def scan_repo(root: Path, repo_id: str) -> HubRepo:
    folder = root / repo_id
    files: dict[str, HubFile] = {}
    for disk in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = disk.relative_to(folder).as_posix()
        size = disk.stat().st_size
        lfs = disk.suffix in LFS_SUFFIXES or size >= LFS_MIN_SIZE
        sha = hashlib.sha256()
        with disk.open("rb") as f:
            while chunk := f.read(SEND_CHUNK):
                sha.update(chunk)
        blob = git_blob_sha1(lfs_pointer(sha.hexdigest(), size) if lfs else disk.read_bytes())
        files[rel] = HubFile(rel, disk, size, sha.hexdigest(), blob, lfs)
    commit = hashlib.sha1(
        (repo_id + "".join(f"{p}:{f.sha256}" for p, f in files.items())).encode()
    ).hexdigest()
    return HubRepo(repo_id, commit, files)


def scan_root(root: Path) -> dict[str, HubRepo]:
    return {
        f"{org.name}/{name.name}": scan_repo(root, f"{org.name}/{name.name}")
        for org in sorted(root.iterdir()) if org.is_dir()
        for name in sorted(org.iterdir()) if name.is_dir()
    }


@dataclass(frozen=True)
class XetTerm:
    """One reconstruction term: chunks [first, stop) of xorb number `xorb` of a file."""

    xorb: int
    first: int
    stop: int
    unpacked_length: int  # the file bytes those chunks hold


@dataclass(frozen=True)
class XetFile:
    """How the fake CAS stores one file: chunk n holds file bytes [n*64 KiB, (n+1)*64 KiB), and
    xorb x holds chunks [x*xorb_chunks, (x+1)*xorb_chunks), each an 8-byte header and its bytes.

    The client checks no chunk or xorb hash on download, so xorb ids are made up; the file id is the
    real Xet hash of the file (hf_xet.hash_files), as the hub announces in `X-Xet-Hash`.
    """

    hash: str
    file: HubFile
    xorb_chunks: int

    @property
    def xorb_count(self) -> int:
        return -(-self.file.size // (XET_CHUNK_SIZE * self.xorb_chunks))

    def xorb_id(self, xorb: int) -> str:
        return hashlib.sha256(f"xorb {self.file.sha256} {xorb} {self.xorb_chunks}".encode()).hexdigest()

    def chunk_bytes(self, chunk: int) -> tuple[int, int]:
        """File bytes [start, end) of chunk number `chunk` (counted over the whole file)."""
        return chunk * XET_CHUNK_SIZE, min(self.file.size, (chunk + 1) * XET_CHUNK_SIZE)

    def xorb_size(self, xorb: int) -> int:
        first = xorb * self.xorb_chunks
        chunks = min(self.xorb_chunks, -(-self.file.size // XET_CHUNK_SIZE) - first)
        start, end = self.chunk_bytes(first)[0], self.chunk_bytes(first + chunks - 1)[1]
        return chunks * XET_CHUNK_HEADER_SIZE + end - start

    def xorb_offset(self, local_chunk: int) -> int:
        """Where a chunk's header starts in its xorb (every chunk before it is a full one)."""
        return local_chunk * (XET_CHUNK_HEADER_SIZE + XET_CHUNK_SIZE)

    def xorb_position_of(self, xorb: int, file_offset: int) -> int | None:
        """Where file byte `file_offset` lies in the serialized xorb, None if in another xorb."""
        chunk = file_offset // XET_CHUNK_SIZE
        if chunk // self.xorb_chunks != xorb:
            return None
        header = self.xorb_offset(chunk % self.xorb_chunks)
        return header + XET_CHUNK_HEADER_SIZE + file_offset % XET_CHUNK_SIZE

    def file_offset_of(self, xorb: int, position: int) -> int:
        """The file offset of the first chunk a xorb range starting at `position` touches."""
        local = position // (XET_CHUNK_HEADER_SIZE + XET_CHUNK_SIZE)
        return self.chunk_bytes(xorb * self.xorb_chunks + local)[0]

    def read_xorb(self, xorb: int, position: int, length: int) -> bytes:
        """Bytes [position, position+length) of the serialized xorb, built from the file."""
        stride = XET_CHUNK_HEADER_SIZE + XET_CHUNK_SIZE
        out = bytearray()
        with self.file.disk.open("rb") as src:
            local = position // stride
            while len(out) < length and local < self.xorb_chunks:
                start, end = self.chunk_bytes(xorb * self.xorb_chunks + local)
                if start >= end:
                    break
                size = (end - start).to_bytes(3, "little")
                src.seek(start)
                # header: version 0, compressed length, scheme 0 (none), uncompressed length
                piece = b"\0" + size + b"\0" + size + src.read(end - start)
                skip = position + len(out) - self.xorb_offset(local)
                out += piece[skip:skip + length - len(out)]
                local += 1
        return bytes(out)

    def terms(self, start: int, end: int) -> list[XetTerm]:
        """The terms that rebuild file bytes [start, end): whole chunks, one term per xorb."""
        first, last = start // XET_CHUNK_SIZE, (end - 1) // XET_CHUNK_SIZE
        terms = []
        for xorb in range(first // self.xorb_chunks, last // self.xorb_chunks + 1):
            lo, hi = max(first, xorb * self.xorb_chunks), min(last + 1, (xorb + 1) * self.xorb_chunks)
            length = self.chunk_bytes(hi - 1)[1] - self.chunk_bytes(lo)[0]
            base = xorb * self.xorb_chunks
            terms.append(XetTerm(xorb, lo - base, hi - base, length))
        return terms

    def fetch_range(self, term: XetTerm) -> tuple[int, int]:
        """The inclusive xorb byte range that holds a term's chunks (what the client asks for)."""
        end_chunk = self.chunk_bytes(term.xorb * self.xorb_chunks + term.stop - 1)
        last = self.xorb_offset(term.stop - 1) + XET_CHUNK_HEADER_SIZE + end_chunk[1] - end_chunk[0] - 1
        return self.xorb_offset(term.first), last


def xet_files(repos: dict[str, HubRepo], xorb_chunks: int) -> dict[str, XetFile]:
    """Every LFS file by its Xet hash, as the real client would hash it."""
    import hf_xet

    lfs = {f.sha256: f for repo in repos.values() for f in repo.files.values() if f.lfs}
    infos = hf_xet.hash_files([str(f.disk) for f in lfs.values()]) if lfs else []
    return {info.hash: XetFile(info.hash, f, xorb_chunks) for f, info in zip(lfs.values(), infos)}


class FakeHub:
    """The servers, the repos they serve, the faults to inject and what was served.

    `xet=True` adds the CAS: LFS files are then offered through Xet too, in xorbs of
    `xorb_chunks` 64 KiB chunks (lower it to spread a small file over several xorbs).
    """

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, xet: bool = False,
                 xorb_chunks: int = XORB_CHUNKS) -> None:
        self.root = Path(root)
        self.repos = scan_root(self.root)
        self.xet_files = xet_files(self.repos, xorb_chunks) if xet else {}
        self.xet_hashes = {f.file.sha256: h for h, f in self.xet_files.items()}
        self.xorbs = {f.xorb_id(x): (f, x) for f in self.xet_files.values() for x in range(f.xorb_count)}
        self.xet_token = "xet_" + secrets.token_urlsafe(16)  # what the CAS accepts as a Bearer token
        self.faults: list[Fault] = []
        self.rate: float | None = None  # bytes/s per connection, None: as fast as possible
        self.log: list[Served] = []
        self._lock = threading.Lock()
        self._released = threading.Event()  # ends every stall: set by stop() or release_stalls()
        self.hub = ThreadingHTTPServer((host, port), _handler(self, "hub"))
        self.cdn = ThreadingHTTPServer((host, 0), _handler(self, "cdn"))
        self.cas = ThreadingHTTPServer((host, 0), _handler(self, "cas")) if xet else None
        self.servers = [s for s in (self.hub, self.cdn, self.cas) if s is not None]
        for server in self.servers:
            server.daemon_threads = True
        self.endpoint = f"http://{host}:{self.hub.server_address[1]}"
        self.cdn_endpoint = f"http://{host}:{self.cdn.server_address[1]}"
        self.cas_endpoint = f"http://{host}:{self.cas.server_address[1]}" if self.cas else None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeHub:
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------
    def fail(self, pattern: str, status: int, times: int | None = 1, retry_after: int | None = None) -> None:
        self.faults.append(Fault(pattern, "status", times, status=status, retry_after=retry_after))

    def drop(self, pattern: str, at: int, times: int | None = 1) -> None:
        self.faults.append(Fault(pattern, "drop", times, at=at))

    def corrupt(self, pattern: str, at: int, times: int | None = 1) -> None:
        self.faults.append(Fault(pattern, "corrupt", times, at=at))

    def stall(self, pattern: str, at: int, seconds: float = 60.0, times: int | None = 1) -> None:
        self.faults.append(Fault(pattern, "stall", times, at=at, seconds=seconds))

    def take_fault(self, path: str, applies: Callable[[Fault], bool] = lambda fault: True) -> Fault | None:
        """The first live fault for `path` that `applies`. `path` is a repo path, `api/<repo>`,
        `xet-token/<repo>` (the token route), `xet/<path>` (the CAS reconstruction query) or
        `cas/<path>` (its xorb fetches: `at` is a file offset; only a fetch that holds it takes it)."""
        with self._lock:
            for fault in self.faults:
                if fnmatch.fnmatch(path, fault.pattern) and fault.times != 0 and applies(fault):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # -- xet -----------------------------------------------------------------------------------
    def xet_file(self, f: HubFile) -> XetFile | None:
        """How the CAS stores an LFS file; None without xet or for a file kept in git."""
        h = self.xet_hashes.get(f.sha256) if f.lfs else None
        return self.xet_files.get(h) if h else None

    def xet_token_url(self, repo_id: str, revision: str) -> str:
        return f"{self.endpoint}/api/models/{repo_id}/xet-read-token/{revision}"

    # -- accounting --------------------------------------------------------------------------
    def record(self, served: Served) -> None:
        with self._lock:
            self.log.append(served)

    def served_bytes(self, pattern: str = "*", server: str | None = None) -> int:
        """Body bytes sent for files whose repo path matches `pattern`, by one server or all."""
        return sum(s.sent for s in self.requests_for(pattern, server))

    def requests_for(self, pattern: str, server: str | None = None) -> list[Served]:
        with self._lock:
            return [s for s in self.log if s.method == "GET" and fnmatch.fnmatch(s.path, pattern)
                    and server in (None, s.server)]

    def release_stalls(self) -> None:
        """Stalled answers end now (the connection closes), and no later one stalls."""
        self._released.set()

    def wait_stalled(self, seconds: float) -> None:
        self._released.wait(seconds)


_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_API_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
_API_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")
_API_XET_TOKEN = re.compile(r"^/api/models/([^/]+/[^/]+)/xet-read-token/([^/]+)$")
_CDN = re.compile(r"^/lfs/([0-9a-f]{64})$")
_CAS_RECONSTRUCTION = re.compile(r"^/v([12])/reconstructions/([0-9a-f]{64})$")
_CAS_XORB = re.compile(r"^/xorb/([0-9a-f]{64})$")


def _handler(hub: FakeHub, server: str) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        pass

    Handler.hub, Handler.server_name = hub, server
    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub
    server_name: str

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # the client hung up between requests (hf_xet drops pooled ones)
            self.close_connection = True

    # -- routing -----------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def do_POST(self) -> None:
        """Only the CAS takes a POST: the client's telemetry report, read and dropped."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server_name == "cas" and self.path == "/v1/telemetry":
            return self._json({})
        self._error(404, None, "not found")

    def _route(self, head: bool) -> None:
        self.arrived = time.monotonic()
        url = urlsplit(self.path)
        path = unquote(url.path)
        if self.server_name == "cas":
            return self._cas(path, head)
        if self.server_name == "cdn":
            m = _CDN.match(path)
            found = m and self._by_sha(m.group(1))
            if not found:
                return self._error(404, "EntryNotFound", "no such object")
            return self._body(*found, head=head, extra={})
        if m := _RESOLVE.match(path):
            return self._resolve(m.group(1), unquote(m.group(2)), m.group(3), head)
        if m := _API_XET_TOKEN.match(path):
            return self._xet_token(m.group(1), unquote(m.group(2)))
        if m := _API_TREE.match(path):
            return self._tree(m.group(1), unquote(m.group(2)), m.group(3) or "")
        if m := _API_INFO.match(path):
            return self._info(m.group(1), unquote(m.group(2) or "main"), "blobs=true" in url.query)
        self._error(404, None, "not found")

    def _repo_at(self, repo_id: str, revision: str) -> HubRepo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound", "Invalid rev id: " + revision)
            return None
        return repo

    def _by_sha(self, sha: str) -> tuple[HubRepo, HubFile] | None:
        for repo in self.hub.repos.values():
            for f in repo.files.values():
                if f.sha256 == sha:
                    return repo, f
        return None

    # -- API ---------------------------------------------------------------------------------
    def _info(self, repo_id: str, revision: str, blobs: bool) -> None:
        fault = self.hub.take_fault(f"api/{repo_id}")  # hub.fail("api/*", 500) breaks the listing
        if fault and fault.kind == "status":
            return self._error(fault.status, None, f"injected {fault.status}")
        repo = self._repo_at(repo_id, revision)
        if repo is None:
            return
        siblings = []
        for f in repo.files.values():
            entry: dict = {"rfilename": f.path}
            if blobs:
                entry.update(size=f.size, blobId=f.git_sha1)
                if f.lfs:
                    entry["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
            siblings.append(entry)
        self._json({"_id": repo.commit[:24], "id": repo.id, "modelId": repo.id, "sha": repo.commit,
                    "private": False, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                    "tags": [], "siblings": siblings, "lastModified": "2026-04-24T00:00:00.000Z"})

    def _tree(self, repo_id: str, revision: str, prefix: str) -> None:
        repo = self._repo_at(repo_id, revision)
        if repo is None:
            return
        entries, folders = [], set()
        for f in repo.files.values():
            if prefix and not f.path.startswith(prefix.rstrip("/") + "/"):
                continue
            parts = f.path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            entry = {"type": "file", "oid": f.git_sha1, "size": f.size, "path": f.path}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
            if xet := self.hub.xet_file(f):
                entry["xetHash"] = xet.hash
            entries.append(entry)
        entries += [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                    for d in sorted(folders) if d.startswith(prefix)]
        self._json(entries)

    def _resolve(self, repo_id: str, revision: str, path: str, head: bool) -> None:
        repo = self._repo_at(repo_id, revision)
        if repo is None:
            return
        f = repo.files.get(path)
        if f is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist", {"X-Repo-Commit": repo.commit})
        common = {"X-Repo-Commit": repo.commit}
        if not f.lfs:
            return self._body(repo, f, head=head, extra=common)
        if xet := self.hub.xet_file(f):  # what huggingface_hub's parse_xet_file_data_from_response reads
            common["X-Xet-Hash"] = xet.hash
            common["Link"] = f'<{self.hub.xet_token_url(repo.id, repo.commit)}>; rel="xet-auth"'
        self.send_response(302)
        for k, v in {**common, "Location": f"{self.hub.cdn_endpoint}/lfs/{f.sha256}",
                     "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(f.size),
                     "ETag": f'"{f.git_sha1}"', "Content-Length": "0"}.items():
            self.send_header(k, v)
        self._note(f.path, 0, 302, head)
        self.end_headers()

    def _xet_token(self, repo_id: str, revision: str) -> None:
        """A CAS token: JSON for hf_xet's token refresh, the same in headers for huggingface_hub."""
        fault = self.hub.take_fault(f"xet-token/{repo_id}")
        if fault and fault.kind == "status":
            return self._error(fault.status, None, f"injected {fault.status}")
        repo = self._repo_at(repo_id, revision)
        if repo is None:
            return
        if self.hub.cas_endpoint is None:
            return self._error(404, None, "this hub has no Xet storage")
        expires = int(time.time()) + XET_TOKEN_SECONDS
        self._json({"accessToken": self.hub.xet_token, "exp": expires, "casUrl": self.hub.cas_endpoint},
                   {"X-Xet-Cas-Url": self.hub.cas_endpoint, "X-Xet-Access-Token": self.hub.xet_token,
                    "X-Xet-Token-Expiration": str(expires)})

    # -- bodies ------------------------------------------------------------------------------
    def _body(self, repo: HubRepo, f: HubFile, head: bool, extra: dict[str, str]) -> None:
        start, end = self._range(f.size)
        if start is None:
            return self._error(416, None, "range not satisfiable", {"Content-Range": f"bytes */{f.size}"})
        fault = None if head else self.hub.take_fault(f.path)
        if fault and fault.kind == "status":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._note(f.path, start, fault.status, head)
            return self._error(fault.status, None, f"injected {fault.status}", headers)
        partial = "Range" in self.headers
        self.send_response(206 if partial else 200)
        headers = {**extra, "ETag": f'"{f.sha256 if f.lfs else f.git_sha1}"', "Accept-Ranges": "bytes",
                   "Content-Length": str(end - start), "Content-Type": "application/octet-stream"}
        if partial:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
        for k, v in headers.items():
            self.send_header(k, v)
        entry = self._note(f.path, start, 206 if partial else 200, head)
        self.end_headers()
        if not head:
            self._send(f, start, end, fault, entry)

    def _range(self, size: int) -> tuple[int | None, int]:
        header = self.headers.get("Range")
        if not header:
            return 0, size
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
        if not m or int(m.group(1)) >= size:
            return None, size
        return int(m.group(1)), min(size, int(m.group(2)) + 1) if m.group(2) else size

    def _send(self, f: HubFile, start: int, end: int, fault: Fault | None, entry: Served) -> None:
        """Write bytes [start, end) of the file, misbehaving as `fault` says, counted in `entry`."""
        with f.disk.open("rb") as src:
            def read(pos: int, n: int) -> bytes:
                src.seek(pos)
                return src.read(n)

            def sendfile(pos: int, n: int) -> int:
                return os.sendfile(self.connection.fileno(), src.fileno(), pos, n)

            self._stream(read, start, end, fault, fault.at if fault else 0, entry, sendfile)

    def _stream(self, read: Callable[[int, int], bytes], start: int, end: int, fault: Fault | None,
                at: int | None, entry: Served, sendfile: Callable[[int, int], int] | None = None) -> None:
        """Write bytes [start, end) of what `read(pos, n)` gives, misbehaving as `fault` says at
        position `at` (None: not in this body), each write counted in `entry.sent` before it goes."""
        cut = fault is not None and at is not None and fault.kind in ("drop", "stall") and start <= at < end
        stop_at = at if cut else end
        n = 0
        try:
            pos = start
            while pos < stop_at:
                n = min(SEND_CHUNK, stop_at - pos)
                if self.hub.rate:
                    n = min(n, 64 * 1024)
                entry.sent += n
                if fault and fault.kind == "corrupt" and at is not None and pos <= at < pos + n:
                    data = bytearray(read(pos, n))
                    data[at - pos] ^= 0xFF
                    self.connection.sendall(data)
                    written = n
                elif self.hub.rate:
                    self.connection.sendall(read(pos, n))
                    written = n
                    time.sleep(n / self.hub.rate)
                elif sendfile:
                    written = sendfile(pos, n)
                else:
                    self.connection.sendall(read(pos, n))
                    written = n
                entry.sent += written - n
                pos += written
        except (BrokenPipeError, ConnectionResetError):
            entry.sent -= n
            self.close_connection = True
            return
        if cut:
            if fault.kind == "stall":
                self.hub.wait_stalled(fault.seconds)
            self._hang_up()

    # -- the CAS (xet) -----------------------------------------------------------------------
    def _cas(self, path: str, head: bool) -> None:
        if head:
            return self._error(405, None, "the CAS takes GET")
        if m := _CAS_RECONSTRUCTION.match(path):
            return self._reconstruction(int(m.group(1)), m.group(2))
        if m := _CAS_XORB.match(path):
            return self._xorb(m.group(1))
        self._error(404, None, "not found")

    def _reconstruction(self, version: int, file_hash: str) -> None:
        """Which xorb chunks rebuild the file's bytes asked for in `Range`, and where to fetch them.

        v2 (tried first by the client) gives per-xorb byte ranges under `xorbs`; v1 the same under
        `fetch_info`. The first term starts at the chunk holding the first byte asked for.
        """
        if self.headers.get("Authorization") != f"Bearer {self.hub.xet_token}":
            return self._error(401, None, "missing or wrong CAS access token")
        xet = self.hub.xet_files.get(file_hash)
        if xet is None:
            return self._error(404, None, "no such file in the CAS")
        fault = self.hub.take_fault(f"xet/{xet.file.path}")
        if fault and fault.kind == "status":
            return self._error(fault.status, None, f"injected {fault.status}")
        if fault and fault.kind in ("drop", "stall"):
            if fault.kind == "stall":
                self.hub.wait_stalled(fault.seconds)
            return self._hang_up()
        start, end = self._range(xet.file.size)
        if start is None:
            return self._error(416, None, "range not satisfiable",
                               {"Content-Range": f"bytes */{xet.file.size}"})
        terms = xet.terms(start, end)
        fetches = {}
        for t in terms:
            url, (first, last) = f"{self.hub.cas_endpoint}/xorb/{xet.xorb_id(t.xorb)}", xet.fetch_range(t)
            chunks, byte_range = {"start": t.first, "end": t.stop}, {"start": first, "end": last}
            fetches[xet.xorb_id(t.xorb)] = (
                [{"url": url, "ranges": [{"chunks": chunks, "bytes": byte_range}]}] if version == 2
                else [{"range": chunks, "url": url, "url_range": byte_range}])
        self._json({"offset_into_first_range": start % XET_CHUNK_SIZE,
                    "terms": [{"hash": xet.xorb_id(t.xorb), "unpacked_length": t.unpacked_length,
                               "range": {"start": t.first, "end": t.stop}} for t in terms],
                    "xorbs" if version == 2 else "fetch_info": fetches})

    def _xorb(self, xorb_id: str) -> None:
        """A byte range of a serialized xorb: a presigned URL on the real CAS, so no token."""
        found = self.hub.xorbs.get(xorb_id)
        if found is None:
            return self._error(404, None, "no such xorb")
        xet, xorb = found
        start, end = self._range(xet.xorb_size(xorb))
        if start is None:
            return self._error(416, None, "range not satisfiable")
        path, file_start = xet.file.path, xet.file_offset_of(xorb, start)

        def here(fault: Fault) -> bool:  # the client fetches xorbs in parallel: hit the one meant
            position = xet.xorb_position_of(xorb, fault.at)
            return fault.kind == "status" or (position is not None and start <= position < end)

        fault = self.hub.take_fault(f"cas/{path}", here)
        if fault and fault.kind == "status":
            self._note(path, file_start, fault.status, False)
            return self._error(fault.status, None, f"injected {fault.status}")
        partial = "Range" in self.headers
        self.send_response(206 if partial else 200)
        headers = {"Content-Length": str(end - start), "Content-Type": "application/octet-stream"}
        if partial:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{xet.xorb_size(xorb)}"
        for k, v in headers.items():
            self.send_header(k, v)
        entry = self._note(path, file_start, 206 if partial else 200, False)
        self.end_headers()
        at = xet.xorb_position_of(xorb, fault.at) if fault else None
        self._stream(lambda pos, n: xet.read_xorb(xorb, pos, n), start, end, fault, at, entry)

    # -- helpers -----------------------------------------------------------------------------
    def _note(self, path: str, start: int, status: int, head: bool) -> Served:
        """Log the answer before the client can have it (its body bytes are counted as they go)."""
        served = Served(self.server_name, "HEAD" if head else "GET", path, start, status, 0,
                        "Authorization" in self.headers, self.arrived)
        self.hub.record(served)
        return served

    def _hang_up(self) -> None:
        """Close the connection mid-answer, as a failing server or network does."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _json(self, data: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                     **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str,
               headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                     **({"X-Error-Code": code} if code else {}), "X-Error-Message": message,
                     **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# -- generated repos, laid out like the real variants ------------------------------------------
def _write_random(path: Path, size: int, seed: int, head: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with path.open("wb") as f:
        f.write(head)
        left = size - len(head)
        while left > 0:
            n = min(left, 4 * 1024 * 1024)
            f.write(rng.randbytes(n))
            left -= n


def make_gguf_repo(root: Path, repo: str, layout: str, quants: dict[str, int], part_size: int,
                   seed: int = 0) -> None:
    """Split GGUF parts for each quant, named by the recipe's `layout`, plus a README."""
    folder = root / repo
    for q, (quant, parts) in enumerate(quants.items()):
        for part in range(1, parts + 1):
            name = layout.format(quant=quant, part=part, parts=parts)
            _write_random(folder / name, part_size + part, seed * 1000 + q * 100 + part, b"GGUF")
    (folder / "README.md").write_text(f"# {repo}\nGenerated by tests/support/hubserver.py.\n")


def make_mlx_repo(root: Path, repo: str, shards: int, shard_size: int, seed: int = 0) -> None:
    """An MLX folder: config, tokenizer files, safetensors shards and their index."""
    folder = root / repo
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    for i, name in enumerate(names):
        _write_random(folder / name, shard_size + i, seed * 1000 + i)
    index = {"weight_map": {f"w{i}": name for i, name in enumerate(names)}}
    config = {"model_type": "deepseek_v4", "quantization": {"bits": 4}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    (folder / "README.md").write_text(f"# {repo}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="folder of repos: ROOT/org/name/...")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=None, help="throttle each connection to BYTES/s")
    parser.add_argument("--xet", action="store_true", help="offer LFS files through Xet storage too")
    args = parser.parse_args()
    hub = FakeHub(args.root, args.host, args.port, xet=args.xet)
    hub.rate = args.rate
    hub.start()
    xet = f", Xet CAS at {hub.cas_endpoint}" if hub.cas_endpoint else ""
    print(f"fake hub: HF_ENDPOINT={hub.endpoint} (LFS from {hub.cdn_endpoint}{xet}); "
          f"repos: {', '.join(hub.repos) or 'none'}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()

"""A fake Hugging Face Hub on 127.0.0.1: the subset of the API that huggingface_hub and `localv4 pull` use.

Two real HTTP servers: the hub (model info, tree listing, `resolve/` with the hub's headers) and a
"CDN" on another port, where the hub redirects LFS files, as huggingface.co does. Repos are plain
folders under ROOT (`ROOT/org/name/...`); every file is served with its real sha256 and git blob id.

Faults, for tests: answer a status (429/500/404), drop the connection, serve one corrupt byte or
stall at a byte offset, and throttle. Every body byte sent is counted per file.

    python tests/hubserver.py --root DIR --port N     # then HF_ENDPOINT=http://127.0.0.1:N
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")
LFS_MIN_SIZE = 10 * 1024 * 1024
SEND_CHUNK = 1024 * 1024


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


@dataclass(frozen=True)
class Served:
    """One request for a file, as the server saw it."""

    server: str  # "hub" or "cdn"
    method: str
    path: str
    start: int  # first byte asked for (Range), 0 without Range
    status: int
    sent: int  # body bytes actually handed to the socket
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


class FakeHub:
    """The two servers, the repos they serve, the faults to inject and what was served."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.repos = scan_root(self.root)
        self.faults: list[Fault] = []
        self.rate: float | None = None  # bytes/s per connection, None: as fast as possible
        self.log: list[Served] = []
        self._lock = threading.Lock()
        self._released = threading.Event()  # ends every stall: set by stop() or release_stalls()
        self.hub = ThreadingHTTPServer((host, port), _handler(self, "hub"))
        self.cdn = ThreadingHTTPServer((host, 0), _handler(self, "cdn"))
        for server in (self.hub, self.cdn):
            server.daemon_threads = True
        self.endpoint = f"http://{host}:{self.hub.server_address[1]}"
        self.cdn_endpoint = f"http://{host}:{self.cdn.server_address[1]}"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeHub:
        for server in (self.hub, self.cdn):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()
        for server in (self.hub, self.cdn):
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

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fnmatch.fnmatch(path, fault.pattern) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # -- accounting --------------------------------------------------------------------------
    def record(self, served: Served) -> None:
        with self._lock:
            self.log.append(served)

    def served_bytes(self, pattern: str = "*") -> int:
        """Body bytes sent for files whose repo path matches `pattern`."""
        with self._lock:
            return sum(s.sent for s in self.log if s.method == "GET" and fnmatch.fnmatch(s.path, pattern))

    def requests_for(self, pattern: str) -> list[Served]:
        with self._lock:
            return [s for s in self.log if s.method == "GET" and fnmatch.fnmatch(s.path, pattern)]

    def release_stalls(self) -> None:
        """Stalled answers end now (the connection closes), and no later one stalls."""
        self._released.set()

    def wait_stalled(self, seconds: float) -> None:
        self._released.wait(seconds)


_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_API_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
_API_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")
_CDN = re.compile(r"^/lfs/([0-9a-f]{64})$")


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

    # -- routing -----------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, head: bool) -> None:
        self.arrived = time.monotonic()
        url = urlsplit(self.path)
        path = unquote(url.path)
        if self.server_name == "cdn":
            m = _CDN.match(path)
            found = m and self._by_sha(m.group(1))
            if not found:
                return self._error(404, "EntryNotFound", "no such object")
            return self._body(*found, head=head, extra={})
        if m := _RESOLVE.match(path):
            return self._resolve(m.group(1), unquote(m.group(2)), m.group(3), head)
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
        self.send_response(302)
        for k, v in {**common, "Location": f"{self.hub.cdn_endpoint}/lfs/{f.sha256}",
                     "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(f.size),
                     "ETag": f'"{f.git_sha1}"', "Content-Length": "0"}.items():
            self.send_header(k, v)
        self.end_headers()
        self._note(f.path, 0, 302, 0, head)

    # -- bodies ------------------------------------------------------------------------------
    def _body(self, repo: HubRepo, f: HubFile, head: bool, extra: dict[str, str]) -> None:
        start, end = self._range(f.size)
        if start is None:
            return self._error(416, None, "range not satisfiable", {"Content-Range": f"bytes */{f.size}"})
        fault = None if head else self.hub.take_fault(f.path)
        if fault and fault.kind == "status":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._error(fault.status, None, f"injected {fault.status}", headers)
            return self._note(f.path, start, fault.status, 0, head)
        partial = "Range" in self.headers
        self.send_response(206 if partial else 200)
        headers = {**extra, "ETag": f'"{f.sha256 if f.lfs else f.git_sha1}"', "Accept-Ranges": "bytes",
                   "Content-Length": str(end - start), "Content-Type": "application/octet-stream"}
        if partial:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        sent = 0 if head else self._send(f, start, end, fault)
        self._note(f.path, start, 206 if partial else 200, sent, head)

    def _range(self, size: int) -> tuple[int | None, int]:
        header = self.headers.get("Range")
        if not header:
            return 0, size
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
        if not m or int(m.group(1)) >= size:
            return None, size
        return int(m.group(1)), min(size, int(m.group(2)) + 1) if m.group(2) else size

    def _send(self, f: HubFile, start: int, end: int, fault: Fault | None) -> int:
        """Write bytes [start, end) of the file, misbehaving as `fault` says. Returns bytes sent."""
        stop_at = fault.at if fault and fault.kind in ("drop", "stall") and start <= fault.at < end else end
        sent = 0
        try:
            with f.disk.open("rb") as src:
                pos = start
                while pos < stop_at:
                    n = min(SEND_CHUNK, stop_at - pos)
                    if fault and fault.kind == "corrupt" and pos <= fault.at < pos + n:
                        src.seek(pos)
                        data = bytearray(src.read(n))
                        data[fault.at - pos] ^= 0xFF
                        self.connection.sendall(data)
                        written = n
                    elif self.hub.rate:
                        n = min(n, 64 * 1024)
                        src.seek(pos)
                        self.connection.sendall(src.read(n))
                        written = n
                        time.sleep(n / self.hub.rate)
                    else:
                        written = os.sendfile(self.connection.fileno(), src.fileno(), pos, n)
                    pos += written
                    sent += written
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return sent
        if stop_at < end:
            if fault.kind == "stall":
                self.hub.wait_stalled(fault.seconds)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return sent

    # -- helpers -----------------------------------------------------------------------------
    def _note(self, path: str, start: int, status: int, sent: int, head: bool) -> None:
        self.hub.record(Served(self.server_name, "HEAD" if head else "GET", path, start, status, sent,
                               "Authorization" in self.headers, self.arrived))

    def _json(self, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
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
    (folder / "README.md").write_text(f"# {repo}\nGenerated by tests/hubserver.py.\n")


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
    args = parser.parse_args()
    hub = FakeHub(args.root, args.host, args.port)
    hub.rate = args.rate
    hub.start()
    print(f"fake hub: HF_ENDPOINT={hub.endpoint} (LFS from {hub.cdn_endpoint}); "
          f"repos: {', '.join(hub.repos) or 'none'}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()

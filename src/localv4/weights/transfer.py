"""Fetching one file so that no byte is lost and no bad byte is kept.

Bytes go to a partial file that survives Ctrl-C, kill -9 and dropped connections; the next try
asks for the rest with a Range request. Connection drops, stalls (no byte for `stall_s`), 429 and
5xx are retried with backoff, counted only while no new byte arrives. When the file is whole its
hash (sha256 for LFS files, the git blob sha1 for small ones, as the hub lists them) is checked;
a mismatch deletes that file alone and fetches it again, a bounded number of times.

Where the hub offers Xet for a file (localv4.weights.xet), its bytes come through hf_xet into the
same partial file from the same offset; if Xet fails, the file goes on over plain HTTP.
"""

from __future__ import annotations

import errno
import hashlib
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import httpx

from localv4.errors import RuntimeFailure
from localv4.weights.disk import DiskFull
from localv4.storage import Busy, exclusive
from localv4.weights.events import (
    EventSink,
    FileCorrupt,
    FileDone,
    FileProgress,
    FileRetry,
    FileStarted,
)
from localv4.weights.files import RemoteFile
from localv4.weights.hub import HubSettings, describe_transport_error
from localv4.weights.layout import Layout
from localv4.weights.retry import (
    RETRY_STATUSES,
    Transient,
    parse_retry_after,
    sleep_unless,
)
from localv4.weights.xet import XetFile, XetStreams, probe

READ_CHUNK = 8 * 1024 * 1024
PROGRESS_EVERY_S = 0.2


class Cancelled(Exception):
    """The pull is being stopped (Ctrl-C or another file failed); the partial file stays."""


class XetFailed(Transient):
    """hf_xet could not deliver: the file goes on over plain HTTP from the bytes already kept."""


class ContentHash:
    """The hash the hub lists for a file: sha256 for LFS files, git's blob sha1 for the others."""

    def __init__(self, file: RemoteFile) -> None:
        self.file = file
        self.expected = file.sha256 or file.blob
        self.reset()

    def reset(self) -> None:
        if self.file.sha256:
            self._h = hashlib.sha256()
        else:
            self._h = hashlib.sha1(f"blob {self.file.size}\0".encode())

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def update_from(self, path: Path, length: int) -> None:
        if length <= 0:
            return
        with path.open("rb") as f:
            while length > 0 and (chunk := f.read(min(READ_CHUNK, length))):
                self._h.update(chunk)
                length -= len(chunk)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def hash_file(file: RemoteFile, path: Path) -> str:
    h = ContentHash(file)
    h.update_from(path, file.size)
    return h.hexdigest()


class FileFetcher:
    """Brings files of one commit into a layout, verified. One instance serves every worker thread."""

    def __init__(self, client: httpx.Client, settings: HubSettings, layout: Layout, repo: str, commit: str,
                 emit: EventSink, cancelled: threading.Event, xet: XetStreams | None) -> None:
        self.client, self.settings, self.layout = client, settings, layout
        self.repo, self.commit = repo, commit
        self.emit, self.cancelled = emit, cancelled
        self.xet = xet  # None: Xet is off (settings.xet)

    def fetch(self, file: RemoteFile) -> int:
        """Make `file` complete and verified in the layout; returns the bytes downloaded for it."""
        lock_path = self.layout.lock_path(file)
        try:
            with exclusive(lock_path, timeout=1):
                return self._fetch_locked(file)
        except Busy:
            raise RuntimeFailure(
                f"another process is downloading {file.path} (it holds {lock_path}); "
                "wait for it to finish, then run the pull again."
            ) from None

    def _fetch_locked(self, file: RemoteFile) -> int:
        if self.cancelled.is_set():
            raise Cancelled()
        layout = self.layout
        if layout.has_complete(self.commit, file) and layout.is_verified(file):
            self.emit(FileDone(file.path, file.size, fetched=0, already_present=True))
            return 0
        content = layout.content_path(file)
        if content.is_file() and content.stat().st_size == file.size:
            # Complete but never checked by localv4 (another tool, or another commit): hash it in place.
            self.emit(FileStarted(file.path, file.size, resume_from=file.size))
            actual = hash_file(file, content)
            if actual == ContentHash(file).expected:
                layout.link(self.commit, file)
                layout.mark_verified(file)
                self.emit(FileDone(file.path, file.size, fetched=0, already_present=True))
                return 0
            self.emit(FileCorrupt(file.path, ContentHash(file).expected, actual, 0, 0))
            content.unlink()
        fetched = self._download_verified(file)
        layout.promote(self.commit, file)
        layout.mark_verified(file)
        self.emit(FileDone(file.path, file.size, fetched=fetched, already_present=False))
        return fetched

    def _download_verified(self, file: RemoteFile) -> int:
        partial = self.layout.partial_path(file)
        partial.parent.mkdir(parents=True, exist_ok=True)
        tries = self.settings.policy.verify_attempts
        fetched = 0
        for attempt in range(1, tries + 1):
            digest = ContentHash(file)
            fetched += self._download(file, partial, digest)
            if digest.hexdigest() == digest.expected:
                return fetched
            self.emit(FileCorrupt(file.path, digest.expected, digest.hexdigest(), attempt, tries))
            partial.unlink()
        raise RuntimeFailure(
            f"{file.path} failed its hash check {tries} times in a row; the hub or a proxy is serving "
            "bad data. Nothing bad was kept; try again later or another HF_ENDPOINT."
        )

    def _download(self, file: RemoteFile, partial: Path, digest: ContentHash) -> int:
        """Fill `partial` up to the file's size, resuming and retrying; hash every byte on the way."""
        have = partial.stat().st_size if partial.exists() else 0
        if have > file.size:
            partial.unlink()
            have = 0
        digest.update_from(partial, have)
        started_at = have
        xet = self._xet_file(file)
        self.emit(FileStarted(file.path, file.size, resume_from=have, transport="xet" if xet else "http"))
        policy = self.settings.policy
        failures = 0
        with partial.open("ab") as out:
            while have < file.size:
                before = have
                try:
                    if xet:
                        have = self._stream_xet(file, xet, out, digest, have)
                    else:
                        have = self._stream(file, out, digest, have)
                    if have < file.size:
                        raise Transient("connection closed early")
                except Transient as err:
                    if isinstance(err, XetFailed):
                        xet = None
                    have = out.tell()
                    failures = 1 if have > before else failures + 1
                    if failures >= policy.attempts:
                        raise RuntimeFailure(
                            f"{file.path}: {err.reason}, {failures} tries in a row; "
                            f"{have} of {file.size} bytes are kept, run the pull again to resume."
                        ) from None
                    wait = policy.wait_s(failures, err.retry_after)
                    self.emit(FileRetry(file.path, err.reason, failures, policy.attempts,
                                        round(wait, 2), have))
                    sleep_unless(self.cancelled, wait)
                    if self.cancelled.is_set():
                        raise Cancelled() from None
        return have - started_at

    def _stream(self, file: RemoteFile, out: BinaryIO, digest: ContentHash, have: int) -> int:
        """One GET from `have` on. Returns the new size; raises Transient for what a retry may fix."""
        url = self.settings.file_url(self.repo, self.commit, file.path)
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in RETRY_STATUSES:
                    raise Transient(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
                if status not in (200, 206):
                    raise RuntimeFailure(
                        f"{file.path}: the hub answered HTTP {status} {response.reason_phrase}; "
                        "the file may have moved or need a token (`hf auth login`)."
                    )
                content_range = response.headers.get("Content-Range", "")
                if status == 206 and not content_range.startswith(f"bytes {have}-"):
                    raise Transient("the server sent the wrong byte range")
                if status == 200 and have:
                    out.seek(0)
                    out.truncate()
                    digest.reset()
                    have = 0
                return self._take(response.iter_raw(), file, out, digest, have)
        except httpx.ConnectTimeout:
            raise Transient("connection timed out") from None
        except httpx.TimeoutException:
            raise Transient(f"stalled: no data for {self.settings.policy.stall_s:g} s") from None
        except httpx.TransportError as err:
            raise Transient(describe_transport_error(err)) from None

    def _xet_file(self, file: RemoteFile) -> XetFile | None:
        """The file's Xet identity when the hub offers Xet for it (LFS files only)."""
        if self.xet is None or not file.sha256:
            return None
        return probe(self.client, self.settings.file_url(self.repo, self.commit, file.path), self.settings.endpoint)

    def _stream_xet(self, file: RemoteFile, xet: XetFile, out: BinaryIO, digest: ContentHash, have: int) -> int:
        """The rest of the file from `have` on through hf_xet, which retries on its own.

        hf_xet 1.8 checks no hash and can end a failed stream early without an error: the byte
        count is checked here and the sha256 after the file is whole."""
        assert self.xet is not None
        try:
            chunks = self.xet.stream(xet, file.size, have, self.settings.policy.stall_s, self.cancelled)
            have = self._take(chunks, file, out, digest, have)
        except (Cancelled, RuntimeFailure):
            raise
        except Exception as err:  # hf_xet raises its own types (and RuntimeError) for any failure
            raise XetFailed(f"Xet transfer failed ({_short(err)}); going on over HTTP") from None
        if self.cancelled.is_set():
            raise Cancelled()
        if have < file.size:
            raise XetFailed("the Xet stream ended early; going on over HTTP")
        return have

    def _take(self, chunks: Iterable[bytes], file: RemoteFile, out: BinaryIO, digest: ContentHash,
              have: int) -> int:
        """Write and hash `chunks` after the `have` bytes kept, reporting progress; returns the new size."""
        last_report = 0.0
        for chunk in chunks:
            if self.cancelled.is_set():
                raise Cancelled()
            _write(out, chunk, file)
            digest.update(chunk)
            have += len(chunk)
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                self.emit(FileProgress(file.path, have, file.size))
        self.emit(FileProgress(file.path, have, file.size))
        return have


def _short(err: Exception) -> str:
    """A failure's first line, without URLs (which may carry signed tokens)."""
    line = (str(err).splitlines() or [type(err).__name__])[0]
    return type(err).__name__ if "http" in line.lower() else line[:120]


def _write(out: BinaryIO, chunk: bytes, file: RemoteFile) -> None:
    try:
        out.write(chunk)
        out.flush()  # a full disk shows here, not later in a buffer that is then lost
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise DiskFull(file.path) from None
        raise RuntimeFailure(f"cannot write {file.path}: {err.strerror}.") from None

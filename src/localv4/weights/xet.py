"""Xet transfer: the hub's fast path for large files, used whenever the hub offers it.

The hub marks a Xet-backed file on its `resolve/` answer with `X-Xet-Hash` and a `Link` to a
token route (rel="xet-auth"). hf_xet (a dependency of huggingface_hub) then fetches the file's
chunks from the CAS with many connections at once. localv4 takes the bytes as an ordered stream
from any offset, so they go through the same partial file, resume point and sha256 check as a
plain HTTP download: Xet changes how fast bytes come, never what is kept. HF_HUB_DISABLE_XET=1
turns it off (HubSettings.xet), as it does for huggingface_hub.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from localv4.weights.hub import DEFAULT_ENDPOINT

XET_HASH_HEADER = "X-Xet-Hash"
XET_REFRESH_ROUTE_HEADER = "X-Xet-Refresh-Route"
XET_AUTH_LINK = "xet-auth"


@dataclass(frozen=True)
class XetFile:
    """What the hub says about one Xet-backed file: its content hash and where tokens come from."""

    file_hash: str
    refresh_route: str


def probe(client: httpx.Client, url: str, endpoint: str) -> XetFile | None:
    """Ask the hub at `endpoint` (one HEAD, redirects not followed) whether the file at `url` is on Xet.

    Any failure means "no": the plain HTTP path then carries the file, with its own retries. A
    mirror that passes on huggingface.co's token route gets it pointed at itself, as
    huggingface_hub does."""
    try:
        response = client.head(url, follow_redirects=False)
    except httpx.HTTPError:
        return None
    file_hash = response.headers.get(XET_HASH_HEADER)
    link = response.links.get(XET_AUTH_LINK, {}).get("url")
    refresh_route = link or response.headers.get(XET_REFRESH_ROUTE_HEADER)
    if not file_hash or not refresh_route:
        return None
    if refresh_route.startswith(DEFAULT_ENDPOINT):
        refresh_route = endpoint + refresh_route[len(DEFAULT_ENDPOINT):]
    return XetFile(file_hash, refresh_route)


class XetStreams:
    """One hf_xet session for a pull, shared by its worker threads; one stream group per file.

    A group per file, because a stream cannot be cancelled from another thread while it is being
    read (hf_xet raises "Already borrowed"), but its group can be aborted without stopping the
    other files."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers  # the hub token, when there is one, is only ever sent in a header
        self._lock = threading.Lock()
        self._session: Any = None

    def stream(self, xet: XetFile, size: int, start: int, stall_s: float,
               stopped: threading.Event) -> Iterator[bytes]:
        """The file's bytes from `start` on, in order, read on a helper thread.

        hf_xet waits as long as a server holds a connection open without sending (seen: minutes),
        so no chunk for `stall_s` raises TimeoutError here; once `stopped` is set the stream ends
        within a second, without an error."""
        import hf_xet

        with self._lock:
            if self._session is None:
                self._session = hf_xet.XetSession()
        group = self._session.new_download_stream_group(
            token_refresh_url=xet.refresh_route, token_refresh_headers=self._headers)
        stream = group.download_stream(hf_xet.XetFileInfo(xet.file_hash, size), start=start)
        return _watched(stream, group, stall_s, stopped)


_END = object()  # the pump's last item when the stream ended normally


def _watched(stream: Any, group: Any, stall_s: float, stopped: threading.Event) -> Iterator[bytes]:
    # One chunk waits while the next is read: hf_xet yields whole xorb terms (up to 64 MB), so a
    # deeper queue would hold hundreds of MB per file.
    chunks: queue.Queue[Any] = queue.Queue(maxsize=1)
    done = threading.Event()

    def offer(item: Any) -> bool:
        """Hand `item` to the reader; False once the reader has gone."""
        while not done.is_set():
            try:
                chunks.put(item, timeout=0.5)
                return True
            except queue.Full:
                pass
        return False

    def pump() -> None:
        try:
            for chunk in stream:
                if not offer(chunk):
                    return
        except Exception as err:
            offer(err)
            return
        offer(_END)

    tick = min(1.0, stall_s)

    def next_item() -> Any:
        """The pump's next item; None once the pull stops; TimeoutError after `stall_s` of nothing."""
        waited = 0.0
        while not stopped.is_set():
            try:
                return chunks.get(timeout=tick)
            except queue.Empty:
                waited += tick
                if waited >= stall_s:
                    raise TimeoutError(f"stalled: no data for {stall_s:g} s") from None
        return None

    threading.Thread(target=pump, name="xet-stream", daemon=True).start()
    try:
        while (item := next_item()) is not None and item is not _END:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        done.set()
        group.abort()  # stops the pump's read; the group serves this stream alone

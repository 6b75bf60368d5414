"""A variant's GGUF headers without its weights: byte ranges from the hub, laid out as stand-ins.

The engine projects a plan's memory from a GGUF's header alone (the metadata and every tensor's
name, type, shape and offset), allocating and reading nothing else. So before a 160 GB download
only the headers are fetched, through the same hub client, token and endpoint as `pull`, with
HTTP range requests that never reach the tensor data: each request asks for the bytes the reader
needs now plus the least the rest of the header can still hold (every key/value pair and every
tensor entry has a smallest size), so it always ends inside the header.

A stand-in is a header's bytes in a sparse file of the true size (llama.cpp checks that each
tensor lies inside its file, and reads none of them), under the part's own name so split files
still find each other. They are kept per repo and commit in localv4's cache: a second plan fetches
nothing.
"""

from __future__ import annotations

import fnmatch
import json
import os
import struct
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from localv4.errors import RuntimeFailure
from localv4.paths import cache_dir
from localv4.recipes import Variant
from localv4.storage import write_atomic
from localv4.weights.files import RemoteFile, Selection
from localv4.weights.gguf_header import DEFAULT_ALIGNMENT, MAGIC, MAX_HEADER_BYTES, SCALARS, STRING, ARRAY
from localv4.weights.hub import HubSettings, HubUnreachable, fetch_manifest

# The least bytes one key/value pair takes (key length 8, a 1-byte key, type 4, a 1-byte value),
# and one tensor entry (name length 8, a 1-byte name, dims 4, one dim 8, type 4, offset 8).
LEAST_PAIR, LEAST_TENSOR, LEAST_STRING = 14, 33, 8
KEPT = "headers.json"  # beside the stand-ins: which files are complete, from which blob

RangeReader = Callable[[int, int], bytes]  # (start, end) -> the file's bytes [start, end)


@dataclass(frozen=True)
class StandIns:
    """A variant's GGUF parts as header-only sparse files: what the engine's projection opens."""

    entry: Path  # the file the engine opens (the first part of a split)
    parts: tuple[Path, ...]
    fetched: int  # bytes fetched from the hub for this call (0: all were cached)
    header_bytes: int  # the headers' bytes, all parts
    size: int  # the files' true size, all parts


class _Ranges:
    """The file's first bytes, fetched on demand, never past what the caller proves is header."""

    def __init__(self, read: RangeReader) -> None:
        self.read, self.data, self.pos = read, bytearray(), 0

    def take(self, n: int, rest: int) -> bytes:
        """N bytes at the reading position; REST: the least the header holds after them."""
        end = self.pos + n
        if end > MAX_HEADER_BYTES:
            raise RuntimeFailure(f"a GGUF header larger than {MAX_HEADER_BYTES >> 20} MB is not one")
        if end > len(self.data):
            start, reach = len(self.data), end + rest
            chunk = self.read(start, reach)
            if len(chunk) < end - start:
                raise RuntimeFailure("the file ended inside its GGUF header")
            self.data += chunk
        out = bytes(self.data[self.pos:end])
        self.pos = end
        return out

    def number(self, fmt: str, rest: int) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), rest))[0]


def header_length(read: RangeReader) -> tuple[bytes, int]:
    """(the header's bytes, where the tensor data begins), read through READ."""
    r = _Ranges(read)
    if r.take(4, 20) != MAGIC:
        raise RuntimeFailure("not a GGUF file (it does not start with 'GGUF')")
    r.number("I", 16)  # version
    tensors = r.number("Q", 8)
    pairs = r.number("Q", 0)
    alignment = DEFAULT_ALIGNMENT
    for left in range(pairs - 1, -1, -1):
        after = left * LEAST_PAIR + tensors * LEAST_TENSOR
        key = r.take(r.number("Q", 1 + 4 + 1 + after), 4 + 1 + after).decode("utf-8", "replace")
        kind = r.number("I", 1 + after)
        value = _skip_value(r, kind, after)
        if key == "general.alignment" and isinstance(value, int):
            alignment = value
    for left in range(tensors - 1, -1, -1):
        after = left * LEAST_TENSOR
        r.take(r.number("Q", 1 + 24 + after), 24 + after)  # the name
        dims = r.number("I", 8 + 12 + after)
        r.take(8 * dims + 12, after)  # the shape, type and offset
    end = r.pos
    return bytes(r.data[:end]), -(-end // alignment) * alignment


def _skip_value(r: _Ranges, kind: int, after: int) -> int | None:
    """Read past one value; a scalar integer is returned (general.alignment is one)."""
    if kind in SCALARS:
        value = r.number(SCALARS[kind], after)
        return value if isinstance(value, int) else None
    if kind == STRING:
        r.take(r.number("Q", after), after)
        return None
    if kind != ARRAY:
        raise RuntimeFailure(f"unknown GGUF value type {kind}")
    item = r.number("I", 8 + after)
    count = r.number("Q", after)
    if item in SCALARS:
        r.take(count * struct.calcsize(SCALARS[item]), after)
    elif item == STRING:
        for left in range(count - 1, -1, -1):
            r.take(r.number("Q", left * LEAST_STRING + after), left * LEAST_STRING + after)
    else:
        raise RuntimeFailure(f"a GGUF array of type {item} is not read here")
    return None


def headers_folder(repo: str, commit: str) -> Path:
    return cache_dir() / "headers" / repo.replace("/", "--") / commit


def stand_ins(variant: Variant, settings: HubSettings | None = None) -> StandIns:
    """The variant's GGUF parts as stand-ins, fetching only the headers not already kept.

    Headers kept for the variant's revision are used without asking the hub at all. HubUnreachable
    (offline, or no answer) when the hub cannot be asked and nothing is kept."""
    kept_before = _kept_for(variant)
    if kept_before is not None:
        return kept_before
    settings = settings or HubSettings.from_env()
    if settings.offline:
        raise HubUnreachable("HF_HUB_OFFLINE is set")
    once = replace(settings, policy=replace(settings.policy, metadata_attempts=1))  # advice: no waiting on retries
    manifest = fetch_manifest(variant.repo, variant.revision, once, threading.Event())
    selection = manifest.select(variant)
    parts = _gguf_parts(selection)
    folder = headers_folder(variant.repo, manifest.commit)
    write_atomic(_ref(variant), manifest.commit + "\n")
    kept = _kept(folder)
    fetched = 0
    with _client(settings) as client:
        for part in parts:
            if kept.get(part.path, {}).get("blob") == part.blob and (folder / part.path).is_file():
                continue
            header, data_start = header_length(_range_reader(client, settings.file_url(
                variant.repo, manifest.commit, part.path)))
            _write_stand_in(folder / part.path, header, data_start, part.size)
            kept[part.path] = {"blob": part.blob, "size": part.size, "header_bytes": len(header)}
            write_atomic(folder / KEPT, json.dumps(kept, indent=1) + "\n")
            fetched += len(header)
    entry = selection.entry or parts[0]
    return StandIns(entry=folder / entry.path, parts=tuple(folder / p.path for p in parts), fetched=fetched,
                    header_bytes=sum(kept[p.path]["header_bytes"] for p in parts),
                    size=sum(p.size for p in parts))


def _ref(variant: Variant) -> Path:
    """The commit the variant's revision resolved to when its headers were fetched."""
    return cache_dir() / "headers" / variant.repo.replace("/", "--") / "refs" / variant.revision


def _kept_for(variant: Variant) -> StandIns | None:
    """The stand-ins already kept for the variant's revision (every part of it), else None."""
    try:
        folder = headers_folder(variant.repo, _ref(variant).read_text().strip())
    except OSError:
        return None
    kept = _kept(folder)
    parts = sorted(path for path in kept if any(fnmatch.fnmatch(path, p) for p in variant.files))
    if not parts or not all((folder / p).is_file() for p in parts):
        return None
    entry = variant.entry if variant.entry in parts else parts[0]
    return StandIns(entry=folder / entry, parts=tuple(folder / p for p in parts), fetched=0,
                    header_bytes=sum(kept[p]["header_bytes"] for p in parts),
                    size=sum(kept[p]["size"] for p in parts))


def _gguf_parts(selection: Selection) -> list[RemoteFile]:
    parts = [f for f in selection.files if f.path.endswith(".gguf")]
    if not parts:
        raise RuntimeFailure(f"{selection.manifest.repo} lists no GGUF file for this variant")
    return parts


def _kept(folder: Path) -> dict:
    try:
        return json.loads((folder / KEPT).read_text())
    except (OSError, ValueError):
        return {}


def _write_stand_in(path: Path, header: bytes, data_start: int, size: int) -> None:
    """The header, then nothing (a hole, no disk used) up to the file's true size; renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("wb") as out:
        out.write(header)
        out.truncate(max(size, data_start))
    os.replace(temp, path)


def _client(settings: HubSettings):
    import httpx

    policy = settings.policy
    return httpx.Client(headers=settings.headers(), follow_redirects=True,
                        timeout=httpx.Timeout(policy.stall_s, connect=policy.connect_s))


def _range_reader(client, url: str) -> RangeReader:
    """GET with `Range: bytes=start-(end-1)`; a server that ignores the range is refused, not read whole."""
    import httpx

    from localv4.weights.hub import describe_transport_error

    def read(start: int, end: int) -> bytes:
        try:
            response = client.get(url, headers={"Range": f"bytes={start}-{end - 1}"})
        except httpx.TransportError as err:
            raise HubUnreachable(f"cannot read a header from the hub ({describe_transport_error(err)})") from None
        if response.status_code != 206:
            raise RuntimeFailure(f"the hub answered HTTP {response.status_code} to a byte-range request "
                                 "for a GGUF header")
        return response.content

    return read

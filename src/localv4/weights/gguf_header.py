"""A GGUF file's header, read in pure Python: the version, the tensor count and the metadata
key/value pairs, stopping before the tensor table. Long arrays (the tokenizer's vocabulary) are
skipped, not kept: the planner needs only the model's shape."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from localv4.errors import UsageError

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # both count with 64-bit integers; version 1 (32-bit) predates llama.cpp's current loader
MAX_ARRAY_KEPT = 4096  # longer arrays are skipped: a vocabulary, its scores and merges
MAX_HEADER_BYTES = 64 << 20  # a header past this is not one (a vocabulary of 262K tokens is ~6 MB)
# GGUF value types: the struct format of each fixed-size one; 8 is a string, 9 an array.
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9

Value = int | float | bool | str | tuple | None  # None: an array too long to keep


@dataclass(frozen=True)
class GgufHeader:
    version: int
    tensor_count: int
    metadata: dict[str, Value]


class _Reader:
    """Little-endian reads from the file, refusing a header that runs past MAX_HEADER_BYTES."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def _within(self, n: int) -> None:
        if self.stream.tell() + n > MAX_HEADER_BYTES:
            raise ValueError(f"header larger than {MAX_HEADER_BYTES >> 20} MB")

    def take(self, n: int) -> bytes:
        self._within(n)
        data = self.stream.read(n)
        if len(data) < n:
            raise ValueError("file ends inside its header")
        return data

    def skip(self, n: int) -> None:
        self._within(n)
        self.stream.seek(n, 1)

    def scalar(self, kind: int) -> int | float | bool:
        fmt = "<" + SCALARS[kind]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.scalar(10)).decode("utf-8", errors="replace")

    def value(self, kind: int) -> Value:
        if kind in SCALARS:
            return self.scalar(kind)
        if kind == STRING:
            return self.string()
        if kind != ARRAY:
            raise ValueError(f"unknown value type {kind}")
        item, count = self.scalar(4), self.scalar(10)
        if count <= MAX_ARRAY_KEPT:
            return tuple(self.value(item) for _ in range(count))
        if item in SCALARS:
            self.skip(count * struct.calcsize(SCALARS[item]))
        else:
            for _ in range(count):
                self.value(item)
        return None


def read_header(path: Path) -> GgufHeader:
    """The header of the GGUF at `path`; one line (UsageError) when it is not a GGUF localv4 reads."""
    try:
        with path.open("rb") as stream:
            if stream.read(4) != MAGIC:
                raise UsageError(f"{path} is not a GGUF file (it does not start with 'GGUF').")
            reader = _Reader(stream)
            version = reader.scalar(4)
            if version not in VERSIONS:
                raise UsageError(f"{path} is GGUF version {version}; localv4 reads versions 2 and 3.")
            tensors, pairs = reader.scalar(10), reader.scalar(10)
            metadata = {}
            for _ in range(pairs):
                key = reader.string()
                metadata[key] = reader.value(reader.scalar(4))
    except (ValueError, struct.error) as err:
        raise UsageError(f"{path} is not a readable GGUF file: {err}.") from None
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}.") from None
    return GgufHeader(version, tensors, metadata)

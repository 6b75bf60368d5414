"""A GGUF file's header, read in pure Python: the version, the metadata key/value pairs and the
tensor table (each tensor's name, element count and bytes), stopping where the weights begin. Long
arrays (the tokenizer's vocabulary) are skipped, not kept: the planner needs only the model's shape.

A tensor's bytes are the distance from its data to the next tensor's (the last: to the file's
end), so no table of quantization block sizes is needed, new types included; the alignment
padding between tensors (under `general.alignment` bytes each) is counted with them."""

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
DEFAULT_ALIGNMENT = 32  # where `general.alignment` is absent (the GGUF specification)

Value = int | float | bool | str | tuple | None  # None: an array too long to keep


@dataclass(frozen=True)
class GgufTensor:
    """One tensor of the file: what the planner weighs (its name says which part of the model)."""

    name: str
    elements: int
    size_bytes: int


@dataclass(frozen=True)
class GgufHeader:
    version: int
    tensor_count: int
    metadata: dict[str, Value]
    tensors: tuple[GgufTensor, ...] = ()


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
            tensors = _tensor_table(reader, tensors, metadata, path.stat().st_size)
    except (ValueError, struct.error) as err:
        raise UsageError(f"{path} is not a readable GGUF file: {err}.") from None
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}.") from None
    return GgufHeader(version, len(tensors), metadata, tensors)


def _tensor_table(reader: _Reader, count: int, metadata: dict[str, Value], file_size: int) -> tuple[GgufTensor, ...]:
    """Each tensor's name, element count and bytes (from the offsets; see the module's note)."""
    infos = []
    for _ in range(count):
        name = reader.string()
        elements = 1
        for _ in range(reader.scalar(4)):
            elements *= reader.scalar(10)
        reader.scalar(4)  # its type: the offsets give its bytes
        infos.append((name, elements, reader.scalar(10)))
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0:
        raise ValueError(f"general.alignment is {alignment!r}")
    data_start = -(-reader.stream.tell() // alignment) * alignment
    starts = sorted({offset for _, _, offset in infos})
    end_of = dict(zip(starts, [*starts[1:], file_size - data_start]))
    if starts and end_of[starts[-1]] < starts[-1]:
        raise ValueError("file ends inside its tensor data")
    return tuple(GgufTensor(name, elements, end_of[offset] - offset) for name, elements, offset in infos)

"""The weights stage's values: what the hub lists for a repo, and what a variant has on disk.

Plain data, shared by pull (online), locate/inventory/remove (offline), the CLI and the tray.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from localv4.errors import RuntimeFailure, UsageError
from localv4.recipes import Variant


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repo at a commit, as the hub lists it."""

    path: str  # relative to the repo root, '/'-separated
    size: int
    blob: str  # the name of its blob in the HF cache: LFS sha256, else the git blob sha1
    sha256: str | None  # LFS files only; small files are checked by their git blob sha1

    @property
    def blob_is_sha256(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class Manifest:
    """Every file of a repo at one commit: enough to select a variant's files without the network."""

    repo: str
    commit: str
    files: tuple[RemoteFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"repo": self.repo, "commit": self.commit, "files": [asdict(f) for f in self.files]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(data["repo"], data["commit"], tuple(RemoteFile(**f) for f in data["files"]))

    def select(self, variant: Variant, weight_map: Mapping[str, str] | None = None) -> Selection:
        """The variant's files here; a missing or ambiguous one is a recipe error, said in one line.

        A variant that takes only the shards holding some tensors (`shards_with`) needs the repo's
        index (`weight_map`, tensor -> shard); without it the selection is the index and the other
        named files, `pending`: the shards are chosen once the index is on disk."""
        chosen: dict[str, RemoteFile] = {}
        for pattern in variant.files:
            matches = [f for f in self.files if fnmatch.fnmatchcase(f.path, pattern)]
            if variant.entry is not None and len(matches) != 1:
                raise self._recipe_error(variant, pattern, matches)
            chosen.update((f.path, f) for f in matches)
        pending = variant.shards_with is not None and weight_map is None
        if variant.shards_with is not None and weight_map is not None:
            shards = sorted({shard for name, shard in weight_map.items() if name.startswith(variant.shards_with)})
            listed = {f.path: f for f in self.files}
            for shard in shards or [f"<a shard holding {variant.shards_with}*>"]:
                if shard not in listed:
                    raise self._recipe_error(variant, shard, [])
                chosen[shard] = listed[shard]
        for required in _required_patterns(variant, pending):
            if not any(fnmatch.fnmatchcase(p, required) for p in chosen):
                raise self._recipe_error(variant, required, [])
        files = tuple(sorted(chosen.values(), key=lambda f: f.path))
        entry = None
        if variant.entry is not None:
            entry = next(f for f in files if fnmatch.fnmatchcase(f.path, variant.entry))
        return Selection(self, files, entry, pending)

    def _recipe_error(self, variant: Variant, pattern: str, matches: list[RemoteFile]) -> UsageError:
        names = ", ".join(f.path for f in matches[:3])
        what = f"{len(matches)} files ({names})" if matches else "no file"
        return UsageError(
            f"{variant.qualified_id}: {self.repo} at {self.commit[:12]} has {what} matching '{pattern}'; "
            "the recipe's file list does not fit this repo. Fix the recipe or its revision."
        )


INDEX = "model.safetensors.index.json"  # safetensors' shard index: {"weight_map": {tensor: shard}}


def _required_patterns(variant: Variant, pending: bool = False) -> tuple[str, ...]:
    """What makes a variant loadable: every GGUF part; for MLX a config and at least one shard
    (the index first, while the shards are still to be chosen from it)."""
    if variant.entry is not None:
        return variant.files
    return ("config.json", INDEX) if pending else ("config.json", "*.safetensors")


def read_weight_map(index_text: str) -> dict[str, str]:
    """The index's tensor -> shard map; a damaged index says so in one line."""
    try:
        mapping = json.loads(index_text)["weight_map"]
        if isinstance(mapping, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            return mapping
    except (ValueError, KeyError, TypeError):
        pass
    raise RuntimeFailure(f"{INDEX} has no readable weight_map: the download is damaged; "
                         "remove it (`localv4 rm`) and pull again.")


@dataclass(frozen=True)
class Selection:
    """A variant's files in one manifest; `entry` is the GGUF file an engine opens (None for MLX)."""

    manifest: Manifest
    files: tuple[RemoteFile, ...]
    entry: RemoteFile | None
    pending: bool = False  # the shards holding the variant's tensors are not chosen yet (see select)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class LocalWeights:
    """A variant complete on disk: what an engine is pointed at.

    `path` is the GGUF entry file (llama-server finds the other parts beside it) or, for MLX, the
    model folder. `verified` is True when localv4 checked every file against the hub's hashes.
    """

    variant_id: str  # qualified: recipe:variant
    path: Path
    folder: Path
    files: tuple[Path, ...]
    size_bytes: int
    commit: str
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant_id, "path": str(self.path), "folder": str(self.folder),
                "files": [str(f) for f in self.files], "size_bytes": self.size_bytes,
                "commit": self.commit, "verified": self.verified}


@dataclass(frozen=True)
class VariantOnDisk:
    """What `localv4 models` shows for one variant: how much of it is here, and whether it is checked.

    `listed` is False when localv4 never saw the hub's listing for these files (another tool
    downloaded them): the totals are then only what was found, and nothing is verified.
    """

    variant: Variant
    folder: Path
    commit: str
    files_total: int
    files_complete: int
    bytes_total: int
    bytes_on_disk: int  # complete files plus the bytes of interrupted downloads
    verified: bool
    listed: bool

    @property
    def complete(self) -> bool:
        return self.listed and self.files_complete == self.files_total

    @property
    def state(self) -> str:
        if not self.listed:
            return "found"
        return "complete" if self.complete else "partial"

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant.qualified_id, "format": self.variant.format,
                "repo": self.variant.repo, "commit": self.commit, "folder": str(self.folder),
                "state": self.state, "files_total": self.files_total, "files_complete": self.files_complete,
                "bytes_total": self.bytes_total, "bytes_on_disk": self.bytes_on_disk,
                "verified": self.verified}

"""Where a repo's files live on disk: the Hugging Face cache layout, or a plain `--dir` folder.

Cache: `models--org--name/{blobs/<blob>, snapshots/<commit>/<path> -> ../../blobs/<blob>, refs/<rev>}`,
exactly as huggingface_hub writes it, so `hf download`, llama-server `-hf` and the MLX tools see the
same files. An interrupted download is `blobs/<blob>.incomplete` until its hash is checked; only
then is it renamed to its blob and linked. Folder: `DIR/<path>`, with huggingface_hub's
`.cache/huggingface/download/<path>.metadata` so `hf download --local-dir` sees it as current.

localv4's own notes (the hub listing per commit, which blobs it verified) live beside the data:
`models--org--name/.localv4/` or `DIR/.cache/localv4/`, so deleting the data deletes them too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path

from localv4.internals import Target
from localv4.storage import symlink_atomic, write_atomic
from localv4.weights.files import Manifest, RemoteFile

_COMMIT = re.compile(r"[0-9a-f]{40}")
# huggingface_hub 2.4's cache-wide Xet blobs (`hf download` links snapshots to them): private helpers.
SHARED_BLOB_TARGET = Target("huggingface-hub", "huggingface_hub.utils._shared_blobs", "shared_blob_target")
SWEEP_SHARED_BLOB = Target("huggingface-hub", "huggingface_hub.utils._shared_blobs", "sweep_shared_blob")
TARGETS = (SHARED_BLOB_TARGET, SWEEP_SHARED_BLOB)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unlink(path: Path) -> int:
    """Delete a file; the bytes it freed (0 if it was not there)."""
    size = size_of(path) if not path.is_symlink() else 0
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


def _rmdir_up(folder: Path, stop: Path) -> None:
    """Remove `folder` and its parents while they are empty, never `stop` itself."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


class Layout(ABC):
    """The paths and the few atomic steps a download needs, for one repo in one place."""

    base: Path  # the folder that must be writable: the cache, or --dir
    root: Path  # the repo's folder: models--org--name in the cache, or --dir
    meta_dir: Path  # localv4's notes
    refs_dir: Path

    # -- where things are (per layout) -------------------------------------------------------
    @abstractmethod
    def content_path(self, file: RemoteFile) -> Path:
        """The real bytes of a complete file."""
        ...

    @abstractmethod
    def entry_path(self, commit: str, file: RemoteFile) -> Path:
        """The path an engine opens."""
        ...

    @abstractmethod
    def folder(self, commit: str) -> Path:
        """The folder holding the repo's files at `commit` (the MLX model folder)."""
        ...

    @abstractmethod
    def partial_path(self, file: RemoteFile) -> Path:
        ...

    @abstractmethod
    def lock_path(self, file: RemoteFile) -> Path:
        ...

    @abstractmethod
    def link(self, commit: str, file: RemoteFile) -> None:
        """Make a complete file visible at its path for `commit`."""
        ...

    @abstractmethod
    def _notes(self, commit: str, file: RemoteFile) -> list[Path]:
        """Small files that belong to the file's entry at `commit` and go when it goes."""
        ...

    def listings(self) -> list[tuple[Manifest, bool]]:
        """Every listing of this repo on disk, and whether it came from the hub (True) or the files."""
        return [(m, True) for m in self.manifests()]

    def tidy(self, removed: list[Path]) -> None:
        """Clean up folders emptied by removing `removed`."""
        for path in removed:
            _rmdir_up(path.parent, self.root)

    # -- state ---------------------------------------------------------------------------------
    def has_complete(self, commit: str, file: RemoteFile) -> bool:
        """The file is in place at full size (its content may still be unverified)."""
        entry = self.entry_path(commit, file)
        return size_of(self.content_path(file)) == file.size and (entry.is_symlink() or entry.is_file())

    def partial_bytes(self, file: RemoteFile) -> int:
        return size_of(self.partial_path(file))

    def _marker(self, file: RemoteFile) -> Path:
        return self.meta_dir / "verified" / file.blob

    def is_verified(self, file: RemoteFile) -> bool:
        """localv4 hashed this exact file (same size and mtime as when it was checked)."""
        try:
            recorded = self._marker(file).read_text().split()
            st = self.content_path(file).stat()
        except OSError:
            return False
        return recorded == [str(st.st_size), str(st.st_mtime_ns)]

    def mark_verified(self, file: RemoteFile) -> None:
        st = self.content_path(file).stat()
        write_atomic(self._marker(file), f"{st.st_size} {st.st_mtime_ns}\n")

    def commit_for(self, revision: str) -> str | None:
        if _COMMIT.fullmatch(revision):
            return revision
        for ref in self._ref_files(revision):
            try:
                commit = ref.read_text().strip()
            except OSError:
                continue
            if commit:
                return commit
        return None

    def _ref_files(self, revision: str) -> list[Path]:
        """Where the revision's commit may be written, first the one `prepare` writes."""
        return [self.refs_dir / revision]

    def save_manifest(self, manifest: Manifest) -> None:
        write_atomic(self.meta_dir / "manifests" / f"{manifest.commit}.json", json.dumps(manifest.to_dict()))

    def load_manifest(self, commit: str) -> Manifest | None:
        path = self.meta_dir / "manifests" / f"{commit}.json"
        try:
            return Manifest.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def manifests(self) -> list[Manifest]:
        found = (self.load_manifest(p.stem) for p in sorted((self.meta_dir / "manifests").glob("*.json")))
        return [m for m in found if m is not None]

    # -- the steps a pull (or rm) takes -------------------------------------------------------
    def prepare(self, revision: str, commit: str) -> None:
        """Create the commit's folder, then point the revision at it (never a ref to nothing)."""
        self.folder(commit).mkdir(parents=True, exist_ok=True)
        if revision != commit:
            write_atomic(self.refs_dir / revision, commit)

    def promote(self, commit: str, file: RemoteFile) -> None:
        """A checked partial file becomes the real one, atomically, then visible at its path."""
        self.content_path(file).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial_path(file), self.content_path(file))
        self.link(commit, file)

    def remove(self, commit: str, file: RemoteFile, keep_content: bool) -> int:
        """Delete the file, its partial download and notes; returns the bytes freed.

        `keep_content`: another snapshot still points at the same blob, so only the entry goes.
        """
        freed = _unlink(self.partial_path(file))
        if not keep_content:
            freed += self._remove_content(file)
            self._marker(file).unlink(missing_ok=True)
        for note in self._notes(commit, file):
            note.unlink(missing_ok=True)
        return freed

    def blobs_in_use(self, commit: str, leaving: set[str]) -> set[str]:
        """Blobs that entries other than `leaving` (paths at `commit`) still need."""
        return set()

    def _remove_content(self, file: RemoteFile) -> int:
        return _unlink(self.content_path(file))


class CacheLayout(Layout):
    """One repo in the Hugging Face hub cache."""

    def __init__(self, cache_dir: Path, repo: str) -> None:
        self.base = self.cache_dir = cache_dir
        self.repo = repo
        self.repo_folder_name = "models--" + repo.replace("/", "--")
        self.root = cache_dir / self.repo_folder_name
        self.meta_dir = self.root / ".localv4"
        self.refs_dir = self.root / "refs"

    def content_path(self, file: RemoteFile) -> Path:
        return self.root / "blobs" / file.blob

    def entry_path(self, commit: str, file: RemoteFile) -> Path:
        return self.folder(commit) / file.path

    def folder(self, commit: str) -> Path:
        return self.root / "snapshots" / commit

    def partial_path(self, file: RemoteFile) -> Path:
        return self.root / "blobs" / f"{file.blob}.incomplete"

    def lock_path(self, file: RemoteFile) -> Path:
        # The lock huggingface_hub takes for the same blob: the two never write it at once.
        return self.cache_dir / ".locks" / self.repo_folder_name / f"{file.blob}.lock"

    def link(self, commit: str, file: RemoteFile) -> None:
        pointer = self.entry_path(commit, file)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(self.content_path(file), pointer.parent)
        if pointer.is_symlink() and os.readlink(pointer) == target:
            return
        symlink_atomic(target, pointer)

    def _notes(self, commit: str, file: RemoteFile) -> list[Path]:
        return [self.entry_path(commit, file), self.lock_path(file)]

    def _remove_content(self, file: RemoteFile) -> int:
        """huggingface_hub >= 2.4 keeps a Xet download once per cache (blobs/xx/<xet hash>) and
        makes the repo's blob a link to it: that shared copy goes too once nothing links to it."""
        blob = self.content_path(file)
        if not blob.is_symlink():
            return _unlink(blob)
        from localv4.internals import get

        shared = get(SHARED_BLOB_TARGET)(blob, self.cache_dir)
        _unlink(blob)
        return get(SWEEP_SHARED_BLOB)(shared, cache_dir=self.cache_dir) if shared else 0

    def listings(self) -> list[tuple[Manifest, bool]]:
        """Hub listings saved by localv4, plus what is linked in snapshots it never listed (other tools)."""
        listed = super().listings()
        known = {m.commit for m, _ in listed}
        snapshots = self.root / "snapshots"
        for folder in sorted(snapshots.iterdir()) if snapshots.is_dir() else []:
            if folder.name not in known:
                listed.append((self._listing_from_links(folder), False))
        return listed

    def _listing_from_links(self, folder: Path) -> Manifest:
        files = []
        for pointer in sorted(folder.rglob("*")):
            if pointer.is_symlink() and pointer.exists():
                blob = Path(os.readlink(pointer)).name
                files.append(RemoteFile(pointer.relative_to(folder).as_posix(), size_of(pointer), blob, None))
        return Manifest(self.repo, folder.name, tuple(files))

    def blobs_in_use(self, commit: str, leaving: set[str]) -> set[str]:
        snapshots = self.root / "snapshots"
        used = set()
        for pointer in snapshots.glob("*/**/*"):
            rel = pointer.relative_to(snapshots)
            if pointer.is_symlink() and not (rel.parts[0] == commit and "/".join(rel.parts[1:]) in leaving):
                used.add(Path(os.readlink(pointer)).name)
        return used

    def tidy(self, removed: list[Path]) -> None:
        """Empty snapshot folders go with their refs and listings; an emptied repo folder goes entirely."""
        super().tidy(removed)
        snapshots = self.root / "snapshots"
        alive = {p.name for p in snapshots.iterdir()} if snapshots.is_dir() else set()
        for ref in [p for p in self.refs_dir.rglob("*") if p.is_file()] if self.refs_dir.is_dir() else []:
            if ref.read_text().strip() not in alive:
                ref.unlink()
        for listing in (self.meta_dir / "manifests").glob("*.json"):
            if listing.stem not in alive:
                listing.unlink()
        blobs = self.root / "blobs"
        if not alive and not (blobs.is_dir() and any(blobs.iterdir())):
            shutil.rmtree(self.root, ignore_errors=True)
            shutil.rmtree(self.cache_dir / ".locks" / self.repo_folder_name, ignore_errors=True)


class FolderLayout(Layout):
    """A repo's files in a plain folder (`--dir`). Several repos may share it (a variant and its
    draft from another repo): each repo's refs are its own, `refs/<org>/<name>/<revision>`."""

    def __init__(self, directory: Path, repo: str) -> None:
        self.base = self.root = directory
        self.meta_dir = directory / ".cache" / "localv4"
        self.refs_dir = self.meta_dir / "refs" / repo
        self._hf_meta = directory / ".cache" / "huggingface" / "download"

    def _ref_files(self, revision: str) -> list[Path]:
        # A folder pulled before refs were per repo has `refs/<revision>`: still read it.
        return [self.refs_dir / revision, self.meta_dir / "refs" / revision]

    def content_path(self, file: RemoteFile) -> Path:
        return self.root / file.path

    def entry_path(self, commit: str, file: RemoteFile) -> Path:
        return self.root / file.path

    def folder(self, commit: str) -> Path:
        return self.root

    def partial_path(self, file: RemoteFile) -> Path:
        return self.meta_dir / "partial" / f"{file.blob}.incomplete"

    def lock_path(self, file: RemoteFile) -> Path:
        # The lock huggingface_hub takes for the same file in a --local-dir download.
        return self._hf_meta / f"{file.path}.lock"

    def link(self, commit: str, file: RemoteFile) -> None:
        """Record commit and etag the way `hf download --local-dir` does, so it sees the file as current."""
        write_atomic(self._hf_meta / f"{file.path}.metadata", f"{commit}\n{file.blob}\n{time.time()}\n")

    def _notes(self, commit: str, file: RemoteFile) -> list[Path]:
        return [self._hf_meta / f"{file.path}.metadata", self.lock_path(file)]

"""What is on disk, without the network: locate a complete variant, list them all, remove one."""

from __future__ import annotations

from pathlib import Path

from localv4.errors import RuntimeFailure, UsageError
from localv4.paths import hf_cache_dir
from localv4.recipes import Catalog, Variant, load_catalog
from localv4.storage import Busy, exclusive
from localv4.weights.files import INDEX, LocalWeights, Manifest, Selection, VariantOnDisk, read_weight_map
from localv4.weights.layout import CacheLayout, FolderLayout, Layout


def open_layout(repo: str, local_dir: Path | None = None) -> Layout:
    if local_dir is not None:
        return FolderLayout(Path(local_dir).expanduser().resolve(), repo)
    return CacheLayout(hf_cache_dir(), repo)


def _check_is_folder(local_dir: Path | None) -> None:
    """A weights root that is a file holds nothing: say so, instead of "no weights"."""
    root = Path(local_dir).expanduser() if local_dir is not None else hf_cache_dir()
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is None or existing.is_dir():
        return
    where, fix = ((f"--dir {local_dir}", "name a folder") if local_dir is not None else
                  (f"the Hugging Face cache {root}", "point HF_HUB_CACHE or HF_HOME at a folder"))
    inside = "" if existing == root else f" ({existing} is a file)"
    raise UsageError(f"{where} cannot hold weights{inside}: it is not a folder; {fix}.")


def _select(manifest: Manifest, variant: Variant, layout: Layout) -> Selection | None:
    if manifest.repo != variant.repo:
        return None
    try:
        return manifest.select(variant, index_on_disk(layout, manifest, variant))
    except (UsageError, RuntimeFailure):
        return None


def index_on_disk(layout: Layout, manifest: Manifest, variant: Variant) -> dict[str, str] | None:
    """The repo's tensor -> shard map where the variant picks shards by tensor name and the index
    is complete on disk; None otherwise (the selection is then `pending`)."""
    if variant.shards_with is None:
        return None
    index = next((f for f in manifest.files if f.path == INDEX), None)
    if index is None or not layout.has_complete(manifest.commit, index):
        return None
    return read_weight_map(layout.entry_path(manifest.commit, index).read_text(encoding="utf-8"))


def weights_of(layout: Layout, variant: Variant, selection: Selection) -> LocalWeights:
    commit = selection.manifest.commit
    folder = layout.folder(commit)
    return LocalWeights(
        variant_id=variant.qualified_id,
        path=layout.entry_path(commit, selection.entry) if selection.entry else folder,
        folder=folder,
        files=tuple(layout.entry_path(commit, f) for f in selection.files),
        size_bytes=selection.size,
        commit=commit,
        verified=all(layout.is_verified(f) for f in selection.files),
    )


def _own_files(variant: Variant) -> LocalWeights | None:
    """A GGUF of your own where it is: its files as named, unverified (no hub knows them)."""
    files = tuple(Path(f) for f in variant.files)
    if not all(f.is_file() for f in files):
        return None
    return LocalWeights(variant_id=variant.qualified_id, path=Path(variant.entry or files[0]),
                        folder=files[0].parent, files=files, size_bytes=sum(f.stat().st_size for f in files),
                        commit="", verified=False)


def locate(variant: Variant, *, local_dir: Path | None = None) -> LocalWeights | None:
    """The variant's weights if every file is complete on disk at its revision; no network.
    A GGUF of your own (`variant.local`) is where its files are."""
    if variant.local:
        return _own_files(variant)
    layout = open_layout(variant.repo, local_dir)
    commit = layout.commit_for(variant.revision)
    manifest = layout.load_manifest(commit) if commit else None
    selection = _select(manifest, variant, layout) if manifest else None
    if selection is None or selection.pending or not all(layout.has_complete(commit, f) for f in selection.files):
        return None
    return weights_of(layout, variant, selection)


def _on_disk(layout: Layout, variant: Variant) -> list[VariantOnDisk]:
    found = []
    for manifest, listed in layout.listings():
        selection = _select(manifest, variant, layout)
        if selection is None:
            continue
        commit = manifest.commit
        complete = [f for f in selection.files if layout.has_complete(commit, f)]
        partial = sum(layout.partial_bytes(f) for f in selection.files if f not in complete)
        if not complete and not partial:
            continue
        # Shards not chosen yet (no index on disk): at least one more file, the recipe's size in all.
        pending = 1 if selection.pending else 0
        found.append(VariantOnDisk(
            variant=variant, folder=layout.folder(commit), commit=commit,
            files_total=len(selection.files) + pending, files_complete=len(complete),
            bytes_total=max(selection.size, variant.size_bytes) if pending else selection.size,
            bytes_on_disk=sum(f.size for f in complete) + partial,
            verified=bool(complete) and all(layout.is_verified(f) for f in complete), listed=listed,
        ))
    return found


def missing_bytes(variant: Variant, *, local_dir: Path | None = None) -> int:
    """What a pull of `variant` would still download, judged from the disk alone (no network):
    the recipe's size when nothing of it is here, 0 when it is complete."""
    entries = _on_disk(open_layout(variant.repo, local_dir), variant)
    if not entries:
        return variant.size_bytes
    best = max(entries, key=lambda e: e.bytes_on_disk)
    return max(best.bytes_total - best.bytes_on_disk, 0)


def inventory(*, local_dir: Path | None = None, catalog: Catalog | None = None) -> list[VariantOnDisk]:
    """Every known variant (and draft) with anything on disk (complete, partial, or fetched by another tool)."""
    _check_is_folder(local_dir)
    catalog = catalog or load_catalog()
    return [entry for v in (*catalog.all_variants, *catalog.draft_variants)
            for entry in _on_disk(open_layout(v.repo, local_dir), v)]


def remove(variant: Variant, *, local_dir: Path | None = None) -> int:
    """Delete the variant's files (complete and partial) at every revision on disk; the bytes freed.

    A blob another snapshot still links to stays. Refuses while a pull of the same files runs.
    """
    layout = open_layout(variant.repo, local_dir)
    freed, removed = 0, []
    for manifest, _ in layout.listings():
        selection = _select(manifest, variant, layout)
        if selection is None:
            continue
        commit = manifest.commit
        keep = layout.blobs_in_use(commit, {f.path for f in selection.files})
        for f in selection.files:
            try:
                with exclusive(layout.lock_path(f), timeout=1):
                    freed += layout.remove(commit, f, keep_content=f.blob in keep)
            except Busy:
                raise RuntimeFailure(
                    f"a download of {f.path} is running; stop it before removing {variant.qualified_id}."
                ) from None
            removed.append(layout.entry_path(commit, f))
    layout.tidy(removed)
    return freed

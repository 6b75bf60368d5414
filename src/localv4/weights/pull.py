"""`pull`: bring a variant's files from the hub into the HF cache (or a folder), complete and verified.

Order matters: ask the hub for the listing at the pinned revision, select the variant's files, check
the disk has room for what is missing, and only then write. Files are fetched a few at a time; the
first file that fails for good stops the others, and every byte already downloaded stays for the
next run. With no network (or HF_HUB_OFFLINE) a variant already complete on disk is still returned.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from localv4.errors import RuntimeFailure, UsageError
from localv4.recipes import Variant
from localv4.units import human_bytes
from localv4.weights.disk import DiskFull, check_free_space, margin_for
from localv4.weights.events import EventSink, PullEvent, PullFinished, PullNote, PullStarted, ignore
from localv4.weights.hub import HubSettings, HubUnreachable, fetch_manifest
from localv4.weights.layout import Layout
from localv4.weights.local import index_on_disk, locate, open_layout, weights_of
from localv4.weights.files import INDEX, LocalWeights, Selection


def pull(variant: Variant, *, local_dir: Path | None = None, on_event: EventSink = ignore) -> LocalWeights:
    """Download what is missing of `variant`, verify every file, and return where it is.

    `on_event` gets the progress (localv4.weights.events), one event at a time, from worker threads.
    """
    if variant.local:  # a file of your own: nothing to download, only to find
        found = locate(variant)
        if found is None:
            raise UsageError(f"{variant.entry} is no longer there: a GGUF of your own is never downloaded.")
        return found
    settings = HubSettings.from_env()
    on_event = _one_at_a_time(on_event)
    layout = open_layout(variant.repo, local_dir)
    _check_writable(layout, local_dir)
    if settings.offline:
        return _from_disk(variant, local_dir, on_event, "HF_HUB_OFFLINE is set",
                          "unset HF_HUB_OFFLINE to download it")
    cancelled = threading.Event()
    try:
        manifest = fetch_manifest(variant.repo, variant.revision, settings, cancelled)
    except HubUnreachable as err:
        return _from_disk(variant, local_dir, on_event, str(err),
                          "check the network or HF_ENDPOINT, then run the pull again")
    selection = manifest.select(variant)
    commit = manifest.commit
    if selection.pending:  # the shards holding the variant's tensors: read from the index, fetched first
        selection = _with_shards(layout, variant, selection, settings)
    present = sum(f.size if layout.has_complete(commit, f) else layout.partial_bytes(f)
                  for f in selection.files)
    check_free_space(layout.root, selection.size - present)
    layout.save_manifest(manifest)
    layout.prepare(variant.revision, commit)
    on_event(PullStarted(variant.qualified_id, variant.repo, commit, str(layout.folder(commit)),
                         len(selection.files), selection.size, present))
    started = time.monotonic()
    try:
        fetched = _fetch_all(layout, selection, settings, on_event, cancelled)
    except DiskFull as full:
        raise _still_needed(layout, selection, full) from None
    weights = weights_of(layout, variant, selection)
    on_event(PullFinished(variant.qualified_id, str(weights.path), selection.size, fetched,
                          round(time.monotonic() - started, 3)))
    return weights


def _with_shards(layout: Layout, variant: Variant, selection: Selection, settings: HubSettings) -> Selection:
    """Fetch the repo's index (small; resumable and checked like any file), then select the
    shards it maps the variant's tensors to: only those are downloaded, not the whole model."""
    manifest = selection.manifest
    index = next(f for f in selection.files if f.path == INDEX)
    layout.save_manifest(manifest)
    layout.prepare(variant.revision, manifest.commit)
    done = threading.Event()  # its own: _fetch_all sets it when the index is in
    _fetch_all(layout, Selection(manifest, (index,), None), settings, ignore, done)
    return manifest.select(variant, index_on_disk(layout, manifest, variant))


def _still_needed(layout: Layout, selection: Selection, full: DiskFull) -> RuntimeFailure:
    """One line for a disk that filled up mid-pull: what is kept, what is still needed."""
    commit = selection.manifest.commit
    kept = sum(f.size if layout.has_complete(commit, f) else layout.partial_bytes(f)
               for f in selection.files)
    missing = selection.size - kept
    return RuntimeFailure(
        f"the disk filled up in {layout.root} while writing {full.path}: {human_bytes(kept)} "
        f"downloaded are kept, {human_bytes(missing)} more are needed (free "
        f"{human_bytes(missing + margin_for(missing))} to keep the safety margin), then run the "
        "pull again: it resumes from the first missing byte."
    )


def _one_at_a_time(sink: EventSink) -> EventSink:
    """Files report from worker threads; the sink sees one event at a time, in order."""
    lock = threading.Lock()

    def emit(event: PullEvent) -> None:
        with lock:
            sink(event)

    return emit


def _check_writable(layout: Layout, local_dir: Path | None) -> None:
    """Fail before any network use when the target cannot take files (and leave no repo folder)."""
    try:
        layout.base.mkdir(parents=True, exist_ok=True)
        probe = layout.base / f".localv4-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        if local_dir is not None:
            where, fix = f"--dir {local_dir}", "choose a folder you can write to"
        else:
            where, fix = f"the Hugging Face cache ({layout.base})", "set HF_HOME to a writable folder"
        raise UsageError(f"cannot write to {where}: {err.strerror or err}; {fix}.") from None


def _from_disk(variant: Variant, local_dir: Path | None, on_event: EventSink, why: str,
               fix: str) -> LocalWeights:
    found = locate(variant, local_dir=local_dir)
    if found is None:
        raise RuntimeFailure(f"{why}, and {variant.qualified_id} is not complete on disk; {fix}.")
    on_event(PullNote(f"{why}; {variant.qualified_id} is already complete on disk, using it."))
    return found


def _fetch_all(layout: Layout, selection: Selection, settings: HubSettings, on_event: EventSink,
               cancelled: threading.Event) -> int:
    """Fetch the files a few at a time; the first lasting failure stops the rest (their bytes stay)."""
    import httpx

    from localv4.weights.transfer import Cancelled, FileFetcher
    from localv4.weights.xet import XetStreams

    policy = settings.policy
    timeout = httpx.Timeout(policy.stall_s, connect=policy.connect_s)
    pool_size = 2 * settings.workers  # each file: the hub's redirect, then the CDN
    limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    with httpx.Client(headers=settings.headers(), timeout=timeout, limits=limits,
                      follow_redirects=True) as client:
        fetcher = FileFetcher(client, settings, layout, selection.manifest.repo, selection.manifest.commit,
                              on_event, cancelled, XetStreams(settings.headers()) if settings.xet else None)
        # Largest first: the long transfers start at once, the small files fill the gaps.
        order = sorted(selection.files, key=lambda f: f.size, reverse=True)
        pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="pull")
        futures = [pool.submit(fetcher.fetch, f) for f in order]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in futures if f.done() and f.exception() is not None]
            if errors:
                raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
            return sum(f.result() for f in futures)
        finally:
            cancelled.set()  # stops files still running (Ctrl-C, or one failed); a no-op when all are done
            pool.shutdown(wait=True, cancel_futures=True)

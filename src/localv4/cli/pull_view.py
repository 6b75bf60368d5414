"""Showing a pull and the weights on disk: Rich bars on a terminal, plain lines in a pipe, JSON lines."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from localv4 import events
from localv4.units import human_bytes
from localv4.weights.events import (
    EventSink,
    FileCorrupt,
    FileDone,
    FileProgress,
    FileRetry,
    FileStarted,
    PullEvent,
    PullFinished,
    PullNote,
    PullStarted,
)
from localv4.weights.files import VariantOnDisk


def _short(path: str, width: int = 36) -> str:
    """The file's name, cut from the left: the part numbers at the end are what tell files apart."""
    name = path.rsplit("/", 1)[-1]
    return name if len(name) <= width else "…" + name[-(width - 1):]


class _Tally:
    """Bytes on disk for the whole variant, from the events: known at start, plus what files add."""

    def __init__(self, started: PullStarted) -> None:
        self.present = started.present_bytes
        self.first: dict[str, int] = {}
        self.done: dict[str, int] = {}

    def start(self, event: FileStarted) -> None:
        self.first.setdefault(event.path, event.resume_from)
        self.done[event.path] = event.resume_from

    def progress(self, path: str, done: int) -> None:
        self.done[path] = done

    @property
    def total_done(self) -> int:
        return self.present + sum(self.done[p] - self.first[p] for p in self.done)


class RichPullView:
    """One bar for the variant (bytes, speed, ETA) and one per file being fetched."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=console,
        )
        self.overall: TaskID | None = None
        self.files: dict[str, TaskID] = {}
        self.tally: _Tally | None = None

    def __call__(self, event: PullEvent) -> None:
        if isinstance(event, PullStarted):
            self.tally = _Tally(event)
            self.progress.start()
            self.console.print(_start_line(event))
            self.overall = self.progress.add_task(f"[bold]{event.variant}", total=event.total_bytes,
                                                  completed=event.present_bytes)
        elif isinstance(event, FileStarted):
            self.tally.start(event)
            if event.path not in self.files:
                via = " (xet)" if event.transport == "xet" else ""
                self.files[event.path] = self.progress.add_task(f"  {_short(event.path)}{via}", total=event.size)
            self.progress.update(self.files[event.path], completed=event.resume_from)
        elif isinstance(event, FileProgress):
            self.tally.progress(event.path, event.done)
            self.progress.update(self.files[event.path], completed=event.done)
            self.progress.update(self.overall, completed=self.tally.total_done)
        elif isinstance(event, FileDone):
            task = self.files.pop(event.path, None)
            if task is not None:
                self.progress.remove_task(task)
            self.progress.console.print(_file_line(event), highlight=False)
        elif isinstance(event, PullFinished):
            self.progress.update(self.overall, completed=event.total_bytes)
            self.progress.stop()
            self.console.print(_finish_line(event), highlight=False)
        else:
            self.progress.console.print(plain_line(event), style="yellow", highlight=False)

    def close(self) -> None:
        self.progress.stop()


class PlainPullView:
    """For pipes and logs: one line per file, plus retries and the summary; no bars."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: PullEvent) -> None:
        line = plain_line(event)
        if line:
            print(line, file=self.out, flush=True)

    def close(self) -> None:
        pass


class JsonPullView:
    """One JSON object per line on stdout, for the tray and scripts."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: PullEvent) -> None:
        print(events.line(event.to_dict()), file=self.out, flush=True)

    def close(self) -> None:
        pass


def _start_line(e: PullStarted) -> str:
    here = f", {human_bytes(e.present_bytes)} already here" if e.present_bytes else ""
    return (f"Pulling {e.variant} from {e.repo} at {e.commit[:12]}: {e.files} files, "
            f"{human_bytes(e.total_bytes)}{here}\n  into {e.target}")


def _file_line(e: FileDone) -> str:
    how = "already here, verified" if e.already_present else f"verified, fetched {human_bytes(e.fetched)}"
    return f"  ✓ {e.path}  {human_bytes(e.size)}  ({how})"


def _finish_line(e: PullFinished) -> str:
    rate = f" at {human_bytes(e.fetched_bytes / e.seconds)}/s" if e.seconds > 0 and e.fetched_bytes else ""
    return (f"Done: {e.variant} complete and verified ({human_bytes(e.total_bytes)}); fetched "
            f"{human_bytes(e.fetched_bytes)} in {e.seconds:.1f} s{rate}.\n  {e.path}")


def plain_line(event: PullEvent) -> str | None:
    if isinstance(event, PullStarted):
        return _start_line(event)
    if isinstance(event, FileDone):
        return _file_line(event)
    if isinstance(event, FileRetry):
        return (f"  ! {event.path}: {event.reason}; retrying from {human_bytes(event.done)} in "
                f"{event.wait_s:.1f} s (try {event.attempt + 1} of {event.max_attempts})")
    if isinstance(event, FileCorrupt):
        which = "the copy on disk" if event.attempt == 0 else f"fetch {event.attempt} of {event.max_attempts}"
        return f"  ! {event.path}: hash mismatch ({which}); deleted, fetching it again"
    if isinstance(event, PullNote):
        return event.message
    if isinstance(event, PullFinished):
        return _finish_line(event)
    return None  # per-chunk progress: bars only


@contextmanager
def pull_view(as_json: bool) -> Iterator[EventSink]:
    """The event sink for `localv4 pull`: JSON lines, Rich bars on a terminal, else plain lines."""
    if as_json:
        view: RichPullView | PlainPullView | JsonPullView = JsonPullView(sys.stdout)
    elif sys.stdout.isatty():
        view = RichPullView(Console())
    else:
        view = PlainPullView(sys.stdout)
    try:
        yield view
    finally:
        view.close()


def models_table(entries: list[VariantOnDisk]) -> Table:
    table = Table(title="Model weights on disk", title_justify="left")
    for col, kw in (("variant", {"no_wrap": True}), ("format", {}), ("state", {"no_wrap": True}),
                    ("on disk", {"justify": "right", "no_wrap": True}),
                    ("of", {"justify": "right", "no_wrap": True}),
                    ("files", {"justify": "right"}), ("verified", {})):
        table.add_column(col, **kw)
    for e in entries:
        state = {"complete": "[green]complete", "partial": "[yellow]partial",
                 "found": "[cyan]found (other tool)"}[e.state]
        table.add_row(e.variant.qualified_id, e.variant.format, state, human_bytes(e.bytes_on_disk),
                      human_bytes(e.bytes_total), f"{e.files_complete}/{e.files_total}",
                      "yes" if e.verified else "no")
    return table

"""Showing install progress: a Rich progress view on a terminal, plain lines everywhere else."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from localv4.install.progress import Eta, format_duration

# Steps whose tool reports a percentage; the others get a spinner.
_MEASURED = {"compile"}


class RichReporter:
    """One progress line per step; a step ends (as done) when the next one starts."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def stage(self, name: str) -> None:
        self._finish_task()
        if self.progress is None:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(),
                                     TextColumn("{task.fields[shown]}"), TimeElapsedColumn(),
                                     TextColumn("eta"), TimeRemainingColumn(), console=self.console)
            self.progress.start()
        self.task = self.progress.add_task(name, total=100 if name in _MEASURED else None, shown="")

    def percent(self, value: float) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=value, shown=f"{value:3.0f}%")

    def note(self, message: str) -> None:
        (self.progress.console if self.progress else self.console).print(message)

    def stop(self) -> None:
        """End the live view (before a question, and at the end)."""
        self._finish_task()
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _finish_task(self) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=100, completed=100, shown="done")
        self.task = None


class PlainReporter:
    """For logs and pipes: a line when a step starts, and every tenth of the way through a build,
    with the time left at the rate so far."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown = -1
        self.eta = Eta()

    def stage(self, name: str) -> None:
        self.shown = -1
        self.eta = Eta()
        self.console.print(f"{name}...")

    def percent(self, value: float) -> None:
        tenth = int(value) // 10
        if tenth > self.shown:
            self.shown = tenth
            left = self.eta.remaining(value)
            self.console.print(f"  {int(value)}%" + (f", about {format_duration(left)} left" if left else ""))

    def note(self, message: str) -> None:
        self.console.print(message)

    def stop(self) -> None:
        pass

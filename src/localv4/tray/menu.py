"""The tray as plain values: what is going on (TrayState) -> the icon and the menu to show.

Both shells (rumps on macOS, pystray elsewhere) draw exactly what these functions return, so
the behaviour of the tray is decided and tested here, without any GUI toolkit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from localv4.recipes import VariantRef
from localv4.units import format_context

STATUS_TEXT_LIMIT = 70  # characters of an error line shown in the menu


class ServerPhase(str, Enum):
    """The engine's state as `localv4.serve.api.status()` reports it."""

    RUNNING = "running"
    LOADING = "loading"
    STOPPED = "stopped"
    CRASHED = "crashed"
    UNRESPONSIVE = "unresponsive"  # alive, but not answering (stopped or wedged)


class IconKind(str, Enum):
    STOPPED = "stopped"
    PULLING = "pulling"
    LOADING = "loading"
    RUNNING = "running"
    ERROR = "error"


class Action(str, Enum):
    START = "start"
    STOP = "stop"
    OPEN_CHAT = "open_chat"
    COPY_ENDPOINT = "copy_endpoint"
    SHOW_LOGS = "show_logs"
    RUN_DOCTOR = "run_doctor"
    TOGGLE_LOGIN = "toggle_login"
    QUIT = "quit"
    QUIT_AND_STOP = "quit_and_stop"


@dataclass(frozen=True)
class PullProgress:
    """A download the tray started, from `localv4 pull --json` events."""

    variant: str
    done_bytes: int
    total_bytes: int

    @property
    def percent(self) -> int:
        return int(100 * self.done_bytes / self.total_bytes) if self.total_bytes else 0


@dataclass(frozen=True)
class TrayState:
    """Everything the menu depends on; the poller builds a new one each time something changes."""

    server: ServerPhase = ServerPhase.STOPPED
    endpoint: str | None = None
    variant: str | None = None
    context: int | None = None
    tokens_per_s: float | None = None
    workers: tuple[str, ...] = ()  # a pooled engine's RPC workers (HOST:PORT)
    problem: str | None = None  # why the engine is "crashed", e.g. a pooled worker is gone
    draft: str | None = None  # the speculative draft in use ("dspark: <file>"), None without one
    pull: PullProgress | None = None
    busy: str | None = None  # what a tray action is doing now: "starting", "stopping", "running doctor"
    error: str | None = None  # the last failed tray action, in one line
    log_exists: bool = False
    login_item: bool = False
    login_supported: bool = True


@dataclass(frozen=True)
class IconState:
    kind: IconKind
    percent: int | None = None  # only while pulling

    @property
    def label(self) -> str:
        """Short text for a menu-bar title or a tooltip: 'localv4: pulling 42%'."""
        detail = f"{self.kind.value} {self.percent}%" if self.percent is not None else self.kind.value
        return f"localv4: {detail}"


@dataclass(frozen=True)
class MenuItem:
    title: str
    action: Action | None = None  # None: an information line
    enabled: bool = True
    checked: bool | None = None  # None: not a toggle
    children: tuple[MenuItem, ...] = ()

    @property
    def is_separator(self) -> bool:
        return self.title == SEPARATOR.title and self.action is None


SEPARATOR = MenuItem("-", enabled=False)


def icon_state(state: TrayState) -> IconState:
    """A download outranks everything; then a failure; then what the engine is doing."""
    if state.pull is not None:
        return IconState(IconKind.PULLING, state.pull.percent)
    if state.error or state.server in (ServerPhase.CRASHED, ServerPhase.UNRESPONSIVE):
        return IconState(IconKind.ERROR)
    if state.server is ServerPhase.LOADING or state.busy == "starting":
        return IconState(IconKind.LOADING)
    if state.server is ServerPhase.RUNNING:
        return IconState(IconKind.RUNNING)
    return IconState(IconKind.STOPPED)


def _shorten(text: str) -> str:
    return text if len(text) <= STATUS_TEXT_LIMIT else text[: STATUS_TEXT_LIMIT - 1] + "…"


def status_line(state: TrayState) -> str:
    """The first menu line: what runs, with which context, how fast; or what went wrong."""
    if state.error:
        return _shorten(f"Error: {state.error}")
    variant = VariantRef.parse(state.variant).variant if state.variant else "the model"
    if state.server is ServerPhase.RUNNING:
        parts = [f"Running {variant}"]
        if state.context:
            parts.append(f"{format_context(state.context)} context")
        if state.workers:
            parts.append(f"pooled with {len(state.workers)} worker{'s' if len(state.workers) > 1 else ''}")
        if state.tokens_per_s is not None:
            parts.append(f"{state.tokens_per_s:.1f} tok/s")
        if state.draft:
            parts.append(f"{state.draft.split(':', 1)[0]} draft")
        return " · ".join(parts)
    if state.server is ServerPhase.LOADING:
        return f"Loading {variant}…"
    if state.server is ServerPhase.CRASHED:
        return _shorten(state.problem.split(";")[0].capitalize()) if state.problem else "The engine crashed: see Show logs"
    if state.server is ServerPhase.UNRESPONSIVE:
        return "The engine is not answering: Stop server, then Start"
    if state.busy:
        return f"{state.busy.capitalize()}…"
    return "Stopped"


def _pull_line(pull: PullProgress) -> str:
    gb = 1e9
    return (f"Pulling {pull.variant}: {pull.percent}% "
            f"({pull.done_bytes / gb:.1f} of {pull.total_bytes / gb:.1f} GB)")


def menu(state: TrayState) -> list[MenuItem]:
    """The menu, top to bottom; an item is disabled when its action cannot work right now."""
    up = state.server in (ServerPhase.RUNNING, ServerPhase.LOADING, ServerPhase.UNRESPONSIVE)
    idle = state.busy is None and state.pull is None
    items = [MenuItem(status_line(state), enabled=False)]
    if state.pull is not None:
        items.append(MenuItem(_pull_line(state.pull), enabled=False))
    items.append(SEPARATOR)
    if up:
        items.append(MenuItem("Stop server", Action.STOP, enabled=state.busy != "stopping"))
    else:
        items.append(MenuItem("Start server", Action.START, enabled=idle))
    items += [
        MenuItem("Open Chat", Action.OPEN_CHAT, enabled=state.server is ServerPhase.RUNNING),
        MenuItem(f"Copy API endpoint ({state.endpoint})" if state.endpoint and up else "Copy API endpoint",
                 Action.COPY_ENDPOINT, enabled=up and state.endpoint is not None),
        SEPARATOR,
        MenuItem("Show logs", Action.SHOW_LOGS, enabled=state.log_exists),
        MenuItem("Run doctor", Action.RUN_DOCTOR, enabled=state.busy != "running doctor"),
        SEPARATOR,
        MenuItem("Start at login", Action.TOGGLE_LOGIN, enabled=state.login_supported,
                 checked=state.login_item),
    ]
    if up:
        items.append(MenuItem("Quit", children=(
            MenuItem("Quit and stop the server", Action.QUIT_AND_STOP),
            MenuItem("Quit, keep the server running", Action.QUIT),
        )))
    else:
        items.append(MenuItem("Quit", Action.QUIT))
    return items

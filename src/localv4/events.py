"""The JSON-lines protocol of `--json` output: written by the CLI, read by the tray and scripts.

One JSON object per line on stdout, each with an "event" field naming its kind (pull events:
`localv4.weights.events`; `up`: its stages, then "ready"). A command run with `--json` that fails
ends its output with an "error" event carrying the same one line it prints on stderr and the exit
code, so a reader never has to scrape human text.
"""

from __future__ import annotations

import json
from typing import Any

KIND = "event"
ERROR = "error"


def line(payload: dict[str, Any]) -> str:
    """One event as the line that carries it."""
    return json.dumps(payload, default=str)


def decode(text: str) -> dict[str, Any] | None:
    """The event a line carries, or None for anything that is not one (a stray print, a blank)."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) and KIND in payload else None


def error(message: str, exit_code: int) -> dict[str, Any]:
    return {KIND: ERROR, "message": message, "exit_code": exit_code}

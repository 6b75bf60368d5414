"""The JSON-lines protocol of `--json` output: what the CLI writes is what the tray reads."""

from __future__ import annotations

import json

from conftest import run_cli

from localv4 import events
from localv4.tray.cli_backend import failure_line


def test_a_failed_json_command_ends_with_the_error_event_it_also_says_in_words(tmp_path) -> None:
    done = run_cli("plan", "--hardware", str(tmp_path / "no-such-profile.json"), "--json")
    assert done.returncode == 2
    said = done.stderr.strip()
    assert said.startswith("localv4: ") and len(said.splitlines()) == 1
    last = events.decode(done.stdout.strip().splitlines()[-1])
    assert last == {"event": "error", "message": said.removeprefix("localv4: "), "exit_code": 2}


def test_without_json_there_is_no_event_on_stdout(tmp_path) -> None:
    done = run_cli("plan", "--hardware", str(tmp_path / "no-such-profile.json"))
    assert done.returncode == 2 and done.stdout == ""


def test_the_tray_reads_the_error_event_not_the_text() -> None:
    lines = ["localv4: text a person reads", "not json", json.dumps({"no": "event"}),
             events.line(events.error("the disk is full: free 3 GB", 1))]
    assert failure_line(lines, ["pull"], 1) == "the disk is full: free 3 GB"
    assert failure_line(lines[:3], ["up"], 1) == "`localv4 up` failed (exit code 1)"


def test_decode_takes_only_events() -> None:
    assert events.decode('{"event": "start", "files": 2}') == {"event": "start", "files": 2}
    assert events.decode("[1, 2]") is None and events.decode("plain") is None and events.decode("{}") is None

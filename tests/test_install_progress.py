"""`localv4 install`'s progress: the build's own [N/M] / [ NN%] figures, an ETA, and the checks
that fail before the slow work (a disk too small for the build).

The build output is a real one: tests/recordings/ holds the compile step of a real `localv4 install
llama.cpp --cpu` log (Unix Makefiles, which cmake picks when Ninja is not installed), recorded on
a 2-core Debian machine, its compiler warnings dropped. Ninja's `[N/M]` lines are checked one by one.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from conftest import run_cli
from localv4.errors import RuntimeFailure
from localv4.install.progress import Eta, build_percent, format_duration, progress_lines
from localv4.cli.install_view import PlainReporter, RichReporter
from localv4.install.tools import require_disk
from support.enable import as_root

RECORDED = Path(__file__).parent / "recordings" / "install-llama.cpp-cpu-compile.log"


class Recording:
    def __init__(self) -> None:
        self.percents: list[float] = []

    def stage(self, name: str) -> None:
        pass

    def percent(self, value: float) -> None:
        self.percents.append(value)

    def note(self, message: str) -> None:
        pass


def _recorded_percents() -> list[float]:
    recording = Recording()
    on_line = progress_lines(recording)
    for line in RECORDED.read_text().splitlines():
        on_line(line)
    return recording.percents


def test_a_real_build_log_restarts_per_target_but_the_figure_only_rises():
    raw = [p for p in map(build_percent, RECORDED.read_text().splitlines()) if p is not None]
    assert raw.index(100.0) < len(raw) - 1 and min(raw[raw.index(100.0):]) < 50  # make's second target
    percents = _recorded_percents()
    assert len(percents) > 50 and percents[0] < 10 and percents[-1] == 100
    assert all(a < b for a, b in zip(percents, percents[1:]))


@pytest.mark.parametrize("line, expected", [
    ("[ 45%] Building CXX object ggml/src/CMakeFiles/ggml-base.dir/ggml.c.o", 45.0),
    ("[100%] Built target llama-server", 100.0),
    ("[12/48] Building CXX object src/CMakeFiles/llama.dir/llama.cpp.o", 25.0),
    ("-- Configuring done (1.2s)", None),
    ("warning: [-Wunused] in [3/4]", None),  # only a figure that starts the line counts
])
def test_make_and_ninja_progress_lines(line, expected):
    assert build_percent(line) == expected


def test_eta_is_the_rate_so_far_and_nothing_before_there_is_one():
    eta = Eta(started=100.0)
    assert eta.remaining(0, now=160.0) is None and eta.remaining(100, now=160.0) is None
    assert eta.remaining(25, now=160.0) == pytest.approx(180.0)
    assert [format_duration(s) for s in (0.2, 45, 180, 3900)] == ["1 s", "45 s", "3 min", "1 h 05 min"]


def test_plain_progress_prints_each_tenth_once_with_the_time_left():
    out = io.StringIO()
    reporter = PlainReporter(Console(file=out, width=200))
    reporter.stage("compile")
    for percent in _recorded_percents():
        reporter.percent(percent)
    lines = out.getvalue().splitlines()
    assert lines[0] == "compile..."
    shown = [int(line.split("%")[0]) // 10 for line in lines[1:]]
    assert shown == sorted(set(shown)) and shown[-1] == 10
    between = [line for line in lines[1:] if line.strip().split("%")[0] not in ("0", "100")]
    assert between and all(line.endswith(" left") and ", about " in line for line in between)


def test_the_progress_bar_shows_percent_and_eta_on_a_terminal():
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, width=120, force_terminal=True, color_system=None))
    reporter.stage("compile")
    reporter.percent(40)
    reporter.progress.refresh()
    reporter.stop()
    text = out.getvalue()
    assert "compile" in text and " 40%" in text and "eta" in text


def test_too_little_disk_for_a_build_is_one_line_naming_the_fix(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(RuntimeFailure) as short:
        require_disk(tmp_path, free * 2)
    message = str(short.value)
    assert message.startswith("building llama.cpp needs ") and f"free in {tmp_path}, only " in message
    assert "LOCALV4_BUILD_CACHE" in message
    require_disk(tmp_path, 1)  # enough: no error


@pytest.fixture()
def small_disk(tmp_path: Path, request: pytest.FixtureRequest):
    """A real 8 MB filesystem (tmpfs), as a build cache with no room for a build."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (it needs root): {as_root(request)}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_install_on_a_full_disk_fails_before_downloading_anything(small_disk: Path):
    done = run_cli("install", "llama.cpp", "--cpu", env={"LOCALV4_BUILD_CACHE": str(small_disk / "builds")})
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("localv4: building llama.cpp needs ") and str(small_disk) in line
    assert [p.name for p in small_disk.rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []
    assert not (Path(os.environ["LOCALV4_HOME"]) / "data" / "engines").exists()

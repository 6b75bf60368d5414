"""`localv4 doctor`: true facts about this machine, blocking problems, and exit codes."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from support.ports import free_port
from support.hubserver import FakeHub
from localv4.doctor import FAIL, OK, WARN, check_hub, run_doctor
from localv4.fixes import pip_install
from localv4.pins import PYTHON_ENGINE_REQUIREMENT
from localv4.recipes import load_catalog
from support.hidden_package import env_without
from support.machines import machine

RECIPE = load_catalog().recipe()
DEMO = "qwen2.5-0.5b"  # a recipe that fits any machine, so `doctor` can say "ready"


def meminfo_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def test_doctor_json_reports_this_machine_truly() -> None:
    result = run_cli("doctor", "--json")
    report = json.loads(result.stdout)
    hw = report["hardware"]
    assert hw["ram_total"] == meminfo_total()
    assert hw["cpu_threads"] == len(os.sched_getaffinity(0))
    names = {c["name"] for c in report["checks"]}
    assert {"hardware", "llama-cpp-python", "llama-server", "mlx", "disk", "docker", "huggingface",
            "port", "RAM bandwidth", "CPU vector units"} <= names
    assert hw["ram_bandwidth_gbps"] > 0 and hw["ram_bandwidth_source"].startswith("measured")
    [bandwidth] = [c for c in report["checks"] if c["name"] == "RAM bandwidth"]
    assert f'{hw["ram_bandwidth_gbps"]:g} GB/s' in bandwidth["detail"]
    flags = Path("/proc/cpuinfo").read_text()
    assert ("AVX2" in hw["cpu_features"]) == (" avx2" in flags)
    # This 2-core, 24 GB test machine cannot hold any V4-Flash variant: doctor must say so and exit 1.
    assert report["plan"] is None and report["nothing_fits"]["shortfall_bytes"] > 0
    assert result.returncode == 1 and report["can_run"] is False


def test_doctor_table_says_why_it_is_not_ready() -> None:
    result = run_cli("doctor")
    assert result.returncode == 1
    assert "nothing fits" in result.stdout and "Not ready: no variant fits" in result.stdout


def test_saved_doctor_report_plans_anywhere(tmp_path) -> None:
    report = tmp_path / "me.json"
    report.write_text(run_cli("doctor", "--json").stdout)
    result = run_cli("plan", "--hardware", str(report), "--json")
    assert result.returncode == 1  # the same verdict as here
    assert json.loads(result.stdout)["hardware"]["ram_total"] == meminfo_total()


def test_a_machine_that_fits_can_run_unless_the_disk_is_short() -> None:
    hw = machine("h200-141gb")
    assert run_doctor(hw, RECIPE, default_port=free_port()).plan is not None
    small_disk = dataclasses.replace(hw, disk_free=10 * 10**9)
    report = run_doctor(small_disk, RECIPE, default_port=free_port())
    disk = next(c for c in report.checks if c.name == "disk")
    assert disk.status == FAIL and "HF_HOME" in disk.fix
    assert not report.can_run


def test_busy_default_port_is_reported_with_the_fix() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        report = run_doctor(machine("h200-141gb"), RECIPE, default_port=s.getsockname()[1])
    port = next(c for c in report.checks if c.name == "port")
    assert port.status == "warn" and "--port auto" in port.fix


@pytest.mark.parametrize(("disable_xet", "said"), [("0", "Xet transfers on"), ("1", "Xet transfers off")])
def test_hub_check_says_reachable_and_whether_pulls_use_xet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disable_xet: str, said: str) -> None:
    monkeypatch.setenv("HF_HUB_DISABLE_XET", disable_xet)
    with FakeHub(tmp_path) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        check = check_hub(RECIPE)
    assert check.status == OK and f"{hub.endpoint} reachable; {said}" in check.detail
    assert ("HF_HUB_DISABLE_XET" in check.fix) == (disable_xet == "1")
    gone = check_hub(RECIPE)  # the same endpoint, now with nothing listening
    assert gone.status == WARN and "unreachable" in gone.detail and "HF_ENDPOINT" in gone.fix


def test_mlx_check_on_a_mac_names_the_installed_engines() -> None:
    from importlib.metadata import version

    from localv4.doctor import check_mlx

    mac = check_mlx(machine("mac-studio-m4-max-128"))  # the test extra installs mlx-vlm on Linux too
    assert mac.status == OK and f"mlx-vlm {version('mlx-vlm')}" in mac.detail
    linux = check_mlx(machine("cpu-only-24gb"))
    assert linux.status == OK and "MLX engines are for Apple Silicon" in linux.detail


def test_doctor_and_plan_work_without_llama_cpp_python(tmp_path: Path) -> None:
    """A plain `pip install localv4` has no Python bindings: both commands must not need them."""
    env = env_without(tmp_path / "site", "llama-cpp-python", "llama_cpp")
    hidden = subprocess.run([sys.executable, "-c", "import llama_cpp"], capture_output=True, text=True,
                            env={**os.environ, **env})
    assert "No module named 'llama_cpp'" in hidden.stderr  # the simulation holds

    doctor = run_cli("doctor", "--model", DEMO, "--json", env=env)
    assert doctor.returncode == 0, doctor.stderr
    report = json.loads(doctor.stdout)
    [bindings] = [c for c in report["checks"] if c["name"] == "llama-cpp-python"]
    assert bindings["status"] == OK
    assert bindings["detail"] == "not installed (optional: the native llama-server is the default engine)"
    assert bindings["fix"] == pip_install(PYTHON_ENGINE_REQUIREMENT)  # this Python's pip, not any pip
    assert bindings["fix"].endswith(f" -m pip install '{PYTHON_ENGINE_REQUIREMENT}'")
    assert report["can_run"] is True and report["plan"]["variant"] == "IQ4_XS"

    table = run_cli("doctor", "--model", DEMO, env=env)
    assert table.returncode == 0 and "Ready: `localv4 up` will run this plan." in table.stdout, table.stderr
    plan = run_cli("plan", "--model", DEMO, env=env)
    assert plan.returncode == 0 and f"Plan: {DEMO}:IQ4_XS with llama.cpp" in plan.stdout, plan.stderr
    for command in (["doctor"], ["plan"]):  # V4-Flash does not fit this machine: exit 1, said plainly
        done = run_cli(*command, env=env)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr


def test_fix_lines_under_pipx_inject_into_localv4s_venv(tmp_path: Path) -> None:
    """The README installs with pipx, where `pip install X` would change another Python."""
    venv = tmp_path / "pipx" / "venvs" / "localv4"  # where pipx keeps it: sys.prefix says pipx
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = env_without(tmp_path / "site", "llama-cpp-python", "llama_cpp")
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *filter(None, sys.path)])  # this env's packages
    done = subprocess.run([str(python), "-m", "localv4", "doctor", "--model", DEMO, "--json"],
                          capture_output=True, text=True, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    [bindings] = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "llama-cpp-python"]
    assert bindings["fix"] == f"pipx inject localv4 '{PYTHON_ENGINE_REQUIREMENT}'"


@pytest.mark.parametrize(("prefix", "pipx_home", "expected"), [
    ("/home/ada/.local/share/pipx/venvs/localv4", None, "pipx inject localv4 --pip-args=--upgrade 'mlx-vlm>=0.7'"),
    ("/opt/tools/venvs/localv4", "/opt/tools", "pipx inject localv4 --pip-args=--upgrade 'mlx-vlm>=0.7'"),
    ("/opt/tools/venvs/localv4", None, "-m pip install --upgrade 'mlx-vlm>=0.7'"),
    ("/home/ada/.venv", None, "-m pip install --upgrade 'mlx-vlm>=0.7'"),
])
def test_a_fix_line_installs_into_the_python_localv4_runs_from(monkeypatch, prefix, pipx_home, expected) -> None:
    monkeypatch.setattr(sys, "prefix", prefix)
    if pipx_home:
        monkeypatch.setenv("PIPX_HOME", pipx_home)
    else:
        monkeypatch.delenv("PIPX_HOME", raising=False)
    assert pip_install("mlx-vlm>=0.7", pip_args="--upgrade").endswith(expected)


def test_doctor_gives_an_unmeasured_ram_bandwidth_from_the_cpu_platform_with_no_pip_line() -> None:
    from localv4.doctor import check_hardware
    from support.machines import machine

    [check] = [c for c in check_hardware(machine("epyc-9654-cpu-only")) if c.name == "RAM bandwidth"]
    assert check.status == WARN and check.fix == ""
    assert check.detail == ("the probe could not measure it: speed estimates off the GPU use 460.8 GB/s "
                            "(spec, not measured: 12-channel DDR5-4800, EPYC 9004)")


def test_doctor_shows_each_gpus_memory_bandwidth_the_estimate_uses() -> None:
    """The GPU figure behind a GPU or unified plan's speed estimate, beside the card (recorded machines)."""
    from localv4.doctor import check_hardware
    from support.machines import machine

    def detail(name: str, check: str) -> str:
        return next(c.detail for c in check_hardware(machine(name)) if c.name == check)

    assert detail("h200-141gb", "GPU 0").endswith("; memory bandwidth 4800 GB/s (spec)")
    assert detail("dgx-spark-gb10", "GPU 0").endswith("; memory bandwidth 273 GB/s (spec)")
    assert detail("mac-studio-m3-ultra-512", "GPU memory limit").endswith("; memory bandwidth 819 GB/s (spec)")


def test_where_nothing_fits_the_verdict_names_the_demo_that_does() -> None:
    """A machine too small for V4-Flash (the recorded 24 GB CPU box) is told the demo model it can
    run, as `plan` tells it."""
    catalog = load_catalog()
    report = run_doctor(machine("cpu-only-24gb"), RECIPE, default_port=free_port(), demo=catalog.demo)
    assert report.plan is None and report.nothing_fits is not None
    assert any("localv4 up qwen2.5-0.5b" in way for way in report.nothing_fits.ways_out)

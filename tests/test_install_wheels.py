"""Which xllamacpp wheel each recorded machine gets (install/wheels.py), and the one line a user sees
when that wheel cannot be had. The publisher's GPU index is not reachable from here: the choice is
tested on recorded facts, and the wheels themselves never run in this suite."""

from __future__ import annotations

import dataclasses

import pytest

from localv4.errors import RuntimeFailure
from localv4.install import prebuilt
from localv4.install.progress import SilentReporter
from localv4.install.wheels import INDEX, NoWheel, WheelChoice, choose_wheel, describe_wheel
from support.machines import machine

GLIBC = (2, 39)  # Ubuntu 24.04

# machine, ROCm runtime here, flavour, what the user is told (a part of `why`)
CHOSEN = [
    ("rtx4090-64gb", None, "cu128", "driver 570.133.07 supports CUDA 12.8, below the 13.2 the cu132 wheel needs"),
    ("rtx5090-192gb", None, "cu128", "driver 575.64.03 supports CUDA 12.9, below the 13.2"),
    ("rtx5070-12gb-128gb", None, "cu128", "supports CUDA 12.9"),
    ("h200-141gb", None, "cu128", "driver 570.124.06 supports CUDA 12.8"),
    # R580 reports CUDA 13.0: the 13.2 wheel's PTX JIT would fail on the GB10 (sm_121)
    ("dgx-spark-gb10", None, "cu128", "driver 580.95.05 supports CUDA 13.0, below the 13.2"),
    ("rx7900xtx-24gb-128gb", None, "vulkan", "AMD Radeon RX 7900 XTX, no ROCm runtime seen"),
    ("rx7900xtx-24gb-128gb", (7, 2), "rocm-7.2.4", "AMD Radeon RX 7900 XTX (gfx1100), ROCm 7.2 runtime here"),
    ("rx7900xtx-24gb-128gb", (6, 4), "rocm-6.4.1", "(gfx1100), ROCm 6.4 runtime here"),
    ("strix-halo-128gb", None, "vulkan", "AMD Radeon 8060S Graphics, no ROCm runtime seen"),
    ("strix-halo-128gb", (7, 2), "rocm-7.2.4", "AMD Radeon 8060S Graphics (gfx1151), ROCm 7.2 runtime here"),
    ("strix-halo-128gb", (6, 4), "vulkan", "ROCm 6.4's wheel does not cover gfx1151"),  # 6.4.1: RDNA2/3 only
    ("mac-studio-m4-max-128", None, "metal", "Apple's GPU through Metal; PyPI's wheel"),
    ("cpu-only-24gb", None, "cpu", "no GPU it can use; PyPI's wheel"),
]


@pytest.mark.parametrize("name, rocm, flavour, why", CHOSEN)
def test_the_wheel_follows_the_recorded_hardware(name: str, rocm: tuple[int, int] | None, flavour: str,
                                                 why: str) -> None:
    choice = choose_wheel(machine(name), GLIBC, rocm)
    assert isinstance(choice, WheelChoice)
    assert (choice.flavour, choice.index_url) == (flavour, None if flavour in ("cpu", "metal") else f"{INDEX}/{flavour}")
    assert why in choice.why


def test_a_driver_for_cuda_13_2_on_turing_or_newer_gets_the_cu132_wheel() -> None:
    hw = machine("rtx5090-192gb")
    newer = dataclasses.replace(hw, gpus=tuple(dataclasses.replace(g, cuda_version="13.2") for g in hw.gpus))
    assert choose_wheel(newer, GLIBC) == WheelChoice("cu132", f"{INDEX}/cu132",
                                                    "driver 575.64.03 supports CUDA 13.2, GPU sm_120")
    pascal = dataclasses.replace(newer, gpus=tuple(dataclasses.replace(g, compute_capability="6.1") for g in newer.gpus))
    choice = choose_wheel(pascal, GLIBC)
    assert isinstance(choice, WheelChoice) and choice.flavour == "cu128"
    assert choice.why == "the GPU is sm_61, below the CUDA 13.2 wheel's sm_75"


@pytest.mark.parametrize("name, glibc, rocm, said", [
    ("2x-h100-80gb", GLIBC, None,
     "NVIDIA driver 550.127.05 supports CUDA 12.4, and xllamacpp's oldest CUDA wheel needs 12.8: update the driver "
     "(R570 or newer), or `localv4 install llama.cpp --cuda` builds llama-server here from source (needs nvcc)"),
    ("rtx4090-64gb", (2, 31), None,
     "xllamacpp's CUDA wheels need glibc 2.35 or newer and this machine has glibc 2.31: "
     "`localv4 install llama.cpp --cuda` builds llama-server here from source (needs nvcc)"),
    ("rtx4090-64gb", None, None, "and this machine has no glibc"),
    ("mi300x-192gb", GLIBC, (7, 2),
     "AMD Instinct MI300X (gfx942) is in neither xllamacpp ROCm wheel's list and no Vulkan driver runs it: "
     "build llama.cpp with HIP yourself"),
])
def test_where_no_wheel_fits_the_one_line_names_the_way_out(name: str, glibc: tuple[int, int] | None,
                                                           rocm: tuple[int, int] | None, said: str) -> None:
    choice = choose_wheel(machine(name), glibc, rocm)
    assert isinstance(choice, NoWheel) and said in choice.why and "\n" not in choice.why
    assert describe_wheel(choice).startswith("no prebuilt llama.cpp engine fits here: ")


def test_an_old_glibc_sends_a_radeon_with_rocm_to_the_vulkan_wheel() -> None:
    choice = choose_wheel(machine("rx7900xtx-24gb-128gb"), (2, 31), (7, 2))
    assert isinstance(choice, WheelChoice) and choice.flavour == "vulkan"


def test_the_dry_run_and_doctor_name_the_flavour_and_where_it_comes_from() -> None:
    choice = choose_wheel(machine("h200-141gb"), GLIBC)
    assert describe_wheel(choice) == (
        "`localv4 install xllamacpp` would install xllamacpp==2026.10.11549, the cu128 wheel from "
        f"{INDEX}/cu128 (driver 570.124.06 supports CUDA 12.8, below the 13.2 the cu132 wheel needs)")
    assert "the cpu wheel from PyPI" in describe_wheel(choose_wheel(machine("cpu-only-24gb"), GLIBC))


def test_an_unreachable_index_fails_in_one_line_with_the_way_out_and_leaves_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1:9 refuses at once: what a machine with no route to the publisher's index sees."""
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setattr(prebuilt, "find_prebuilt", lambda: None)
    choice = WheelChoice("cu128", "http://127.0.0.1:9/whl/cu128", "test")
    with pytest.raises(RuntimeFailure) as failed:
        prebuilt.install_wheel(choice, SilentReporter())
    said = str(failed.value)
    assert "\n" not in said and failed.value.exit_code == 1
    assert said.startswith("pip could not install xllamacpp==2026.10.11549 from http://127.0.0.1:9/whl/cu128")
    assert ("`pip download --no-deps xllamacpp==2026.10.11549 --index-url http://127.0.0.1:9/whl/cu128 "
            "-d xllamacpp-wheels`") in said
    assert "`localv4 install llama.cpp` builds llama-server here from source" in said
    engines = prebuilt.env_dir().parent  # only the install lock stays: no engine, no staging folder
    assert [p.name for p in engines.iterdir() if not p.name.endswith(".lock")] == []

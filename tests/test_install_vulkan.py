"""The Vulkan flavour of the native build, without building: its cmake arguments, the tools it
checks for, which machines get it, and which install `up` runs for a plan on an AMD GPU.

The build itself, served on Mesa's software Vulkan against the CPU build, is
scripts/vulkan_lavapipe.py (its output in docs/benchmarks.md: too slow for CI's budget)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.errors import RuntimeFailure, UsageError
from localv4.install import locate, plan as install_plan_module, tools
from localv4.install.estimates import BUILD_RUNS, slowdown
from localv4.install.layout import FLAVOURS, engines_root
from localv4.install.target import BuildTarget, cmake_args
from localv4.planning import machine as planner
from localv4.recipes import load_catalog
from localv4.serve.engines import llama_server
from support.machines import machine

RECIPE = load_catalog().recipe("deepseek-v4-flash")
AMD_RADEON = ("strix-halo-128gb", "strix-halo-128gb-gtt-raised", "rx7900xtx-24gb-128gb")


GLSLC_MISSING = f"{tools.GLSLC.name}: {tools.GLSLC.hint()}"  # as tools.vulkan_problem says it


def target(name: str, vulkan_missing: str = "", requested: str | None = None, has_nvcc: bool = True) -> BuildTarget:
    return BuildTarget.for_machine(machine(name), has_nvcc, requested, vulkan_missing)


# --- which flavour, and its arguments --------------------------------------------------------------


@pytest.mark.parametrize("name", AMD_RADEON)
def test_a_radeon_the_planner_uses_gets_the_vulkan_build_where_its_tools_are(name: str) -> None:
    assert target(name).flavour == "vulkan"  # nvcc on PATH changes nothing: no NVIDIA GPU here
    assert target(name, vulkan_missing=GLSLC_MISSING).flavour == "cpu"


def test_an_instinct_mi300x_has_no_vulkan_driver_so_no_vulkan_build() -> None:
    assert target("mi300x-192gb").flavour == "cpu"


@pytest.mark.parametrize(("name", "flavour"), [
    ("rtx4090-64gb", "cuda"), ("mac-studio-m4-max-128", "metal"), ("cpu-only-24gb", "cpu")])
def test_other_machines_keep_their_flavour_with_the_vulkan_tools_installed(name: str, flavour: str) -> None:
    assert target(name).flavour == flavour


def test_vulkan_cmake_args_turn_the_backend_on_and_the_others_off() -> None:
    args = cmake_args(target("strix-halo-128gb"))
    assert args[-3:] == ["-DGGML_METAL=OFF", "-DGGML_CUDA=OFF", "-DGGML_VULKAN=ON"]
    assert {"-DGGML_RPC=ON", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF"} <= set(args)


@pytest.mark.parametrize("name", ["rtx4090-64gb", "mac-studio-m4-max-128", "cpu-only-24gb"])
def test_other_flavours_args_do_not_name_vulkan_so_their_cached_builds_stay_valid(name: str) -> None:
    assert not any("VULKAN" in a for a in cmake_args(target(name)))


def test_vulkan_asked_for_without_its_tools_is_a_usage_error_naming_the_missing_one() -> None:
    with pytest.raises(UsageError, match="--vulkan needs glslc .*apt-get install glslc libvulkan-dev spirv-headers"):
        target("cpu-only-24gb", vulkan_missing=GLSLC_MISSING, requested="vulkan").flavour
    with pytest.raises(UsageError, match="not looked for"):  # a caller that did not look
        BuildTarget.for_machine(machine("cpu-only-24gb"), False, "vulkan").flavour
    assert target("cpu-only-24gb", requested="vulkan").flavour == "vulkan"  # lavapipe's case


def test_the_measured_vulkan_build_sits_inside_the_build_time_model() -> None:
    """Its recorded load (1.6 to 4.4) included its own 2 jobs, as the CPU build's did."""
    run = BUILD_RUNS["vulkan"]
    low, high = (run.cpu_s / run.jobs * slowdown(run.jobs, run.cores, load - run.jobs) for load in run.load)
    assert low <= run.wall_s <= high


def test_cli_vulkan_without_glslc_is_exit_2_with_the_way_to_get_it(tmp_path: Path) -> None:
    done = run_cli("install", "llama.cpp", "--vulkan", env={"PATH": str(tmp_path), "VULKAN_SDK": ""})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--vulkan needs glslc (the Vulkan shader compiler): sudo apt-get install glslc" in done.stderr


def test_cli_takes_one_flavour_only() -> None:
    done = run_cli("install", "--vulkan", "--cpu")
    assert done.returncode == 2 and "choose one of --metal, --cuda, --vulkan, --cpu" in done.stderr


# --- the build tools -----------------------------------------------------------------------------


@pytest.fixture()
def bare_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No glslc on PATH, no system prefixes, an empty VULKAN_SDK folder: returns that folder."""
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("VULKAN_SDK", str(sdk))
    monkeypatch.delenv("CMAKE_PREFIX_PATH", raising=False)
    monkeypatch.setattr(tools, "SYSTEM_PREFIXES", ())
    return sdk


def touch(folder: Path, *paths: str) -> None:
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text("")


def test_each_missing_vulkan_tool_is_named_in_turn(bare_system: Path) -> None:
    assert tools.missing_vulkan_tool() is tools.GLSLC
    touch(bare_system, "bin/glslc")
    assert tools.missing_vulkan_tool() is tools.VULKAN_DEV
    touch(bare_system, "include/vulkan/vulkan.h", "lib/x86_64-linux-gnu/libvulkan.so")  # Debian's layout
    assert tools.missing_vulkan_tool() is tools.SPIRV_HEADERS
    touch(bare_system, "share/cmake/SPIRV-Headers/SPIRV-HeadersConfig.cmake")
    assert tools.missing_vulkan_tool() is None and tools.vulkan_problem() == ""


def core_header(version: tuple[int, int, int]) -> str:
    """The two lines of vulkan_core.h that say its version, as Khronos writes them."""
    major, minor, patch = version
    return (f"#define VK_HEADER_VERSION {patch}\n"
            f"#define VK_HEADER_VERSION_COMPLETE VK_MAKE_API_VERSION(0, {major}, {minor}, VK_HEADER_VERSION)\n")


def test_headers_too_old_for_the_pinned_tree_are_named_with_the_way_to_newer_ones(
        bare_system: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(bare_system, "bin/glslc", "include/vulkan/vulkan.h", "lib/libvulkan.so",
          "share/cmake/SPIRV-Headers/SPIRV-HeadersConfig.cmake")
    (bare_system / "include/vulkan/vulkan_core.h").write_text(core_header((1, 3, 239)))  # Debian 12's
    assert tools.missing_vulkan_tool() is tools.OLD_VULKAN_HEADERS
    assert "Vulkan headers 1.3.272 or newer: Debian 12" in tools.vulkan_problem()
    newer = tmp_path / "headers"  # newer headers alone, named first, as CMake searches them first
    touch(newer, "include/vulkan/vulkan.h")
    (newer / "include/vulkan/vulkan_core.h").write_text(core_header((1, 4, 309)))
    monkeypatch.setenv("CMAKE_PREFIX_PATH", str(newer))
    assert tools.missing_vulkan_tool() is None


def test_headers_without_the_loader_to_link_are_not_enough(bare_system: Path) -> None:
    touch(bare_system, "bin/glslc", "include/vulkan/vulkan.h", "lib/x86_64-linux-gnu/libvulkan.so.1")
    assert tools.missing_vulkan_tool() is tools.VULKAN_DEV


def test_a_missing_vulkan_tool_stops_the_build_with_one_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "missing_tool", lambda flavour: tools.GLSLC if flavour == "vulkan" else None)
    with pytest.raises(RuntimeFailure) as err:
        tools.require_tools("vulkan")
    assert len(str(err.value).splitlines()) == 1
    assert "needs glslc (the Vulkan shader compiler)" in str(err.value)
    assert "sudo apt-get install glslc libvulkan-dev spirv-headers" in str(err.value)


@pytest.mark.parametrize(("log", "tool"), [
    ("Could NOT find Vulkan (missing: Vulkan_LIBRARY Vulkan_INCLUDE_DIR glslc)", tools.VULKAN_DEV),
    ("Could NOT find Vulkan (missing: glslc) (found version \"1.3.239\")", tools.GLSLC),
    ('Could not find a package configuration file provided by\n  "SPIRV-Headers" with any of', tools.SPIRV_HEADERS),
    ("ggml-vulkan.cpp:5214:21: error: \u2018LayerSettingEXT\u2019 is not a member of \u2018vk\u2019",
     tools.OLD_VULKAN_HEADERS),
])
def test_a_failed_vulkan_configure_names_the_missing_tool(log: str, tool: tools.Tool) -> None:
    assert tools.diagnose_log(log) is tool


def test_dry_run_on_a_radeon_without_the_tools_says_how_to_get_the_gpu_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install_plan_module, "vulkan_problem", lambda: GLSLC_MISSING)
    lines = install_plan_module.install_plan(machine("rx7900xtx-24gb-128gb"))
    assert "CPU only" in lines[0]
    assert any(f"an AMD GPU is here but a Vulkan build needs {GLSLC_MISSING}" in line
               and "localv4 install llama.cpp --vulkan" in line for line in lines)
    monkeypatch.setattr(install_plan_module, "vulkan_problem", lambda: "")
    assert "Vulkan" in install_plan_module.install_plan(machine("rx7900xtx-24gb-128gb"))[0]


# --- plans on an AMD GPU, and the install `up` runs for them ---------------------------------------


@pytest.mark.parametrize(("name", "placement"), [
    ("strix-halo-128gb-gtt-raised", "unified"), ("rx7900xtx-24gb-128gb", "hybrid"), ("mi300x-192gb", "gpu")])
def test_plans_on_an_amd_gpu_say_so(name: str, placement: str) -> None:
    p = planner.plan(machine(name), RECIPE)
    assert (p.placement, p.gpu_vendor) == (placement, "amd")


def test_the_advice_names_the_vulkan_build_for_a_radeon_and_hip_for_an_instinct() -> None:
    radeon = planner.plan(machine("strix-halo-128gb-gtt-raised"), RECIPE).advice
    instinct = planner.plan(machine("mi300x-192gb"), RECIPE).advice
    assert planner.AMD_VULKAN in radeon and planner.AMD_HIP not in radeon
    assert planner.AMD_HIP in instinct and planner.AMD_VULKAN not in instinct


def make_install(name: str) -> None:
    folder = engines_root() / name
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "llama-server").write_text("")  # listed only: never run here
    (folder / "build.json").write_text("{}")


def test_an_amd_plan_prefers_the_vulkan_install_and_any_other_plan_the_cpu_one() -> None:
    for name in ("0.3.36-cpu", "0.3.36-vulkan"):
        make_install(name)
    names = [p.parent.parent.name for p in locate.installed_servers()]
    assert names == ["0.3.36-cpu", "0.3.36-vulkan"]
    names = [p.parent.parent.name for p in locate.installed_servers(locate.flavour_order("amd"))]
    assert names == ["0.3.36-vulkan", "0.3.36-cpu"]
    assert locate.flavour_order("nvidia") == locate.flavour_order("") == FLAVOURS


def test_the_llama_server_backend_asks_for_the_plans_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr(locate, "find_llama_server", lambda flavours: asked.append(flavours))
    p = planner.plan(machine("rx7900xtx-24gb-128gb"), RECIPE)
    llama_server.LlamaServer().unavailable(p)
    llama_server.LlamaServer().unavailable(dataclasses.replace(p, placement="cpu", gpu_vendor=""))
    assert asked == [locate.flavour_order("amd"), FLAVOURS]


def test_a_vulkan_device_tells_a_builds_flavour_without_a_manifest() -> None:
    lavapipe = "Vulkan0: llvmpipe (LLVM 15.0.6, 256 bits) (2048 MiB, 2048 MiB free)"  # as --list-devices says
    assert locate._flavour_from_devices((lavapipe,)) == "vulkan"

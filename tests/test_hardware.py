"""Hardware detection: recorded real machines detect to the right values; live detection tells the truth."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from support.hidden_package import env_without
from support.machines import MACHINES, machine, sources

from localv4.errors import UsageError
from localv4.hardware import GIB, Hardware, LiveSources, RecordedSources, detect, load_profile
from localv4.hardware.bandwidth import apple_bandwidth, nvidia_bandwidth, ram_bandwidth
from localv4.hardware.record import record
from localv4.paths import hf_cache_dir

MIB = 1024**2


def variant(name: str, edit) -> Hardware:
    """Detect a recorded machine after EDIT changes its recorded data (a dropped tool, say)."""
    data = copy.deepcopy(sources(name).data)
    edit(data)
    return detect(RecordedSources(data))


# --- Apple Silicon -------------------------------------------------------------------------------

APPLE = {
    # name: chip, generation, tier, GPU cores, RAM GiB, wired limit bytes, source, setting MB, GB/s
    "mac-studio-m3-ultra-512": ("Apple M3 Ultra", "M3", "Ultra", 80, 512, 498216206336, "metal", 0, 819.0),
    "mac-studio-m4-max-128": ("Apple M4 Max", "M4", "Max", 40, 128, 96 * GIB, "metal", 0, 546.0),
    "mac-studio-m4-max-128-raised": ("Apple M4 Max", "M4", "Max", 40, 128, 120 * GIB, "metal", 122880, 546.0),
    "macbook-pro-m4-pro-48": ("Apple M4 Pro", "M4", "Pro", 20, 48, 36 * GIB, "estimate", 0, 273.0),
    "mac-mini-m4-16": ("Apple M4", "M4", "base", 10, 16, 11453251584, "metal", 0, 120.0),
}


@pytest.mark.parametrize("name", sorted(APPLE))
def test_recorded_macs_detect_chip_memory_and_gpu_limit(name: str) -> None:
    chip, generation, tier, gpu_cores, ram_gib, limit, source, setting, gbps = APPLE[name]
    hw = machine(name)
    a = hw.apple
    assert hw.kind == "apple" and hw.os == "darwin" and hw.arch == "arm64" and hw.gpus == ()
    assert (a.chip, a.generation, a.tier, a.gpu_cores) == (chip, generation, tier, gpu_cores)
    assert a.unified_memory == hw.ram_total == ram_gib * GIB
    assert (a.wired_limit, a.wired_limit_source, a.wired_limit_mb_setting) == (limit, source, setting)
    assert a.bandwidth_gbps == gbps
    assert hw.cpu_model == chip


def test_mac_mini_limit_is_two_thirds_of_ram_as_metal_reports_it() -> None:
    a = machine("mac-mini-m4-16").apple
    assert a.wired_limit / a.unified_memory == pytest.approx(2 / 3, abs=1e-5)


def test_metal_value_unavailable_falls_back_to_the_sysctl_setting() -> None:
    hw = variant("mac-studio-m4-max-128-raised", lambda d: d.update(metal_working_set=None))
    assert (hw.apple.wired_limit, hw.apple.wired_limit_source) == (122880 * MIB, "sysctl")
    assert hw.findings == ()


def test_estimated_limit_says_so_and_how_to_get_the_real_value() -> None:
    hw = machine("macbook-pro-m4-pro-48")
    [finding] = hw.findings
    assert finding.status == "warn" and "estimate" in finding.detail and "36.0 GiB" in finding.detail
    assert "pip install mlx" in finding.fix


def test_estimate_is_two_thirds_up_to_32_gib() -> None:
    hw = variant("mac-mini-m4-16", lambda d: d.update(metal_working_set=None))
    assert (hw.apple.wired_limit, hw.apple.wired_limit_source) == (16 * GIB * 2 // 3, "estimate")


def test_gpu_cores_come_from_ioreg_when_system_profiler_fails() -> None:
    hw = variant(
        "mac-mini-m4-16", lambda d: d["commands"].update({"system_profiler SPDisplaysDataType -json": None})
    )
    assert hw.apple.gpu_cores == 10


def test_a_wired_limit_that_starves_macos_is_a_warning_with_a_safer_value() -> None:
    hw = variant(
        "mac-studio-m4-max-128-raised",
        lambda d: d["commands"].update({"sysctl -n iogpu.wired_limit_mb": "131072\n"}),
    )
    [finding] = hw.findings
    assert finding.status == "warn" and "leaves macOS 0.0 GiB" in finding.detail
    assert finding.fix == "sudo sysctl iogpu.wired_limit_mb=124928"


def test_rosetta_python_is_flagged() -> None:
    def rosetta(d: dict) -> None:
        d["platform"]["machine"] = "x86_64"
        d["commands"]["sysctl -n sysctl.proc_translated"] = "1\n"

    hw = variant("mac-studio-m4-max-128", rosetta)
    assert hw.apple is not None and hw.arch == "x86_64"
    assert [f.check for f in hw.findings] == ["python-arch"]


def test_max_chip_bandwidth_depends_on_its_bin() -> None:
    assert apple_bandwidth("M3", "Max", 30, 14) == 300.0
    assert apple_bandwidth("M3", "Max", None, 16) == 400.0
    assert apple_bandwidth("M4", "Max", 32, 14) == 410.0
    assert apple_bandwidth("M5", "Max", 40, 18) == 614.0
    assert apple_bandwidth("M1", "base", 8, 8) == 68.25
    assert apple_bandwidth("M9", "base", 8, 8) is None


# --- NVIDIA --------------------------------------------------------------------------------------

NVIDIA = {
    # name: GPU count, name, MiB each, compute capability, GB/s, driver, CUDA, RAM GiB (approx)
    "rtx4090-64gb": (1, "NVIDIA GeForce RTX 4090", 24564, "8.9", 1008.0, "570.133.07", "12.8", 62.5),
    "rtx5090-192gb": (1, "NVIDIA GeForce RTX 5090", 32607, "12.0", 1792.0, "575.64.03", "12.9", 188.4),
    "2x-h100-80gb": (2, "NVIDIA H100 80GB HBM3", 81559, "9.0", 3350.0, "550.127.05", "12.4", 1007.6),
    "h200-141gb": (1, "NVIDIA H200", 143771, "9.0", 4800.0, "570.124.06", "12.8", 503.6),
}


@pytest.mark.parametrize("name", sorted(NVIDIA))
def test_recorded_nvidia_boxes_detect_each_gpu(name: str) -> None:
    count, gpu_name, mib, capability, gbps, driver, cuda, ram_gib = NVIDIA[name]
    hw = machine(name)
    assert hw.kind == "nvidia" and hw.apple is None and hw.findings == ()
    assert [g.index for g in hw.gpus] == list(range(count))
    for g in hw.gpus:
        assert (g.name, g.memory_total, g.compute_capability) == (gpu_name, mib * MIB, capability)
        assert (g.bandwidth_gbps, g.driver_version, g.cuda_version) == (gbps, driver, cuda)
        assert 0 < g.memory_free < g.memory_total
    assert hw.vram_total == count * mib * MIB
    assert hw.ram_total / GIB == pytest.approx(ram_gib, abs=0.1)


def test_nvml_and_nvidia_smi_agree_on_the_same_box() -> None:
    via_nvml = machine("2x-h100-80gb").gpus
    via_smi = variant("2x-h100-80gb", lambda d: d.update(nvml={"error": "Driver Not Loaded"})).gpus
    assert [(g.name, g.memory_total, g.memory_free, g.compute_capability) for g in via_smi] == [
        (g.name, g.memory_total, g.memory_free, g.compute_capability) for g in via_nvml
    ]
    assert via_smi[0].cuda_version is None  # no plain `nvidia-smi` header recorded there


def test_unknown_gpu_bandwidth_comes_from_bus_width_and_memory_clock() -> None:
    def rename(d: dict) -> None:
        d["nvml"]["devices"][0]["name"] = "NVIDIA Future GPU"

    assert variant("rtx5090-192gb", rename).gpus[0].bandwidth_gbps == 1792.1
    assert nvidia_bandwidth("NVIDIA Future GPU") is None


@pytest.mark.parametrize(
    ("gpu", "gbps"),
    [
        ("NVIDIA H100 PCIe", 2000.0),
        ("NVIDIA H100 NVL", 3900.0),
        ("NVIDIA H200 NVL", 4800.0),
        ("NVIDIA GH200 480GB", 4000.0),
        ("NVIDIA B200", 8000.0),
        ("NVIDIA GB10", 273.0),
        ("NVIDIA A100-SXM4-80GB", 2039.0),
        ("NVIDIA A100 80GB PCIe", 1935.0),
        ("NVIDIA A100-PCIE-40GB", 1555.0),
        ("NVIDIA L40S", 864.0),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 1792.0),
        ("NVIDIA RTX 6000 Ada Generation", 960.0),
        ("NVIDIA GeForce RTX 5070 Ti", 896.0),
        ("NVIDIA GeForce RTX 5070", 672.0),
        ("NVIDIA GeForce RTX 4060 Ti", 288.0),
        ("NVIDIA GeForce RTX 3090 Ti", 1008.0),
        ("NVIDIA GeForce RTX 3090", 936.0),
    ],
)
def test_bandwidth_table_tells_variants_apart(gpu: str, gbps: float) -> None:
    assert nvidia_bandwidth(gpu) == gbps


# --- NVIDIA with unified memory (DGX Spark / GB10, Jetson Thor) -----------------------------------


def test_dgx_spark_is_a_unified_memory_gpu_sized_by_system_ram() -> None:
    """NVML says NOT_SUPPORTED for its memory; localv4 must not call that "no GPU" or "reinstall"."""
    hw = machine("dgx-spark-gb10")
    [gpu] = hw.gpus
    assert hw.kind == "nvidia" and hw.nvidia_unified and gpu.unified_memory
    assert (gpu.name, gpu.compute_capability, gpu.bandwidth_gbps) == ("NVIDIA GB10", "12.1", 273.0)
    assert (gpu.memory_total, gpu.memory_free) == (hw.ram_total, hw.ram_available)
    assert "unified memory" in hw.summary() and "VRAM" not in hw.summary()
    [finding] = hw.findings
    assert finding.status == "ok" and "shares the system memory" in finding.detail
    assert not any("driver" in f.fix.lower() for f in hw.findings)


def test_dgx_spark_via_nvidia_smi_reads_its_na_memory_the_same_way() -> None:
    via_smi = variant("dgx-spark-gb10", lambda d: d.update(nvml={"error": "Not Supported"}))
    assert [(g.name, g.memory_total, g.memory_free, g.unified_memory) for g in via_smi.gpus] == [
        (g.name, g.memory_total, g.memory_free, g.unified_memory) for g in machine("dgx-spark-gb10").gpus]
    assert via_smi.gpus[0].cuda_version == "13.0"  # from the recorded nvidia-smi header


def test_jetson_thor_is_matched_by_name_too() -> None:
    def thor(d: dict) -> None:
        d["nvml"]["devices"][0]["name"] = "NVIDIA Thor"

    [gpu] = variant("dgx-spark-gb10", thor).gpus
    assert gpu.unified_memory and gpu.bandwidth_gbps == 273.0


def test_an_unknown_gpu_without_a_memory_figure_is_left_out_with_a_warning() -> None:
    def unknown(d: dict) -> None:
        d["nvml"]["devices"][0]["name"] = "NVIDIA Future SoC"

    hw = variant("dgx-spark-gb10", unknown)
    assert hw.gpus == () and hw.kind == "cpu"
    [finding] = hw.findings
    assert finding.status == "warn" and "reports no memory size" in finding.detail


# --- RAM bandwidth and CPU vector units ----------------------------------------------------------


def test_ram_probe_measures_without_numpy_quickly(tmp_path: Path) -> None:
    """After the README's install numpy is absent (not a dependency): the probe still measures."""
    hidden = {**os.environ, **env_without(tmp_path / "site", "numpy", "numpy")}
    code = ("import sys, time\n"
            "from localv4.hardware.ram_probe import measure_ram_bandwidth\n"
            "start = time.perf_counter()\n"
            "measured = measure_ram_bandwidth(4)\n"
            "print(measured.gbps, time.perf_counter() - start, 'numpy' in sys.modules, measured.source, sep='|')\n"
            "import numpy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=hidden, timeout=60)
    assert "No module named 'numpy'" in done.stderr  # the simulation holds
    gbps, took, numpy_loaded, source = done.stdout.strip().split("|")
    assert 0.5 < float(gbps) < 5000 and numpy_loaded == "False"
    assert float(took) < 10  # about 0.15 s on an idle machine (deadline 0.5 s); CI is shared
    assert source.startswith("measured: memmove copy, 4 threads, 2x 128 MiB, best of ")


def test_live_profile_carries_the_measured_bandwidth_and_a_recording_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "this-machine.json"
    record(path)
    recorded = RecordedSources.from_file(path)
    assert recorded.data["ram_bandwidth"]["gbps"] > 0
    replayed = detect(recorded)
    assert replayed.ram_bandwidth_gbps == recorded.data["ram_bandwidth"]["gbps"]
    assert replayed.ram_bandwidth_source.startswith("measured")


def test_hand_written_machines_say_so_and_where_their_bandwidth_is_from() -> None:
    for name in MACHINES:
        data = sources(name).data
        if "hand_written" in data:
            assert data["description"].startswith("HAND-WRITTEN")
            bw = data.get("ram_bandwidth")
            assert bw is None or bw["source"].startswith("spec")


@pytest.mark.parametrize(("name", "expected"), [
    ("rtx4090-64gb", ("AVX-512", "AVX-512 BF16", "AVX-512 VNNI", "AVX2")),  # Zen 4 7950X
    ("dgx-spark-gb10", ("SVE2", "SVE", "I8MM", "BF16", "NEON")),
])
def test_cpu_vector_units_come_from_cpuinfo(name: str, expected: tuple[str, ...]) -> None:
    assert machine(name).cpu_features == expected


def test_amx_is_reported_on_sapphire_rapids() -> None:
    assert {"AMX", "AMX-BF16", "AVX-512"} <= set(machine("2x-h100-80gb").cpu_features)


def test_cpu_only_box_without_driver_is_a_quiet_finding() -> None:
    hw = machine("cpu-only-24gb")
    assert hw.kind == "cpu" and hw.gpus == () and hw.apple is None
    assert [(f.check, f.status) for f in hw.findings] == [("nvidia", "ok")]
    assert "No NVIDIA GPU found" in hw.findings[0].detail


def test_nvidia_card_without_driver_says_install_the_driver() -> None:
    def add_card(d: dict) -> None:
        d["files"]["/proc/bus/pci/devices"] += "0100\t10de2684\t0\t" + "\t".join(["0"] * 14) + "\t\n"

    [finding] = variant("cpu-only-24gb", add_card).findings
    assert finding.status == "warn" and "no NVIDIA driver" in finding.detail
    assert "Install the NVIDIA driver" in finding.fix


def test_broken_driver_is_not_mistaken_for_no_gpu() -> None:
    def break_driver(d: dict) -> None:
        d["nvml"] = {"error": "Driver/library version mismatch"}
        d["commands"] = {k: None for k in d["commands"]}

    [finding] = variant("rtx4090-64gb", break_driver).findings
    assert finding.status == "warn" and "Driver/library version mismatch" in finding.detail
    assert "Reboot" in finding.fix


def test_every_recorded_machine_has_the_common_facts() -> None:
    assert len(MACHINES) >= 10
    for name in MACHINES:
        hw = machine(name)
        assert hw.os in ("linux", "darwin") and hw.arch in ("x86_64", "arm64"), name
        assert hw.cpu_model and 0 < hw.cpu_cores <= hw.cpu_threads
        assert 0 < hw.ram_available < hw.ram_total and hw.disk_free > 0 and hw.disk_path
        assert re.fullmatch(r"3\.\d+\.\d+", hw.python_version)


# --- This machine --------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with /proc")
def test_live_detection_reports_this_machines_ram_and_cpu() -> None:
    hw = detect()
    meminfo = Path("/proc/meminfo").read_text()
    mem_total_kb = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1))
    assert hw.ram_total == mem_total_kb * 1024
    assert 0 < hw.ram_available <= hw.ram_total
    assert hw.cpu_threads == len(os.sched_getaffinity(0))
    cpuinfo = Path("/proc/cpuinfo").read_text()
    assert hw.cpu_model == re.search(r"model name\s*:\s*(.+)", cpuinfo).group(1).strip()
    assert hw.python_version == "{}.{}.{}".format(*sys.version_info[:3])
    assert hw.disk_path == str(hf_cache_dir()) and hw.disk_free > 0
    assert hw.os == "linux"


def test_live_detection_without_nvidia_is_a_finding_not_a_crash() -> None:
    if LiveSources().has_tool("nvidia-smi"):
        pytest.skip("this machine has an NVIDIA driver")
    hw = detect()
    assert hw.gpus == () and [f.check for f in hw.findings] == ["nvidia"]


def test_a_recording_of_this_machine_replays_to_the_same_hardware(tmp_path: Path) -> None:
    path = tmp_path / "this-machine.json"
    record(path, "the test machine")
    recorded = RecordedSources.from_file(path)
    assert recorded.data["description"] == "the test machine"
    assert "/proc/cpuinfo" in recorded.data["files"] and "nvml" in recorded.data
    replayed = detect(recorded)
    live = detect()
    assert replayed.ram_total == live.ram_total and replayed.cpu_model == live.cpu_model
    assert (replayed.gpus, replayed.findings, replayed.cpu_threads) == (live.gpus, live.findings, live.cpu_threads)


# --- Profiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MACHINES)
def test_profile_round_trips_through_json(name: str, tmp_path: Path) -> None:
    hw = machine(name)
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(hw.to_dict()))
    assert load_profile(path) == hw
    path.write_text(json.dumps({"hardware": hw.to_dict(), "checks": []}))
    assert load_profile(path) == hw


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Cannot read hardware profile"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"os": "linux"}', "is invalid"),
        ('{"hardware": {"os": "linux", "ram_total": -1}}', "is invalid"),
    ],
)
def test_bad_profile_is_a_one_line_usage_error(content: str | None, message: str, tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as err:
        load_profile(path)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's files are read on Linux only")
def test_linux_memory_and_cores_match_what_psutil_reads_here() -> None:
    """`plan` reads /proc/meminfo and sysfs instead of importing psutil: the same figures."""
    import psutil

    total, available = LiveSources().memory()
    facts = LiveSources().platform()
    assert total == psutil.virtual_memory().total
    assert abs(available - psutil.virtual_memory().available) < 256 * 2**20  # other processes move it
    assert facts.physical_cores == min(psutil.cpu_count(logical=False), facts.logical_cores)
    assert "psutil" not in subprocess.run(
        [sys.executable, "-c", "import sys; from localv4.hardware import detect; detect(); print(*sys.modules)"],
        capture_output=True, text=True, check=True).stdout.split()

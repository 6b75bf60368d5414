"""Which xllamacpp wheel fits a machine: a pure function of its recorded facts, so it is tested on
recorded machines (tests/machines/*.json), since the publisher's GPU index cannot be reached from here.

The facts are xllamacpp's README (github.com/xorbitsai/xllamacpp, read 2026-12-07):
- CPU and macOS (Metal): PyPI.
- CUDA: <INDEX>/cu132 (CUDA 13.2) and <INDEX>/cu128 (CUDA 12.8); Linux needs glibc >= 2.35. The
  13.2 wheel dropped Maxwell/Pascal/Volta (floor sm_75), and its PTX JIT needs a driver that
  supports CUDA 13.2 (an R580 driver reporting 13.0 fails on PTX): older drivers and GPUs get
  cu128 (which carries PTX for sm_50/61/70); a driver below 12.8 gets no CUDA wheel.
- ROCm: <INDEX>/rocm-7.2.4 (gfx1030-1032, gfx1100-1102, gfx1150, gfx1151, gfx1200/1201, gfx950)
  needs a ROCm 7.x runtime; <INDEX>/rocm-6.4.1 covers RDNA2 and RDNA3 only; glibc >= 2.35.
  The MI300X (gfx942) is in neither list.
- Vulkan: <INDEX>/vulkan (Linux, Windows; needs the Vulkan loader and a driver).
"""

from __future__ import annotations

from dataclasses import dataclass

from localv4.hardware.amd import runs_vulkan
from localv4.hardware.profile import AmdGPU, Hardware
from localv4.pins import XLLAMACPP_REQUIREMENT

INDEX = "https://xorbitsai.github.io/xllamacpp/whl"
GLIBC_FLOOR = (2, 35)  # the CUDA and ROCm wheels' Linux floor
CUDA_FLOOR = (12, 8)  # the oldest CUDA wheel
CUDA_13 = (13, 2)  # the driver the cu132 wheel's JIT needs
CU132_SM_FLOOR = (7, 5)
CU128_SM_FLOOR = (5, 0)  # its oldest PTX
_WHEEL_PLATFORMS = {("linux", "x86_64"), ("linux", "amd64"), ("linux", "aarch64"), ("linux", "arm64"),
                    ("windows", "amd64"), ("windows", "x86_64")}
_ROCM7_GFX = frozenset({"gfx1030", "gfx1031", "gfx1032", "gfx1100", "gfx1101", "gfx1102", "gfx1150",
                        "gfx1151", "gfx1200", "gfx1201", "gfx950"})
_ROCM6_GFX = frozenset({"gfx1030", "gfx1031", "gfx1032", "gfx1100", "gfx1101", "gfx1102"})
# PCI device id -> gfx target (the amdgpu driver names the id, not the target), for the common
# cards; an id not here gets the Vulkan wheel.
_GFX = {"0x73bf": "gfx1030", "0x73df": "gfx1031", "0x73ff": "gfx1032", "0x744c": "gfx1100",
        "0x747e": "gfx1101", "0x7480": "gfx1102", "0x150e": "gfx1150", "0x1586": "gfx1151",
        "0x7590": "gfx1200", "0x7550": "gfx1201", "0x74a1": "gfx942", "0x74a5": "gfx942"}
CUDA_BUILD = "`localv4 install llama.cpp --cuda` builds llama-server here from source (needs nvcc)"
VULKAN_BUILD = "`localv4 install llama.cpp --vulkan` builds llama-server here from source"
SOURCE_BUILD = "`localv4 install llama.cpp` builds llama-server here from source"


@dataclass(frozen=True)
class WheelChoice:
    """The xllamacpp wheel to install here, where it comes from, and why (the line a user sees)."""

    flavour: str  # "cpu" | "metal" | "cu128" | "cu132" | "rocm-7.2.4" | "rocm-6.4.1" | "vulkan"
    index_url: str | None  # None: PyPI
    why: str

    @property
    def source(self) -> str:
        return self.index_url or "PyPI"

    @property
    def pip_args(self) -> tuple[str, ...]:
        return ("--index-url", self.index_url) if self.index_url else ()

    def describe(self) -> str:
        return f"{XLLAMACPP_REQUIREMENT}, the {self.flavour} wheel from {self.source} ({self.why})"

    def download_command(self) -> str:
        """What to run on a connected machine of the same kind when this one cannot reach the index."""
        return " ".join(("pip download --no-deps", XLLAMACPP_REQUIREMENT, *self.pip_args, "-d xllamacpp-wheels"))


@dataclass(frozen=True)
class NoWheel:
    """No prebuilt wheel fits: why, and the way out, in one line."""

    why: str


def choose_wheel(hw: Hardware, glibc: tuple[int, int] | None,
                 rocm: tuple[int, int] | None = None) -> WheelChoice | NoWheel:
    """The wheel for this machine's GPU (NVIDIA, then AMD), else PyPI's CPU or Metal wheel.
    `glibc`: the C library's version on Linux (None: not glibc); `rocm`: the ROCm runtime's
    version where one is installed (None: none seen, so an AMD GPU gets the Vulkan wheel)."""
    if hw.gpus:
        return _nvidia(hw, glibc)
    amd = _amd_gpu(hw)
    if amd is not None:
        return _amd(hw, amd, glibc, rocm)
    flavour = pypi_flavour(hw.os, hw.arch)
    if flavour is None:
        return NoWheel(f"PyPI has no xllamacpp wheel for {hw.os} {hw.arch}: {SOURCE_BUILD}")
    gpu = "Apple's GPU through Metal" if flavour == "metal" else "no GPU it can use"
    return WheelChoice(flavour, None, f"{gpu}; PyPI's wheel")


def describe_wheel(choice: WheelChoice | NoWheel) -> str:
    """What `localv4 install xllamacpp` would install and from where, or why nothing fits
    (`install --dry-run` and `doctor` say it)."""
    if isinstance(choice, NoWheel):
        return f"no prebuilt llama.cpp engine fits here: {choice.why}"
    return f"`localv4 install xllamacpp` would install {choice.describe()}"


def pypi_flavour(os_name: str, arch: str) -> str | None:
    """The flavour of PyPI's wheel for an OS and CPU as `Hardware` names them, or None where PyPI has none."""
    os_name, arch = os_name.lower(), arch.lower()
    if os_name == "darwin":
        return "metal" if arch == "arm64" else "cpu"
    return "cpu" if (os_name, arch) in _WHEEL_PLATFORMS else None


def _version(text: str | None) -> tuple[int, int] | None:
    try:
        major, minor = (text or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def _dotted(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _index_problem(hw: Hardware, glibc: tuple[int, int] | None, kind: str, way_out: str) -> NoWheel | None:
    """The publisher's GPU wheels are for Linux and Windows on x86_64/aarch64; its README sets the
    CUDA and ROCm wheels' Linux floor at glibc 2.35 (none for Vulkan's)."""
    if (hw.os.lower(), hw.arch.lower()) not in _WHEEL_PLATFORMS:
        return NoWheel(f"xllamacpp has no {kind} wheel for {hw.os} {hw.arch}: {way_out}")
    if kind != "Vulkan" and hw.os.lower() == "linux" and (glibc is None or glibc < GLIBC_FLOOR):
        found = f"glibc {_dotted(glibc)}" if glibc else "no glibc"
        return NoWheel(f"xllamacpp's {kind} wheels need glibc {_dotted(GLIBC_FLOOR)} or newer and this "
                       f"machine has {found}: {way_out}")
    return None


def _nvidia(hw: Hardware, glibc: tuple[int, int] | None) -> WheelChoice | NoWheel:
    """The CUDA wheel the driver can run: the oldest CUDA version and GPU generation decide."""
    problem = _index_problem(hw, glibc, "CUDA", CUDA_BUILD)
    if problem:
        return problem
    cudas = [_version(g.cuda_version) for g in hw.gpus]
    sms = [_version(g.compute_capability) for g in hw.gpus]
    if None in cudas:
        return NoWheel(f"the NVIDIA driver's CUDA version is unknown (`nvidia-smi` shows it), so no CUDA "
                       f"wheel can be chosen: {CUDA_BUILD}")
    cuda, driver = min(cudas), hw.gpus[0].driver_version or "?"
    if cuda < CUDA_FLOOR:
        return NoWheel(f"NVIDIA driver {driver} supports CUDA {_dotted(cuda)}, and xllamacpp's oldest CUDA "
                       f"wheel needs {_dotted(CUDA_FLOOR)}: update the driver (R570 or newer), or {CUDA_BUILD}")
    sm = min((s for s in sms if s), default=None)
    if sm is not None and sm < CU128_SM_FLOOR:
        return NoWheel(f"the GPU is sm_{sm[0]}{sm[1]}, older than any xllamacpp CUDA wheel runs: {CUDA_BUILD}")
    gpu = f"sm_{sm[0]}{sm[1]}" if sm else "sm_?"
    if cuda >= CUDA_13 and sm is not None and sm >= CU132_SM_FLOOR:
        return WheelChoice("cu132", f"{INDEX}/cu132", f"driver {driver} supports CUDA {_dotted(cuda)}, GPU {gpu}")
    reason = (f"the GPU is {gpu}, below the CUDA 13.2 wheel's sm_75" if cuda >= CUDA_13
              else f"driver {driver} supports CUDA {_dotted(cuda)}, below the 13.2 the cu132 wheel needs")
    return WheelChoice("cu128", f"{INDEX}/cu128", reason)


def _amd_gpu(hw: Hardware) -> AmdGPU | None:
    """The AMD GPU the planner uses: the APU where all are APUs, else the first card with VRAM."""
    used = (hw.apu,) if hw.apu else hw.discrete_gpus
    return next((g for g in used if isinstance(g, AmdGPU)), None)


def _amd(hw: Hardware, gpu: AmdGPU, glibc: tuple[int, int] | None,
         rocm: tuple[int, int] | None) -> WheelChoice | NoWheel:
    """ROCm where its runtime is here and the wheel covers the GPU's target, else Vulkan."""
    gfx = _GFX.get(gpu.device_id)
    wheel = ("rocm-7.2.4" if rocm and rocm[0] >= 7 and gfx in _ROCM7_GFX else
             "rocm-6.4.1" if rocm and rocm[0] == 6 and gfx in _ROCM6_GFX else None)
    if wheel and not _index_problem(hw, glibc, "ROCm", ""):
        return WheelChoice(wheel, f"{INDEX}/{wheel}", f"{gpu.name} ({gfx}), ROCm {_dotted(rocm)} runtime here")
    if not runs_vulkan(gpu):
        return NoWheel(f"{gpu.name} ({gfx or gpu.device_id}) is in neither xllamacpp ROCm wheel's list and no "
                       "Vulkan driver runs it: build llama.cpp with HIP yourself (GGML_HIP=ON, llama.cpp's "
                       "docs/build.md) and put its llama-server on PATH")
    problem = _index_problem(hw, glibc, "Vulkan", VULKAN_BUILD)
    if problem:
        return problem
    runtime = (f"ROCm {_dotted(rocm)}'s wheel does not cover {gfx or gpu.device_id}" if rocm
               else "no ROCm runtime seen")
    return WheelChoice("vulkan", f"{INDEX}/vulkan", f"{gpu.name}, {runtime}; needs the Vulkan loader and driver")

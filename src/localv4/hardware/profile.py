"""The hardware profile: plain values that the planner reads and `doctor --json` saves.

A profile round-trips through JSON (`Hardware.to_dict` / `Hardware.from_dict`), so any machine
can be planned from anywhere with `localv4 plan --hardware PROFILE.json`.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

GIB = 1024**3
GB = 1000**3


@dataclass(frozen=True)
class Finding:
    """Something a probe noticed that the user may need to act on (a missing driver, say)."""

    check: str
    status: str  # "ok" | "warn" | "fail"
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class NvidiaGPU:
    index: int
    name: str
    memory_total: int  # bytes
    memory_free: int | None  # bytes; None when unknown (a saved profile, say)
    compute_capability: str | None  # "9.0"
    bandwidth_gbps: float | None
    driver_version: str | None = None
    cuda_version: str | None = None
    unified_memory: bool = False  # GB10 / Thor: no VRAM of its own; memory_* are the system RAM's


@dataclass(frozen=True)
class AmdGPU:
    """An AMD GPU as the amdgpu driver reports it. An APU (Strix Halo) has a small VRAM carve-out
    and maps the system RAM through the GTT, which the kernel caps (`ttm.pages_limit`)."""

    index: int  # the DRM card: /sys/class/drm/card<index>
    name: str  # "AMD Radeon RX 7900 XTX", from libdrm's amdgpu.ids or the ROCm tools
    device_id: str  # "0x744c"
    memory_total: int  # VRAM bytes (an APU's: its carve-out)
    memory_free: int | None  # VRAM bytes
    gtt_total: int  # bytes of system RAM the GPU may map, as the kernel caps it
    apu: bool  # shares the system RAM: planned as unified memory
    bandwidth_gbps: float | None


@dataclass(frozen=True)
class AppleSilicon:
    chip: str  # "Apple M4 Max"
    generation: str | None  # "M4"
    tier: str  # "base" | "Pro" | "Max" | "Ultra"
    gpu_cores: int | None
    unified_memory: int  # bytes
    wired_limit: int  # bytes the GPU may use now (Metal's recommended working set)
    wired_limit_source: str  # "metal" | "sysctl" | "estimate"
    wired_limit_mb_setting: int  # iogpu.wired_limit_mb as set; 0 = the macOS default
    bandwidth_gbps: float | None


@dataclass(frozen=True)
class Hardware:
    os: str  # "linux" | "darwin" | "windows"
    os_version: str
    arch: str  # "x86_64" | "arm64"
    cpu_model: str
    cpu_cores: int
    ram_total: int
    ram_available: int
    disk_free: int  # bytes free where models are stored
    disk_path: str
    python_version: str
    apple: AppleSilicon | None = None
    gpus: tuple[NvidiaGPU, ...] = ()
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    cpu_threads: int | None = None  # logical CPUs usable (like `nproc`); cpu_cores counts physical ones
    cpu_features: tuple[str, ...] = ()  # vector units: "AVX-512", "AMX", "SVE", ...
    ram_bandwidth_gbps: float | None = None  # None: not measured (a profile saved before the probe)
    ram_bandwidth_source: str = ""  # "measured: memmove copy, ..." or where a hand-written figure is from
    amd_gpus: tuple[AmdGPU, ...] = ()

    @property
    def vram_total(self) -> int:
        return sum(g.memory_total for g in self.discrete_gpus)

    @property
    def discrete_gpus(self) -> tuple[NvidiaGPU | AmdGPU, ...]:
        """GPUs with memory of their own: the planner fills them first, then RAM (hybrid)."""
        return (*(g for g in self.gpus if not g.unified_memory), *(g for g in self.amd_gpus if not g.apu))

    @property
    def unified_gpus(self) -> tuple[NvidiaGPU | AmdGPU, ...]:
        """GPUs that share the system RAM (DGX Spark, Jetson Thor, an AMD APU)."""
        return (*(g for g in self.gpus if g.unified_memory), *(g for g in self.amd_gpus if g.apu))

    @property
    def nvidia_unified(self) -> bool:
        """An NVIDIA GPU that shares the system RAM (DGX Spark, Jetson Thor): planned like a Mac."""
        return any(g.unified_memory for g in self.gpus)

    @property
    def apu(self) -> AmdGPU | None:
        """The AMD APU the planner uses: only where no other GPU is here."""
        return self.amd_gpus[0] if self.kind == "amd-apu" else None

    @property
    def gpu_shares_ram(self) -> bool:
        """The GPU the planner uses shares the system RAM (not a Mac's): planned like a Mac."""
        return self.nvidia_unified or self.kind == "amd-apu"

    @property
    def kind(self) -> str:
        """"apple", "nvidia", "amd" (cards with VRAM), "amd-apu" or "cpu": which budget rules apply."""
        if self.apple is not None:
            return "apple"
        if self.gpus:
            return "nvidia"
        if self.amd_gpus:
            return "amd-apu" if all(g.apu for g in self.amd_gpus) else "amd"
        return "cpu"

    @property
    def gpu_vendor(self) -> str:
        """"apple", "nvidia" or "amd": whose GPU the planner uses here; "" for none."""
        return {"amd-apu": "amd", "cpu": ""}.get(self.kind, self.kind)

    def summary(self) -> str:
        ram = f"{self.ram_total / GIB:.0f} GiB RAM"
        if self.apple:
            a = self.apple
            return f"{a.chip}, {a.unified_memory / GIB:.0f} GiB unified memory"
        if self.apu:
            return f"{self.apu.name}, {(self.ram_total + self.apu.memory_total) / GIB:.0f} GiB unified memory"
        cards = self.discrete_gpus or self.gpus
        if cards:
            names = {g.name for g in cards}
            gpus = ", ".join(
                f"{sum(1 for g in cards if g.name == n)}x {n}" for n in sorted(names)
            )
            if self.nvidia_unified:
                return f"{gpus}, {self.ram_total / GIB:.0f} GiB unified memory"
            return f"{gpus} ({self.vram_total / GIB:.0f} GiB VRAM), {ram}"
        return f"{self.cpu_model}, {ram}, no GPU"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hardware:
        """Build from a saved profile; raises ValueError naming what is missing or wrong."""
        missing: list[str] = []  # every absent field, the nested ones too, named at once
        values = _known_fields(cls, data, "", missing)
        apple = values.get("apple")
        apple = _known_fields(AppleSilicon, apple, "apple.", missing) if apple else None
        gpus = [_known_fields(NvidiaGPU, g, f"gpus[{i}].", missing)
                for i, g in enumerate(_listed(values.get("gpus"), "gpus"))]
        amd = [_known_fields(AmdGPU, g, f"amd_gpus[{i}].", missing)
               for i, g in enumerate(_listed(values.get("amd_gpus"), "amd_gpus"))]
        findings = [_known_fields(Finding, f, f"findings[{i}].", missing)
                    for i, f in enumerate(_listed(values.get("findings"), "findings"))]
        if missing:
            raise ValueError(f"missing field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        values["apple"] = AppleSilicon(**apple) if apple else None
        values["gpus"] = tuple(NvidiaGPU(**g) for g in gpus)
        values["amd_gpus"] = tuple(AmdGPU(**g) for g in amd)
        values["findings"] = tuple(Finding(**f) for f in findings)
        values["cpu_features"] = tuple(values.get("cpu_features") or ())
        hw = cls(**values)
        for name in ("ram_total", "ram_available", "disk_free", "cpu_cores"):
            if not isinstance(getattr(hw, name), int) or getattr(hw, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        return hw


def _listed(value: Any, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list")
    return list(value)


def _known_fields(cls: type, data: Any, prefix: str, missing: list[str]) -> dict[str, Any]:
    """The fields of `cls` found in `data`; the required ones absent are added to `missing` (a
    person fixes a profile by those names, not by a constructor's argument list)."""
    if not isinstance(data, dict):
        raise ValueError(f"{prefix.rstrip('.') or 'the profile'} must be a JSON object")
    known = {f.name: f for f in fields(cls)}
    missing += [f"{prefix}{name}" for name, f in known.items()
                if name not in data and f.default is MISSING and f.default_factory is MISSING]
    return {k: v for k, v in data.items() if k in known}

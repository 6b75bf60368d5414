"""`localv4 doctor`: what this machine is, what it can run, and the exact fix for each problem.

Every check is a small function returning a `Check`; none of them may raise, because a missing
driver or tool is a finding to report, not a crash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from localv4.errors import LocalV4Error
from localv4.fixes import pip_install
from localv4.hardware.bandwidth import ram_bandwidth
from localv4.hardware.profile import GB, GIB, Hardware
from localv4.planning.values import NothingFits, Plan
from localv4.recipes import Recipe, Variant

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail; "fail" blocks running the plan
    detail: str
    fix: str = ""


@dataclass
class DoctorReport:
    hardware: Hardware
    checks: list[Check] = field(default_factory=list)
    plan: Plan | None = None
    nothing_fits: NothingFits | None = None

    @property
    def can_run(self) -> bool:
        return self.plan is not None and all(c.status != FAIL for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "can_run": self.can_run,
            "hardware": self.hardware.to_dict(),
            "checks": [asdict(c) for c in self.checks],
            "plan": self.plan.to_dict() if self.plan else None,
            "nothing_fits": self.nothing_fits.to_dict() if self.nothing_fits else None,
        }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_hardware(hw: Hardware) -> list[Check]:
    checks = [Check("hardware", OK, hw.summary())]
    if hw.apple:
        a = hw.apple
        source = {"metal": "reported by Metal", "sysctl": "from iogpu.wired_limit_mb",
                  "estimate": "estimated"}[a.wired_limit_source]
        checks.append(Check("GPU memory limit", WARN if a.wired_limit_source == "estimate" else OK,
                            f"{a.wired_limit / GIB:.1f} GiB of {a.unified_memory / GIB:.0f} GiB ({source}); "
                            f"{_bandwidth(a.bandwidth_gbps)}",
                            f"{pip_install('mlx')}  (lets localv4 query Metal)" if a.wired_limit_source == "estimate" else ""))
    for g in hw.gpus:
        checks.append(Check(f"GPU {g.index}", OK,
                            f"{g.name}, {g.memory_total / GIB:.1f} GiB, compute {g.compute_capability or '?'}, "
                            f"driver {g.driver_version or '?'}, CUDA {g.cuda_version or '?'}; "
                            f"{_bandwidth(g.bandwidth_gbps)}"))
    for a in hw.amd_gpus:
        memory = (f"shares the RAM: VRAM {a.memory_total / GIB:.1f} GiB + GTT {a.gtt_total / GIB:.1f} GiB "
                  "(the kernel's cap: ttm.pages_limit)"
                  if a.apu else f"{a.memory_total / GIB:.1f} GiB VRAM")
        checks.append(Check(f"AMD GPU card{a.index}", OK,
                            f"{a.name} ({a.device_id}), {memory}; {_bandwidth(a.bandwidth_gbps)}"))
    checks.append(_ram_bandwidth_check(hw))
    checks.append(Check("CPU vector units", OK, ", ".join(hw.cpu_features) or "none reported"))
    checks.extend(Check(f.check, f.status, f.detail, f.fix) for f in hw.findings)
    return checks


def _bandwidth(gbps: float | None) -> str:
    """A GPU's memory bandwidth as the speed estimate uses it: the chip's published spec (by name,
    else NVML's bus width and memory clock)."""
    return f"memory bandwidth {gbps:g} GB/s (spec)" if gbps else "memory bandwidth unknown (no speed estimate)"


def _ram_bandwidth_check(hw: Hardware) -> Check:
    """The figure CPU and hybrid speed estimates use; unmeasured, the platform's spec stands in."""
    if hw.ram_bandwidth_gbps is None:
        gbps, known = ram_bandwidth(hw)
        return Check("RAM bandwidth", WARN, f"the probe could not measure it: speed estimates off the GPU use "
                     f"{gbps:g} GB/s ({known})")
    return Check("RAM bandwidth", OK, f"{hw.ram_bandwidth_gbps:g} GB/s ({hw.ram_bandwidth_source})")


def check_llama_cpp_python(hw: Hardware) -> Check:
    """The optional Python engine: a fallback for when no native llama-server is installed."""
    from localv4.pins import LLAMA_CPP_PYTHON_VERSIONS, PYTHON_ENGINE_REQUIREMENT

    version = _version("llama-cpp-python")
    if version is None:
        return Check("llama-cpp-python", OK, "not installed (optional: the native llama-server is the default engine)",
                     pip_install(PYTHON_ENGINE_REQUIREMENT))
    try:
        import llama_cpp

        offload = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as err:  # a broken native library must not crash the doctor
        return Check("llama-cpp-python", WARN, f"{version}, cannot be loaded ({err})",
                     pip_install(PYTHON_ENGINE_REQUIREMENT, pip_args="--force-reinstall"))
    from packaging.specifiers import SpecifierSet

    if version not in SpecifierSet(LLAMA_CPP_PYTHON_VERSIONS):
        return Check("llama-cpp-python", WARN, f"{version}: deepseek4 needs {LLAMA_CPP_PYTHON_VERSIONS}",
                     pip_install(PYTHON_ENGINE_REQUIREMENT))
    gpu = hw.kind in ("apple", "nvidia")
    if gpu and not offload:
        return Check("llama-cpp-python", WARN, f"{version}, CPU-only build (no GPU offload)",
                     "localv4 install llama.cpp  (rebuilds it for your GPU)")
    return Check("llama-cpp-python", OK, f"{version}, GPU offload {'yes' if offload else 'no'}")


def check_llama_server(recipe: Recipe) -> Check:
    from localv4.install.locate import find_llama_server

    binary = find_llama_server()
    if binary is None:
        return Check("llama-server", WARN, "not found",
                     "localv4 install llama.cpp  (builds the native server: needed for hybrid placement)")
    arch = recipe.model.arch_llama_cpp
    if not binary.knows_arch(arch):
        return Check("llama-server", FAIL, f"{binary.path}: {binary.version}, does not know '{arch}'",
                     "localv4 install llama.cpp --force")
    return Check("llama-server", OK, f"{binary.path}: {binary.version}, knows {arch}")


def check_prebuilt(hw: Hardware) -> Check:
    """The prebuilt llama.cpp engine: its release, flavour, llama.cpp build and the devices it sees,
    so a wheel that cannot see the GPU shows before a 90 GB download."""
    from localv4.install.prebuilt import MEASURED_VS_NATIVE, devices, find_prebuilt, wheel_here
    from localv4.install.wheels import WheelChoice, describe_wheel

    engine = find_prebuilt()
    if engine is None:
        choice = wheel_here(hw)
        return Check("xllamacpp", OK,
                     f"not installed (the prebuilt llama.cpp engine, no compile); {describe_wheel(choice)}",
                     "localv4 install xllamacpp" if isinstance(choice, WheelChoice) else "")
    seen = devices(engine)
    detail = (f"{engine.version} (llama.cpp b{engine.llama_cpp_build}), {engine.flavour} wheel, {engine.where}; "
              f"sees {', '.join(f'{name} ({about})' for name, about, _ in seen) or 'no device'}; {MEASURED_VS_NATIVE}")
    if hw.discrete_gpus and not any(kind.endswith(("GPU", "IGPU")) for _, _, kind in seen):
        return Check("xllamacpp", WARN, f"{detail}; it does not see this machine's GPU",
                     "localv4 install llama.cpp  (builds llama-server for the GPU)")
    return Check("xllamacpp", OK, detail)


def check_mlx(hw: Hardware) -> Check:
    versions = {d: _version(d) for d in ("mlx", "mlx-lm", "mlx-vlm")}
    found = ", ".join(f"{d} {v}" for d, v in versions.items() if v) or "not installed"
    if hw.apple is None:
        return Check("mlx", OK, f"{found} (MLX engines are for Apple Silicon)")
    from packaging.specifiers import SpecifierSet

    from localv4.pins import MLX_VLM_VERSIONS

    if not versions["mlx-vlm"] or versions["mlx-vlm"] not in SpecifierSet(MLX_VLM_VERSIONS):
        return Check("mlx", WARN, f"{found}; deepseek_v4 needs mlx-vlm {MLX_VLM_VERSIONS}",
                     "localv4 install mlx")
    return Check("mlx", OK, found)


def check_install(hw: Hardware) -> Check:
    """What `localv4 install` would do here, so the user knows before running it."""
    from localv4.install import install_plan

    return Check("install", OK, "; ".join(install_plan(hw)), "localv4 install")


def check_disk(hw: Hardware, variant: Variant | None) -> Check:
    """Room for what is still to download of the planned variant (the weights stage counts it),
    in a cache that can take files at all (the free space of a disk it cannot be on says nothing)."""
    from localv4.storage import why_unwritable

    why = why_unwritable(Path(hw.disk_path))
    if why:
        return Check("disk", FAIL, f"the Hugging Face cache {hw.disk_path} cannot take weights: {why}",
                     "set HF_HOME to a folder you can write to")
    free = f"{hw.disk_free / GB:.0f} GB free at {hw.disk_path}"
    if variant is None:
        return Check("disk", OK, free)
    from localv4.weights import missing_bytes

    need = missing_bytes(variant)  # a variant already (partly) pulled needs only the rest
    needs = f"{variant.id} needs {need / GB:.0f} GB more" if need else f"{variant.id} is on disk"
    if hw.disk_free < need:
        return Check("disk", FAIL, f"{free}; {needs}",
                     f"free {(need - hw.disk_free) / GB:.0f} GB, or set HF_HOME to a bigger disk")
    return Check("disk", OK, f"{free}; {needs}")


def check_folders() -> Check:
    """localv4's own folders (LOCALV4_HOME, else the platform's): `up` keeps its record and log there."""
    from localv4.paths import config_dir, data_dir, state_dir
    from localv4.storage import why_unwritable

    for path in (state_dir(), config_dir(), data_dir()):
        why = why_unwritable(path)
        if why:
            return Check("folders", FAIL, f"cannot write {path}: {why}", "set LOCALV4_HOME to a folder you can write to")
    return Check("folders", OK, f"records in {state_dir()}, engines in {data_dir()}")


def internals_targets() -> dict[str, tuple]:
    """Every place the launchers and the weights stage reach into another package, by package."""
    from localv4.serve.engines import llama_cpp_python_launch, mlx_launch
    from localv4.weights import layout

    return {"llama-cpp-python": llama_cpp_python_launch.TARGETS, "mlx-lm": mlx_launch.TARGETS["mlx_lm"],
            "mlx-vlm": mlx_launch.TARGETS["mlx_vlm"], "huggingface-hub": layout.TARGETS}


MLX_PACKAGES = ("mlx-lm", "mlx-vlm")


def check_internals(hw: Hardware) -> Check:
    """What the launchers patch is still where the installed releases keep it (else a release moved it).

    The MLX servers only serve on Apple Silicon, and importing them takes seconds: elsewhere they
    are left to the test suite (tests/test_internals.py)."""
    from localv4.internals import check, installed_version

    present = {p: t for p, t in internals_targets().items()
               if installed_version(p) and (hw.apple is not None or p not in MLX_PACKAGES)}
    problems = [line for targets in present.values() for line in check(list(targets))]
    if problems:
        return Check("internals", FAIL, f"{len(problems)} patched names missing: {problems[0]}",
                     problems[0].rsplit("run ", 1)[-1].rstrip("."))
    checked = ", ".join(f"{p} {installed_version(p)}" for p in present)
    return Check("internals", OK, f"every patched name present in {checked}")


def check_docker() -> Check:
    try:
        import docker

        client = docker.from_env(timeout=3)
        version = client.version().get("Version", "?")
        return Check("docker", OK, f"engine {version} reachable (for `up --ui`)")
    except Exception as err:  # the SDK raises several unrelated types
        text = str(err)
        if "Permission denied" in text:
            return Check("docker", WARN, "permission denied on the Docker socket",
                         "sudo usermod -aG docker $USER, then log in again")
        return Check("docker", WARN, "no Docker engine reachable (only `up --ui` needs it)",
                     "install Docker and start it, or use `up --ui native`")


def check_hub(recipe: Recipe) -> Check:
    from localv4.weights.hub import HubSettings

    hub = HubSettings.from_env()
    if hub.offline:
        return Check("huggingface", OK, "offline mode (HF_HUB_OFFLINE): only cached weights")
    import httpx

    try:
        r = httpx.head(f"{hub.endpoint}/api/models/{recipe.variants[0].repo}", timeout=5, follow_redirects=True)
    except httpx.HTTPError:
        return Check("huggingface", WARN, f"{hub.endpoint} unreachable",
                     "check the network or proxy; set HF_ENDPOINT for a mirror")
    if r.status_code >= 500:
        return Check("huggingface", WARN, f"{hub.endpoint} answered {r.status_code}", "try again later")
    if hub.xet:
        return Check("huggingface", OK, f"{hub.endpoint} reachable; Xet transfers on (hf_xet)")
    return Check("huggingface", OK, f"{hub.endpoint} reachable; Xet transfers off, plain HTTP",
                 f"unset HF_HUB_DISABLE_XET and `{pip_install('hf_xet')}` for faster pulls")


def check_port(port: int) -> Check:
    from localv4.net import is_free

    if not is_free("127.0.0.1", port):
        return Check("port", WARN, f"default port {port} is in use",
                     "localv4 up --port auto  (or stop what holds it)")
    return Check("port", OK, f"default port {port} is free")


def run_doctor(hw: Hardware, recipe: Recipe, default_port: int, demo: Recipe | None = None) -> DoctorReport:
    """Every check, and the plan (`demo`: the catalog's small model, offered where nothing fits)."""
    from localv4.hardware.engines import probe_engines
    from localv4.planning.machine import plan

    report = DoctorReport(hardware=hw)
    try:
        report.plan = plan(hw, recipe, engines=probe_engines(), demo=demo)
    except NothingFits as err:
        report.nothing_fits = err
    report.checks += check_hardware(hw)
    for check in (lambda: check_llama_cpp_python(hw), lambda: check_llama_server(recipe), lambda: check_prebuilt(hw),
                  lambda: check_mlx(hw), lambda: check_install(hw), lambda: check_disk(hw, report.plan.variant if report.plan else None), check_folders, check_docker,
                  lambda: check_hub(recipe), lambda: check_port(default_port), lambda: check_internals(hw)):
        try:
            report.checks.append(check())
        except LocalV4Error as err:
            report.checks.append(Check("check", WARN, str(err)))
    return report

"""The CPU's vector features that decide how fast experts decode in RAM (AVX-512, AMX, SVE).

Read from /proc/cpuinfo's `flags` (x86) or `Features` (arm64) line, and from sysctl on a Mac.
ktransformers' expert kernels need AVX-512 BF16 or AMX; llama.cpp uses whatever is there.
"""

from __future__ import annotations

from localv4.hardware.sources import PlatformFacts, Sources

# cpuinfo flag -> the name shown; in the order a reader scans them (widest first).
_LINUX_FLAGS = (
    ("amx_tile", "AMX"), ("amx_bf16", "AMX-BF16"), ("amx_int8", "AMX-INT8"),
    ("avx512f", "AVX-512"), ("avx512_bf16", "AVX-512 BF16"), ("avx512_vnni", "AVX-512 VNNI"),
    ("avx2", "AVX2"),
    ("sve2", "SVE2"), ("sve", "SVE"), ("sme", "SME"), ("i8mm", "I8MM"), ("bf16", "BF16"),
    ("asimd", "NEON"),
)
# sysctl key on Apple Silicon -> the name shown
_MAC_KEYS = (
    ("hw.optional.arm.FEAT_SME", "SME"), ("hw.optional.arm.FEAT_I8MM", "I8MM"),
    ("hw.optional.arm.FEAT_BF16", "BF16"), ("hw.optional.neon", "NEON"),
)


def cpu_features(sources: Sources, facts: PlatformFacts) -> tuple[str, ...]:
    """Names such as ("AVX-512", "AVX-512 BF16", "AVX2"); empty when nothing could be read."""
    if facts.system == "darwin":
        return tuple(name for key, name in _MAC_KEYS
                     if (sources.run(["sysctl", "-n", key]) or "").strip() == "1")
    flags: set[str] = set()
    for line in (sources.read_text("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = set(value.split())
            break
    return tuple(name for flag, name in _LINUX_FLAGS if flag in flags)

"""The RAM bandwidth a CPU's platform gives by specification, for when the probe measured none.

A flat 60 GB/s told a 12-channel EPYC ~1 tok/s where people measure ~10. The peak is channels x
8 bytes (one 64-bit DDR channel) x transfers per second, for one socket. It over-promises next to a
measurement (STREAM reaches most of it, llama.cpp less: the recipe's decode_efficiency, calibrated
on published runs, takes that share), hence the label "spec, not measured".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    pattern: str  # searched in the upper-cased CPU model, "(R)" and "(TM)" removed
    family: str
    channels: int  # 64-bit DDR channels per socket
    memory: str
    mt_s: int  # the fastest memory the platform supports, one DIMM per channel

    @property
    def gbps(self) -> float:
        return round(self.channels * 8 * self.mt_s / 1000, 1)

    @property
    def label(self) -> str:
        channels = "dual" if self.channels == 2 else str(self.channels)
        return f"spec, not measured: {channels}-channel {self.memory}-{self.mt_s}, {self.family}"


# First match wins. Channels and speeds from the vendors' specification pages:
#   AMD: amd.com/en/products/specifications/processors.html (per model: "Memory Channels", "System
#     Memory Specification"): EPYC 7001 8x DDR4-2666; 7002/7003 8x DDR4-3200; 8004 6x DDR5-4800;
#     9004 (Genoa, Genoa-X, Bergamo) 12x DDR5-4800; 9005 (Turin) 12x DDR5-6000 (6400 only on
#     qualified platforms); Threadripper PRO 3000/5000 WX 8x DDR4-3200, 7000 WX 8x DDR5-5200,
#     9000 WX 8x DDR5-6400; Threadripper 3000 4x DDR4-3200, 7000 4x DDR5-5200, 9000 4x DDR5-6400;
#     Ryzen 7000/8000G 2x DDR5-5200, Ryzen 9000 2x DDR5-5600. 12-channel DDR5 EPYC ~460 GB/s is in
#     /work/shared/research/deepseek-v4-flash.md ("Hardware facts") too.
#   Intel: ark.intel.com, "Memory Specifications" (Max # of Memory Channels, Max Memory Speed):
#     Xeon Scalable 3rd gen Ice Lake 8x DDR4 (Platinum 8/Gold 6: 3200, Gold 5: 2933, Silver: 2666),
#     Cooper Lake (H, HL) 6x DDR4-3200; 4th gen Sapphire Rapids 8x DDR5 (4800 / 4400 / 4000);
#     5th gen Emerald Rapids 8x DDR5 (5600 / 5200 / 4400); Xeon 6 (Granite Rapids, Sierra Forest)
#     6900P/E 12x DDR5-6400, 6700P/E and 6500P 8x DDR5-6400; Core Ultra 200S 2x DDR5-6400.
# Model numbers name the generation: EPYC's last digit, Xeon Scalable's second digit.
PLATFORMS: tuple[Platform, ...] = (
    Platform(r"EPYC 9\w\w5", "EPYC 9005", 12, "DDR5", 6000),
    Platform(r"EPYC 9\w\w4", "EPYC 9004", 12, "DDR5", 4800),
    Platform(r"EPYC 8\w\w4", "EPYC 8004", 6, "DDR5", 4800),
    Platform(r"EPYC 7\w\w[23]", "EPYC 7002/7003", 8, "DDR4", 3200),
    Platform(r"EPYC 7\w\w1", "EPYC 7001", 8, "DDR4", 2666),
    Platform(r"THREADRIPPER PRO 99\d\dWX", "Threadripper PRO 9000 WX", 8, "DDR5", 6400),
    Platform(r"THREADRIPPER PRO 79\d\dWX", "Threadripper PRO 7000 WX", 8, "DDR5", 5200),
    Platform(r"THREADRIPPER PRO [35]9\d\dWX", "Threadripper PRO 3000/5000 WX", 8, "DDR4", 3200),
    Platform(r"THREADRIPPER 99\d\dX", "Threadripper 9000", 4, "DDR5", 6400),
    Platform(r"THREADRIPPER 79\d\dX", "Threadripper 7000", 4, "DDR5", 5200),
    Platform(r"THREADRIPPER 39\d\dX", "Threadripper 3000", 4, "DDR4", 3200),
    Platform(r"XEON 69\d\d[PE]\b", "Xeon 6900", 12, "DDR5", 6400),
    Platform(r"XEON 6[57]\d\d[PE]\b", "Xeon 6700/6500", 8, "DDR5", 6400),
    Platform(r"XEON (PLATINUM 8|GOLD 6)5\d\d", "Xeon Scalable 5th gen", 8, "DDR5", 5600),
    Platform(r"XEON GOLD 55\d\d", "Xeon Scalable 5th gen", 8, "DDR5", 5200),
    Platform(r"XEON (SILVER 4|BRONZE 3)5\d\d", "Xeon Scalable 5th gen", 8, "DDR5", 4400),
    Platform(r"XEON (PLATINUM 8|GOLD 6)4\d\d", "Xeon Scalable 4th gen", 8, "DDR5", 4800),
    Platform(r"XEON GOLD 54\d\d", "Xeon Scalable 4th gen", 8, "DDR5", 4400),
    Platform(r"XEON (SILVER 4|BRONZE 3)4\d\d", "Xeon Scalable 4th gen", 8, "DDR5", 4000),
    Platform(r"XEON (PLATINUM 8|GOLD [56])3\d\dHL?\b", "Xeon Scalable 3rd gen, Cooper Lake", 6, "DDR4", 3200),
    Platform(r"XEON (PLATINUM 8|GOLD 6)3\d\d", "Xeon Scalable 3rd gen", 8, "DDR4", 3200),
    Platform(r"XEON GOLD 53\d\d", "Xeon Scalable 3rd gen", 8, "DDR4", 2933),
    Platform(r"XEON SILVER 43\d\d", "Xeon Scalable 3rd gen", 8, "DDR4", 2666),
    # Desktop sockets; the suffix keeps laptop parts (7840HS, 285H) out
    Platform(r"RYZEN \d (PRO )?9\d\d\d(X3D|X|F)?\b", "Ryzen 9000 desktop", 2, "DDR5", 5600),
    Platform(r"RYZEN \d (PRO )?[78]\d\d\d(X3D|X|F|GE|G)?\b", "Ryzen 7000/8000 desktop", 2, "DDR5", 5200),
    Platform(r"CORE ULTRA \d 2\d\d(KF|K|F|T)?\b", "Core Ultra 200S desktop", 2, "DDR5", 6400),
)
# Any other CPU: a desktop's two channels of DDR4, the slowest common case, so never over-promised.
DESKTOP = Platform("", "desktop (CPU not in the table)", 2, "DDR4", 3200)


def platform_of(cpu_model: str) -> Platform:
    """The memory platform of a CPU named as /proc/cpuinfo or sysctl name it."""
    key = " ".join(re.sub(r"\((R|TM)\)", " ", cpu_model.upper()).split())
    return next((p for p in PLATFORMS if re.search(p.pattern, key)), DESKTOP)

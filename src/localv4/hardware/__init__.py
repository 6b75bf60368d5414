"""Knowing the machine: probes turn real (or recorded) tool output into a `Hardware` value."""

from localv4.hardware.detect import detect, load_profile
from localv4.hardware.profile import GB, GIB, AmdGPU, AppleSilicon, Finding, Hardware, NvidiaGPU
from localv4.hardware.sources import LiveSources, RecordedSources, Sources

__all__ = [
    "GB",
    "GIB",
    "AmdGPU",
    "AppleSilicon",
    "Finding",
    "Hardware",
    "LiveSources",
    "NvidiaGPU",
    "RecordedSources",
    "Sources",
    "detect",
    "load_profile",
]

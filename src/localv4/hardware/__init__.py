"""Knowing the machine: probes turn real (or recorded) tool output into a `Hardware` value."""

from localv4.hardware.model import GB, GIB, AppleSilicon, Finding, Hardware, NvidiaGPU

__all__ = ["GB", "GIB", "AppleSilicon", "Finding", "Hardware", "NvidiaGPU"]

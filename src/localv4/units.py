"""Reading and writing the quantities users type and see: token counts, bytes, ports."""

from __future__ import annotations

import re

from localv4.errors import UsageError

_TOKENS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_context(text: str) -> int:
    """`32768`, `32k`, `128K` or `1M` (binary: 1K = 1024 tokens) -> tokens."""
    m = _TOKENS.match(text)
    if not m:
        raise UsageError(f"--ctx '{text}' is not a token count: use e.g. 32768, 128K or 1M.")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def format_context(tokens: int) -> str:
    if tokens >= 1024 * 1024 and tokens % (1024 * 1024) == 0:
        return f"{tokens // (1024 * 1024)}M"
    return f"{tokens // 1024}K" if tokens % 1024 == 0 else str(tokens)


def format_gb(n: int | float) -> str:
    """Decimal GB, as the Hub and disk vendors count."""
    return f"{n / 1e9:.1f} GB"


def human_bytes(n: float) -> str:
    """Decimal units, as the hub and disk vendors count."""
    if abs(n) < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1000
        if abs(n) < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"

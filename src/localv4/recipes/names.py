"""Suggestions for a mistyped model or variant name. Case does not count and a name inside a
longer one does (`q4_k_xl` -> UD-Q4_K_XL, `Qwen2.5` -> qwen2.5-0.5b): what people type first."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` known names like `name`: those containing it (or inside it) where there are
    any, since that is the stronger sign; else the closest spellings."""
    by_lower = {k.lower(): k for k in known}
    wanted = name.lower()
    inside = [low for low in by_lower if wanted and (wanted in low or low in wanted)]
    if inside:
        inside.sort(key=lambda low: -difflib.SequenceMatcher(None, wanted, low).ratio())
        return [by_lower[low] for low in inside[:n]]
    return [by_lower[low] for low in difflib.get_close_matches(wanted, by_lower, n=n)]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """" Did you mean X or Y?", or "" when nothing is close."""
    hint = close_names(name, known)
    return f" Did you mean {' or '.join(hint)}?" if hint else ""

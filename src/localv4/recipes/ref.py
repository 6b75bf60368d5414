"""How people and records name a variant: `UD-Q4_K_XL`, or qualified by its model,
`deepseek-v4-flash-0731:UD-Q4_K_XL` (what `models`, `server.json` and `--variant` show)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VariantRef:
    """A variant's name, and the model it belongs to where the name says (None: the caller's
    model, else the default one)."""

    model: str | None
    variant: str

    @classmethod
    def parse(cls, name: str) -> VariantRef:
        """The one reading of "model:variant": the model is everything before the first colon."""
        model, colon, variant = name.partition(":")
        return cls(model or None, variant) if colon else cls(None, name)

    def __str__(self) -> str:
        return f"{self.model}:{self.variant}" if self.model else self.variant

"""Reading a recipe's TOML with types checked: any error is one line naming the file and field."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from localv4.errors import UsageError


class Reader:
    """Typed access to a TOML table that names the file and field on any error."""

    def __init__(self, source: Path, table: dict[str, Any], where: str) -> None:
        self.source, self.table, self.where = source, table, where

    def fail(self, name: str, problem: str) -> UsageError:
        return UsageError(
            f"recipe {self.source}: field '{self.where}{name}' {problem}. Fix or remove the file."
        )

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.table:
            if default is ...:
                raise self.fail(name, "is missing")
            return default
        value = self.table[name]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(name, f"must be {expected}, not {type(value).__name__}")
        return value

    def positive(self, name: str, default: Any = ...) -> int:
        value = self.get(name, int, default)
        if value is not None and value <= 0:
            raise self.fail(name, "must be positive")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(name, str, default)
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}")
        return value

    def sub(self, name: str, where: str | None = None) -> Reader:
        return Reader(self.source, self.get(name, dict), where or f"{self.where}{name}.")


def read_toml(path: Path) -> dict[str, Any]:
    """The file's tables; the parser is imported here, so naming a variant costs no TOML import."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"recipe {path}: not valid TOML ({err}). Fix or remove the file.") from None
    except OSError as err:
        raise UsageError(f"recipe {path}: cannot be read ({err.strerror}).") from None

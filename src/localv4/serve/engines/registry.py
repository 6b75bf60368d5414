"""Every backend localv4 can start, by name, in order of preference within an engine family."""

from __future__ import annotations

from localv4.serve.engines.base import Backend
from localv4.serve.engines.llama_cpp_python import LlamaCppPython
from localv4.serve.engines.llama_server import LlamaServer
from localv4.serve.engines.mlx import Mlx

# The native server first: faster, hybrid placement, drafts, and every route (see its capabilities).
BACKENDS: dict[str, Backend] = {b.name: b for b in (LlamaServer(), LlamaCppPython(), Mlx())}
NAMES = tuple(BACKENDS)


def get(name: str) -> Backend:
    return BACKENDS[name]

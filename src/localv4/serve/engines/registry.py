"""Every backend localv4 can start, by name, in order of preference within an engine family."""

from __future__ import annotations

from localv4.serve.engines.base import Backend
from localv4.serve.engines.llama_cpp_python import LlamaCppPython
from localv4.serve.engines.llama_server import LlamaServer
from localv4.serve.engines.mlx import Mlx
from localv4.serve.engines.xllamacpp import Xllamacpp

# The native server first: it is here only where someone built it, and a build pays where the
# prebuilt wheel falls short (pools, a GPU PyPI has no wheel for, AVX-512/AMX kernels). Then the
# prebuilt llama.cpp server (the same routes and drafts, no pools), then llama-cpp-python's
# (no hybrid placement, no drafts, OpenAI routes only).
BACKENDS: dict[str, Backend] = {b.name: b for b in (LlamaServer(), Xllamacpp(), LlamaCppPython(), Mlx())}
NAMES = tuple(BACKENDS)


def get(name: str) -> Backend:
    return BACKENDS[name]

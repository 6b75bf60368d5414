"""Reading the engine log: its tail, what the load is doing now, and why a load failed."""

from __future__ import annotations

import re
from pathlib import Path

from localv4.fixes import pip_install

_BYTES_PER_LINE = 4096  # read this much of the file's end per line asked for: never the whole log

# What the engine is doing, from the lines llama.cpp, llama-cpp-python and MLX print while loading.
_PHASES = (
    (re.compile(r"loading model|llama_model_loader|gguf", re.I), "reading the model file"),
    (re.compile(r"load_tensors|loading weights|Fetching|safetensors", re.I), "loading the weights"),
    (re.compile(r"llama_context|kv.?cache|KV self", re.I), "allocating the context (KV cache)"),
    (re.compile(r"warming up|warmup", re.I), "warming up"),
    (re.compile(r"server is listening|Uvicorn running|Starting httpd|Application startup", re.I),
     "starting the HTTP server"),
)

# Why a load failed, most specific first: (pattern, the cause in words with the fix).
_CAUSES = (
    (re.compile(r"Remote RPC server crashed|RPC server version mismatch|Failed to connect to .*:\d+", re.I),
     "a pooled worker stopped or could not be reached: `localv4 status` names it; start "
     "`localv4 worker` there again, then `localv4 up --pool ...`"),
    (re.compile(r"unknown model architecture|Model type \S+ not supported|unsupported model", re.I),
     "the engine is too old for this model's architecture: run `localv4 install` for a current "
     "llama.cpp (or `{mlx_upgrade}` for MLX)"),
    (re.compile(r"out of memory|failed to allocate|cudaMalloc failed|bad_alloc|MemoryError|"
                r"insufficient memory|unable to allocate|ggml_backend_\w*alloc\w* failed", re.I),
     "out of memory: choose a smaller --variant or a smaller --ctx (`localv4 plan` shows what fits)"),
    (re.compile(r"No such file|failed to open|does not exist|FileNotFoundError", re.I),
     "a model file is missing: run `localv4 pull` to fetch it again"),
    (re.compile(r"invalid magic|not a valid gguf|failed to read|corrupt|unexpectedly reached end|"
                r"tensor .* data is not within|gguf_init_from_file|failed to load model|"
                r"error loading model|safetensors|HeaderTooLarge|Unable to load", re.I),
     "the model file is damaged or incomplete: run `localv4 pull` to verify and repair it"),
    (re.compile(r"address already in use|bind.*failed|couldn't bind", re.I),
     "the port was taken while the engine started: try again, or pass --port auto"),
)
_KILLED_BY_OS = (-9, 137)


def tail(path: Path, lines: int = 20) -> list[str]:
    """The last `lines` lines of the log (empty when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max(lines, 1) * _BYTES_PER_LINE))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    # llama.cpp prints progress dots and carriage returns: keep what a person would read.
    rows = [r.rstrip() for r in re.split(r"[\r\n]+", text)]
    rows = [r for r in rows if r.strip(" .")]
    return rows[-lines:] if lines > 0 else []


def phase(lines: list[str]) -> str | None:
    """What the engine is doing now, in words, from the latest line that says."""
    for line in reversed(lines):
        for pattern, words in _PHASES:
            if pattern.search(line):
                return words
    return None


def failure_cause(lines: list[str], exit_code: int | None) -> str:
    """The likely reason an engine exited while loading, with what to do about it."""
    text = "\n".join(lines)
    for pattern, cause in _CAUSES:
        if pattern.search(text):
            return cause.format(mlx_upgrade=pip_install("mlx-lm", "mlx-vlm", pip_args="--upgrade"))
    if exit_code in _KILLED_BY_OS:
        return ("killed by the operating system, most likely out of memory: choose a smaller "
                "--variant or --ctx")
    return "see the engine log above (`localv4 logs`)"

"""What every backend shares: its inputs, its command, and what it declares it can serve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from localv4.planning.values import Plan


@dataclass(frozen=True)
class EngineInputs:
    """Everything an engine's command line depends on."""

    plan: Plan
    model_path: Path  # GGUF: the first (or only) file; MLX: the model folder
    host: str
    port: int
    api_key_file: Path | None  # set when the endpoint needs a key; never the key itself
    reasoning: str | None  # one of the model's reasoning modes, or None if it has none
    draft_path: Path | None = None  # the plan's draft GGUF, pulled: decode speculatively with it


@dataclass(frozen=True)
class EngineCommand:
    """A ready-to-run engine: its argv (no secrets on it) and how to tell it is up."""

    backend: str
    argv: tuple[str, ...]
    health_path: str  # answers 200 once the model is loaded (or at least the server is up)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment, never a secret


@dataclass(frozen=True)
class Capabilities:
    """What a backend serves: the policy, `status` and the agents read these, never a backend's name."""

    formats: frozenset[str]  # weight formats it loads: "gguf", "mlx"
    hybrid: bool = False  # can keep MoE experts in RAM while the rest is on the GPU
    tool_calls: bool = False  # parses the model's tool calls into OpenAI `tool_calls`
    speculative: bool = False  # can decode with a draft model or MTP head
    anthropic_messages: bool = False  # serves /v1/messages
    responses: bool = False  # serves /v1/responses
    rpc: bool = False  # spreads one model over other machines' rpc-server workers (plans placed "pool")
    installable: bool = False  # `localv4 install` puts it here (so `up` can offer to, when it is missing)
    engine_args: bool = False  # takes the engine's own flags after localv4's (`up -- FLAGS`)
    parallel: bool = False  # serves several requests at once, each in its own slot (`--parallel N`)


class Backend(Protocol):
    """One engine localv4 can start: declared capabilities, availability, and its command line."""

    name: str
    engine: str  # the plan's engine family it belongs to: "llama.cpp" | "mlx"
    capabilities: Capabilities

    def unavailable(self, plan: Plan) -> str | None:
        """Why this machine cannot run it for `plan` (one line with the fix), or None if it can."""

    def command(self, inputs: EngineInputs) -> EngineCommand:
        """The engine's command line for these inputs; raises RuntimeFailure with the fix."""


def split_launcher_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """A launcher's argv: its own flags, then after `--` the engine's."""
    if "--" not in argv:
        return argv, []
    i = argv.index("--")
    return argv[:i], argv[i + 1:]


def template_kwargs(reasoning: str | None) -> dict[str, object]:
    """Chat-template arguments for a thinking mode (what clients may still override per request)."""
    if reasoning is None:
        return {}
    if reasoning == "off":
        return {"enable_thinking": False}
    return {"enable_thinking": True, "reasoning_effort": reasoning}


# Architectures whose weights llama.cpp's CPU backend must not repack. deepseek4 at the pinned
# tree: on a CPU with AMX the AMX buffer takes the Q8_0 attention weights, then no backend can
# run the graph's op on them (`GGML_ASSERT(*cur_backend_id != -1)` at load, measured here on the
# tiny V4; gone with --no-repack); elsewhere the online repack of attn_output_a/_b garbles output
# or asserts (llama.cpp#25837, #26521, #26537; the fix, #26526, is not in this tree).
NO_REPACK_ARCHS = frozenset({"deepseek4"})


def weights_as_loaded(plan: Plan) -> bool:
    """True when llama.cpp must keep CPU-held weights as loaded: no AMX or repack buffers
    (llama-server `--no-repack`, llama-cpp-python `use_extra_bufts = False`). Nothing changes
    for weights on a GPU."""
    return plan.model.arch_llama_cpp in NO_REPACK_ARCHS or not plan.cpu_extra_buffers

"""The native llama-server's command line, from the plan and the flags this build's --help lists.

The plan's slots (`--parallel N`, never the server's default of 4 auto slots): DeepSeek V4 keeps
its compressed KV caches per sequence even in unified KV mode
(vendor/llama.cpp/src/llama-kv-cache-dsv4.cpp:1241-1244, 1287-1310), so N slots split N times the
plan's context with unified KV off (`-c` N x context, `--no-kv-unified`): each request gets the
plan's context, and the KV the planner budgeted for N sequences (planning/slots.py).

Placement: full-GPU and unified-memory plans let `--fit` place layers with a safety margin per
device (with a DSpark draft, which needs `--fit off`, every layer is placed
explicitly instead); hybrid plans pass -ngl and --n-cpu-moe explicitly (which switches --fit off, so the
planner's numbers are what keeps the machine from swapping), and their draft's experts stay in RAM
(`--spec-draft-n-cpu-moe`); CPU plans offload nothing. Pooled
plans name the workers (`--rpc`) and give every device its layers: `-ts` takes the layer counts in
llama.cpp's device order (RPC devices first, then this host's GPUs), and -ngl their sum plus the
output layer, which goes to the last device; what is left stays on this host's CPU.
"""

from __future__ import annotations

import json

from localv4.errors import RuntimeFailure
from localv4.planning.values import Plan
from localv4.serve.engines.base import (
    Capabilities, EngineCommand, EngineInputs, template_kwargs, weights_as_loaded,
)

NAME = "llama-server"
FIT_MARGIN_MIB = 1024  # the planner keeps 1 GiB per device free; --fit keeps the same
ALL_LAYERS = "999"
_REINSTALL = "run `localv4 install` for a current build"


def find(arch: str, gpu_vendor: str = ""):
    """The llama-server localv4 would run (a LlamaServerBinary) if it knows `arch`, else None: the
    Vulkan build first where the plan's layers go on an AMD GPU (`Plan.gpu_vendor`)."""
    from localv4.install.locate import find_llama_server, flavour_order

    binary = find_llama_server(flavour_order(gpu_vendor))
    return binary if binary is not None and binary.knows_arch(arch) else None


def _require(binary, flag: str, why: str) -> None:
    if not binary.supports(flag):
        raise RuntimeFailure(f"{binary.path} has no {flag} ({why}): {_REINSTALL}.")


def _pool_args(binary, pool) -> list[str]:
    _require(binary, "--rpc", "needed to pool machines; the build must have GGML_RPC")
    _require(binary, "--tensor-split", "needed to give each pooled device its layers")
    offloaded = [d for d in pool.devices if not (d.machine == "host" and d.kind == "cpu")]
    counts = [d.layers for d in offloaded]
    fit = ["--fit", "off"] if binary.supports("--fit") else []
    if not any(counts):  # everything on this host's CPU (the planner said the workers are not needed)
        return ["--rpc", ",".join(pool.workers), *fit, "-ngl", "0"]
    last = max(i for i, c in enumerate(counts) if c)  # the output layer rides with the last device
    counts[last] += 1
    return ["--rpc", ",".join(pool.workers), *fit, "-ngl", str(sum(counts)),
            "--tensor-split", ",".join(map(str, counts))]


def _placement_args(binary, plan: Plan, fit: bool = True) -> list[str]:
    """`fit` False (a DSpark draft needs --fit off): the plan places every layer itself, over
    several GPUs by their budgets (`--tensor-split`)."""
    placement, n_cpu_moe = plan.placement, plan.n_cpu_moe
    if placement == "pool":
        return _pool_args(binary, plan.pool)
    if placement == "cpu":
        return ["-ngl", "0"]
    split = ["--tensor-split", ",".join(map(str, plan.gpu_split))] if plan.gpu_split else []
    if placement == "hybrid":
        _require(binary, "--n-cpu-moe", "needed to keep MoE experts in RAM")
        return ["-ngl", ALL_LAYERS, "--n-cpu-moe", str(n_cpu_moe), *split]
    if fit and binary.supports("--fit"):
        return ["--fit", "on", "--fit-target", str(FIT_MARGIN_MIB)]
    return ["-ngl", ALL_LAYERS, *split]


DRAFT_N_MAX = 3  # --spec-draft-n-max: this build's default; PR #25784 measured MTP at 2-3
SPEC_TYPES = {"dspark": "draft-dspark", "mtp": "draft-mtp"}  # a recipe's draft kind -> --spec-type


def _speculative_args(binary, plan: Plan, draft_path) -> list[str]:
    """The draft on the command line with the flags this build's --help lists; DSpark needs
    --fit off (llama.cpp PR #25784), so its draft layers go where the plan put the model's: all
    on the GPU(s), none, or (hybrid) on the GPU with the experts of `plan.draft_n_cpu_moe` of
    them in RAM."""
    draft = plan.draft
    for flag in ("--spec-type", "-md", "--spec-draft-n-max"):
        _require(binary, flag, "needed for speculative decoding; or run `up --speculative off`")
    args = ["--spec-type", SPEC_TYPES[draft.kind], "-md", str(draft_path), "--spec-draft-n-max", str(DRAFT_N_MAX)]
    if draft.kind == "dspark":  # a program without --fit never fits: nothing to switch off
        args += [*(["--fit", "off"] if binary.supports("--fit") else []),
                 "-ngld", "0" if plan.placement == "cpu" else ALL_LAYERS]
    if plan.draft_n_cpu_moe:
        _require(binary, "--spec-draft-n-cpu-moe", "needed to keep the draft's experts in RAM")
        args += ["--spec-draft-n-cpu-moe", str(plan.draft_n_cpu_moe)]
    if plan.kv_type != "f16":  # the planner budgets the draft's KV at the plan's type, not f16
        _require(binary, "--spec-draft-type-k", "needed to give the draft the plan's KV cache type")
        args += ["--spec-draft-type-k", plan.kv_type, "--spec-draft-type-v", plan.kv_type]
    return args


def _reasoning_args(binary, reasoning: str | None) -> list[str]:
    if reasoning is None:
        return []
    if binary.supports("--reasoning"):
        args = ["--reasoning", "off" if reasoning == "off" else "on"]
        if reasoning != "off" and binary.supports("--reasoning-effort"):
            args += ["--reasoning-effort", reasoning]
        return args
    if binary.supports("--chat-template-kwargs"):
        return ["--chat-template-kwargs", json.dumps(template_kwargs(reasoning))]
    return []


def kv_type_args(kv_type: str) -> list[str]:
    """The plan's KV cache type, K and V the same (deepseek4 refuses a mix); f16 is the default."""
    return [] if kv_type == "f16" else ["-ctk", kv_type, "-ctv", kv_type]


def _repack_args(binary, plan: Plan) -> list[str]:
    return ["--no-repack"] if weights_as_loaded(plan) and binary.supports("--no-repack") else []


def _slot_args(binary, plan: Plan) -> list[str]:
    """The plan's slots, each its own share of `-c` (unified KV off where there are several)."""
    if plan.parallel > 1:
        _require(binary, "--parallel", f"the plan serves {plan.parallel} users at once")
        _require(binary, "--no-kv-unified", "each slot must keep the plan's context")
        return ["--parallel", str(plan.parallel), "--no-kv-unified"]
    return ["--parallel", "1"] if binary.supports("--parallel") else []


def server_args(binary, inputs: EngineInputs) -> list[str]:
    """llama-server's flags for these inputs, as far as `binary.supports` them: a LlamaServerBinary,
    or the prebuilt engine's launcher, which takes the same names (xllamacpp_launch.FLAGS)."""
    plan = inputs.plan
    draft = plan.draft if inputs.draft_path is not None else None
    fit_off = draft is not None and draft.kind == "dspark"
    argv = [
        "-m", str(inputs.model_path),
        "-c", str(plan.context * plan.parallel),
        "--host", inputs.host,
        "--port", str(inputs.port),
        "--alias", plan.model.served_name,
        "--temp", str(plan.model.temperature),
        "--top-p", str(plan.model.top_p),
        *_placement_args(binary, plan, fit=not fit_off),
        *(_speculative_args(binary, plan, inputs.draft_path) if draft else []),
        *(["--jinja"] if binary.supports("--jinja") else []),  # tool calls and /v1/messages need it
        *(["--metrics"] if binary.supports("--metrics") else []),  # request and token counts for clients
        *_reasoning_args(binary, inputs.reasoning),
        *kv_type_args(plan.kv_type),
        *_repack_args(binary, plan),
        *_slot_args(binary, plan),
    ]
    if inputs.api_key_file is not None:
        _require(binary, "--api-key-file", "the API key must not go on the command line")
        argv += ["--api-key-file", str(inputs.api_key_file)]
    return argv


def command_for(binary, inputs: EngineInputs) -> EngineCommand:
    """The command line for this llama-server build (a LlamaServerBinary)."""
    return EngineCommand(backend=NAME, argv=(str(binary.path), *server_args(binary, inputs)), health_path="/health")


class LlamaServer:
    """The native llama-server: the fastest llama.cpp engine, and the one with every route."""

    name = NAME
    engine = "llama.cpp"
    capabilities = Capabilities(
        formats=frozenset({"gguf"}), hybrid=True, tool_calls=True, speculative=True,
        anthropic_messages=True, responses=True, installable=True, rpc=True, engine_args=True,
        parallel=True,
    )

    def unavailable(self, plan: Plan) -> str | None:
        if find(plan.model.arch_llama_cpp, plan.gpu_vendor) is None:
            return (f"no llama-server here knows the '{plan.model.arch_llama_cpp}' architecture: "
                    f"{_REINSTALL}, or use --backend llama-cpp-python")
        return None

    def command(self, inputs: EngineInputs) -> EngineCommand:
        binary = find(inputs.plan.model.arch_llama_cpp, inputs.plan.gpu_vendor)
        if binary is None:
            raise RuntimeFailure(self.unavailable(inputs.plan) + ".")
        return command_for(binary, inputs)

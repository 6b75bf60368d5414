"""The planner's answer, as plain values: what to run, where, with what context, and why.

Kept apart from the planning logic so the later stages (pull, serve, UI, tray) depend only on
these values, never on how they were computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from localv4.codec import from_json, to_json
from localv4.errors import RuntimeFailure
from localv4.recipes import Draft, DraftSpeedup, ModelSpec, Variant

PLACEMENTS = {
    "gpu": "all on GPU",
    "unified": "all in unified memory (the GPU shares the RAM)",
    "hybrid": "hybrid: attention and shared weights on GPU, MoE experts in RAM",
    "cpu": "CPU only, in RAM",
    "pool": "pooled over several machines (llama.cpp RPC)",
}


@dataclass(frozen=True)
class PoolDevice:
    """One device of a pooled plan: what it may use, and the layers, weights and KV it holds."""

    name: str  # "host CUDA0", "host RAM", "10.0.0.2:50052 Metal"
    machine: str  # "host", or the worker's RPC endpoint HOST:PORT
    kind: str  # "unified" | "gpu" | "cpu": which bandwidth and efficiency apply
    budget: int  # bytes it may use (the same rules as one machine's)
    layers: int
    weights: int
    kv_cache: int
    overhead: int  # compute buffers (the host's first device also carries the runtime's fixed part)
    bandwidth_gbps: float | None

    @property
    def used(self) -> int:
        return self.weights + self.kv_cache + self.overhead


@dataclass(frozen=True)
class Pool:
    """Where a pooled plan puts the model: its devices in llama.cpp's order (workers' first)."""

    devices: tuple[PoolDevice, ...]
    workers: tuple[str, ...]  # RPC endpoints, in `--rpc` order
    network: str  # how the network cost in the speed estimate was counted

    def to_dict(self) -> dict[str, Any]:
        return {"workers": list(self.workers), "network": self.network,
                "devices": [{**asdict(d), "used": d.used} for d in self.devices]}


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes the plan needs against the bytes it may use. For hybrid: GPU and RAM each."""

    weights: int
    kv_cache: int
    overhead: int
    budget: int
    gpu_part: int = 0  # hybrid: bytes placed on the GPU(s)
    gpu_budget: int = 0
    ram_part: int = 0  # hybrid: bytes placed in system RAM
    ram_budget: int = 0
    draft: int = 0  # speculative decoding: the draft's weights and its KV cache
    # Tables the engine memory-maps from disk (not in `weights` nor `total`), and the RAM the page
    # cache keeps for them once the plan's memory is placed
    mapped: int = 0
    page_cache: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.overhead + self.draft

    @property
    def mapped_cached(self) -> bool:
        """Whether the mapped tables stay in the page cache (else each token reads rows from SSD)."""
        return self.mapped <= self.page_cache

    @property
    def spare(self) -> int:
        return self.budget - self.total


@dataclass(frozen=True)
class SpeedEstimate:
    """Decode tokens/s from bandwidth / bytes read per token: an estimate, never a promise."""

    low: float
    high: float
    basis: str

    def span(self) -> str:
        """ "3-9", or "0.4-1.2" where the low end is under 1 tok/s: whole numbers would read "0-1"
        (two decimals where one would still read 0.0)."""
        digits = 0 if self.low >= 1 else 1 if round(self.low, 1) else 2
        return f"{self.low:.{digits}f}-{self.high:.{digits}f}"

    def label(self) -> str:
        return f"~{self.span()} tok/s (estimate)"

    @property
    def middle(self) -> float:
        """The geometric middle of the range: what two estimates are compared by."""
        return (self.low * self.high) ** 0.5

    def with_draft(self, speedup: DraftSpeedup) -> SpeedEstimate:
        """This estimate times a draft's published speedup (low by low, high by high)."""
        return SpeedEstimate(self.low * speedup.low, self.high * speedup.high,
                             f"{self.basis}; {speedup.label()} ({speedup.source})")


@dataclass(frozen=True)
class DeviceProjection:
    """One device as the engine projects it for the plan's exact flags (llama-fit-params, from the
    GGUF headers alone): bytes of weights, of context (KV cache) and of compute buffers."""

    device: str  # as llama.cpp names it: "CUDA0", "Vulkan0", "MTL0"; "Host" for RAM
    model: int
    context: int
    compute: int
    draft: bool = False  # the plan's speculative draft on that device (projected as its own model)

    @property
    def total(self) -> int:
        return self.model + self.context + self.compute


@dataclass(frozen=True)
class EngineCheck:
    """The engine's word on a plan before its download, or why there is none (`devices` empty)."""

    devices: tuple[DeviceProjection, ...] = ()
    engine: str = ""  # the projecting build: "llama.cpp 0.5.0-dev (build 1, commit 0c1e570)"
    fetched: int = 0  # header bytes fetched from the hub for this check (0: all were kept)
    note: str = ""  # one line: what the check changed, or why the plan is the estimate alone

    @property
    def checked(self) -> bool:
        return bool(self.devices)

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "engine": self.engine or None, "fetched_bytes": self.fetched,
                "note": self.note, "devices": [{**asdict(d), "total": d.total} for d in self.devices]}


PREFERENCES = ("quality", "speed")  # `--prefer`: which side of the trade the plan takes


@dataclass(frozen=True)
class Trade:
    """The other side of the speed/quality trade, shown beside the plan in one line: the faster
    plan (`--prefer quality`), or the better-quality one that `--prefer speed` gave up."""

    faster: bool  # True: this plan is the faster one; False: it is the better-quality one
    variant: str  # its qualified id
    context: int
    kv_type: str
    placement: str
    draft: str  # its draft's kind, "" without one
    draft_note: str  # where the speedup comes from: "with draft: published +28-100%", "" without
    speed: SpeedEstimate  # with its draft's published speedup
    against: SpeedEstimate  # the chosen plan's, counted the same way
    gives_up: tuple[str, ...]  # what the faster of the two gives up against the other
    command: str  # what picks it

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "context": self.context, "kv_type": self.kv_type,
                "placement": self.placement, "draft": self.draft or None, "draft_note": self.draft_note,
                "speed_estimate_tok_s": [round(self.speed.low, 1), round(self.speed.high, 1)],
                "speed_basis": self.speed.basis,
                "against_tok_s": [round(self.against.low, 1), round(self.against.high, 1)],
                "gives_up": list(self.gives_up), "command": self.command}


@dataclass(frozen=True)
class Plan:
    model: ModelSpec
    variant: Variant
    engine: str  # "llama.cpp" | "mlx"
    context: int
    placement: str  # a key of PLACEMENTS
    n_cpu_moe: int  # hybrid: how many layers keep their experts in RAM (llama-server --n-cpu-moe)
    memory: MemoryBreakdown
    speed: SpeedEstimate
    advice: tuple[str, ...] = ()  # e.g. the wired-limit command that unlocks a better variant
    kv_type: str = "f16"  # the KV cache type (llama.cpp -ctk/-ctv), chosen with the plan
    pool: Pool | None = None  # placement "pool": the devices of every machine and what each holds
    draft: Draft | None = None  # speculative decoding with this draft; None: decode without one
    draft_n_cpu_moe: int = 0  # hybrid: how many draft layers keep their experts in RAM (all of them)
    # More than one GPU: each one's budget in MiB, the shares llama-server splits the layers by
    # (`--tensor-split`) where the plan places them itself (hybrid, or a DSpark draft's --fit off)
    gpu_split: tuple[int, ...] = ()
    # False: llama.cpp keeps CPU-held weights as loaded, without its AMX and repack buffers
    # (`--no-repack`), because the CPU reports AMX (see planner.AMX_CRASHES)
    cpu_extra_buffers: bool = True
    prefer: str = "quality"  # a key of PREFERENCES: the side of the trade this plan took
    trade: Trade | None = None  # the other side, where it is worth a line (planning.alternatives)
    parallel: int = 1  # slots (`--parallel`): each gets `context`; the KV holds this many sequences
    total_speed: SpeedEstimate | None = None  # more than one slot: all users together (`speed`: each)
    # Whose GPU this machine's layers go on: "nvidia" | "amd" | "apple", "" where none do; the
    # engine picks its build by it (llama.cpp reaches an AMD GPU only through Vulkan)
    gpu_vendor: str = ""
    engine_check: EngineCheck | None = None  # the engine's projection (None: not asked, e.g. MLX)

    @property
    def placement_label(self) -> str:
        return PLACEMENTS[self.placement]

    @property
    def decode_speed(self) -> SpeedEstimate:
        """The estimate with the draft's published speedup, where the plan decodes with one."""
        speedup = self.draft.speedup if self.draft is not None else None
        return self.speed.with_draft(speedup) if speedup is not None else self.speed

    def to_record(self) -> dict[str, Any]:
        """The whole plan as JSON values, its model and variant included: `from_record` reads it
        back as an equal Plan (the engine's record keeps the plan it serves this way)."""
        return to_json(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Plan:
        """The Plan `to_record` wrote; ValueError (or TypeError) when `data` is not one."""
        return from_json(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """What `plan --json` shows: the model and variant by id, the memory with its total."""
        return {
            "model": self.model.id, "variant": self.variant.id, "engine": self.engine,
            "context": self.context, "placement": self.placement, "n_cpu_moe": self.n_cpu_moe,
            "memory": {**asdict(self.memory), "total": self.memory.total},
            "speed_estimate_tok_s": [round(self.speed.low, 1), round(self.speed.high, 1)],
            "speed_basis": self.speed.basis, "advice": list(self.advice), "kv_type": self.kv_type,
            "speed_with_draft_tok_s": [round(self.decode_speed.low, 1), round(self.decode_speed.high, 1)],
            "prefer": self.prefer, "parallel": self.parallel,
            "total_speed_estimate_tok_s": [round(self.total_speed.low, 1), round(self.total_speed.high, 1)]
            if self.total_speed else None,
            "faster": self.trade.to_dict() if self.trade and self.trade.faster else None,
            "better": self.trade.to_dict() if self.trade and not self.trade.faster else None,
            "pool": self.pool.to_dict() if self.pool else None,
            "engine_check": self.engine_check.to_dict() if self.engine_check else None,
            "cpu_extra_buffers": self.cpu_extra_buffers, "gpu_split_mib": list(self.gpu_split),
            "draft": None if self.draft is None else {
                "kind": self.draft.kind, "repo": self.draft.repo, "file": self.draft.file,
                "size_bytes": self.draft.size_bytes, "size_verified": self.draft.size_verified,
                "n_cpu_moe": self.draft_n_cpu_moe,
                "speedup": asdict(self.draft.speedup) if self.draft.speedup else None},
        }


@dataclass(frozen=True)
class FitRow:
    """One line of the hardware table: a variant, whether it fits here, and at what context."""

    variant: Variant
    fits: bool
    placement: str | None
    max_context: int | None
    speed: SpeedEstimate | None
    reason: str  # why it does not fit, or what limits it
    shortfall: int = 0  # bytes missing at the minimum context, when it does not fit

    def to_dict(self) -> dict[str, Any]:
        v = self.variant
        return {
            "variant": v.id, "format": v.format, "size_bytes": v.size_bytes, "status": v.status,
            "fits": self.fits, "placement": self.placement, "max_context": self.max_context,
            "speed_estimate_tok_s": [round(self.speed.low, 1), round(self.speed.high, 1)] if self.speed else None,
            "reason": self.reason, "shortfall_bytes": self.shortfall,
        }


class NothingFits(RuntimeFailure):
    """No variant fits this machine: says by how much, and the ways out."""

    def __init__(self, message: str, shortfall: int, ways_out: tuple[str, ...]) -> None:
        super().__init__(message)
        self.shortfall = shortfall
        self.ways_out = ways_out

    def to_dict(self) -> dict[str, Any]:
        return {"error": str(self), "shortfall_bytes": self.shortfall, "ways_out": list(self.ways_out)}

"""What a recipe says: the model's constants, its published variants, their drafts and memory
costs. Plain frozen values; reading them from TOML is `load`'s job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localv4.errors import UsageError
from localv4.recipes.names import did_you_mean
from localv4.recipes.ref import VariantRef

FORMATS = ("gguf", "mlx")
# "needs-engine": published for an engine localv4 does not run yet (the series says which in `needs`).
STATUSES = ("confirmed", "unconfirmed", "needs-engine")
# The speculative drafts a recipe may name; each engine maps them to its own flag value.
DRAFT_KINDS = ("dspark", "mtp")
# KV cache types a plan may choose, as llama.cpp names them (-ctk/-ctv); f16 is the default.
KV_TYPES = ("f16", "q8_0", "q4_0")
# For recipes without their own calibration: the share of the bandwidth bound engines typically
# reach, per placement (low, high). The V4-Flash recipe carries its own, from reported runs.
DEFAULT_DECODE_EFFICIENCY = {
    "unified": (0.3, 0.6), "gpu": (0.15, 0.35), "hybrid": (0.25, 0.6), "cpu": (0.1, 0.3),
}


@dataclass(frozen=True)
class DraftSpeedup:
    """How much faster decoding ran with a draft than without, as published (low, high factor):
    a draft's gain depends on its acceptance, which no memory arithmetic predicts, so the plan's
    with-draft estimate is the published pairs, named by `source`."""

    low: float
    high: float
    source: str

    def label(self) -> str:
        low, high = round((self.low - 1) * 100), round((self.high - 1) * 100)
        return f"with draft: published +{low}%" if low == high else f"with draft: published +{low}-{high}%"


@dataclass(frozen=True)
class Draft:
    """The small model a variant decodes speculatively with (a DSpark draft or an MTP head GGUF).

    A GGUF series names one `file`. An MLX series names a folder: the `include` patterns (config,
    index, tokenizer) and, with `tensors`, the safetensors shards that hold the tensors named so
    (DeepSeek's own checkpoint, whose `mtp.*` stages mlx-vlm's DSpark drafter reads) as the
    repo's index maps them: `pull` reads the index first and fetches only those shards.

    `size_verified` False: the size is a planning figure, not read from the hub here; `pull`
    fetches the real files (exact size and sha256 from the hub) and the plan budgets this figure."""

    kind: str  # one of DRAFT_KINDS
    repo: str
    revision: str
    file: str  # GGUF: exact name or a glob pattern, relative to the repo root; MLX: ""
    size_bytes: int
    size_verified: bool
    layers: int  # transformer blocks it runs: its KV cache is this share of the model's
    source: str  # where the repo, file and size come from
    format: str = "gguf"  # the series' format: "gguf" (one file) or "mlx" (a folder)
    include: tuple[str, ...] = ()  # MLX: the folder's files besides the shards, patterns
    tensors: str | None = None  # MLX: a tensor-name prefix ("mtp."): the shards holding them
    speedup: DraftSpeedup | None = None  # published with/without-draft pairs; None: none published

    def as_variant(self, recipe_id: str) -> Variant:
        """The draft as a variant (one GGUF file, or an MLX folder with the shards that hold its
        tensors), so `pull` and `locate` treat it like any weights."""
        if self.format == "mlx":
            return Variant(id=f"draft-{self.kind}-mlx", recipe_id=recipe_id, format="mlx", repo=self.repo,
                           revision=self.revision, size_bytes=self.size_bytes, bits_per_weight=0.0,
                           quality=0, status="confirmed", note=self.source, files=self.include,
                           entry=None, shards_with=self.tensors)
        return Variant(id=f"draft-{self.kind}", recipe_id=recipe_id, format="gguf", repo=self.repo,
                       revision=self.revision, size_bytes=self.size_bytes, bits_per_weight=0.0,
                       quality=0, status="confirmed", note=self.source, files=(self.file,),
                       entry=self.file)


@dataclass(frozen=True)
class Variant:
    """One published quantization: what to fetch and what it costs in memory."""

    id: str
    recipe_id: str
    format: str  # "gguf" (llama.cpp) or "mlx"
    repo: str
    revision: str
    size_bytes: int
    bits_per_weight: float
    quality: int  # higher is closer to the original weights
    status: str  # "confirmed": known to load in a released engine; "unconfirmed": not yet; "needs-engine"
    note: str
    files: tuple[str, ...]  # exact file names or glob patterns, relative to the repo root
    entry: str | None  # GGUF: the (first) file the engine opens; MLX: None, the folder is the model
    draft: Draft | None = None  # what speculative decoding drafts with, where the series names one
    # MLX only: also the safetensors shards holding tensors whose names start with this, as the
    # repo's model.safetensors.index.json (one of `files`) maps them; None: `files` is all of it
    shards_with: str | None = None
    needs: str = ""  # status "needs-engine": the engine it needs and where that stands upstream
    local: bool = False  # a GGUF of your own: `files` and `entry` are paths on this disk, never pulled

    @property
    def qualified_id(self) -> str:
        """`model:variant`, as VariantRef.parse reads it back."""
        return str(VariantRef(self.recipe_id, self.id))

    @property
    def engine_family(self) -> str:
        return "llama.cpp" if self.format == "gguf" else "mlx"


@dataclass(frozen=True)
class KvCacheCost:
    """Runtime memory beyond the weights with one KV cache type, as the engine reported it:
    caches and compressor state grow by `per_token_bytes` over `fixed_bytes`; the compute buffer
    is the measured (context, bytes) points, interpolated between them (it is not a straight line:
    flat while the layer activations dominate, then growing with the indexer's scores)."""

    type: str
    fixed_bytes: int
    per_token_bytes: int
    compute: tuple[tuple[int, int], ...] = ()  # (context, bytes), contexts ascending

    def compute_bytes(self, context: int) -> int:
        points = self.compute
        if not points:
            return 0
        if context <= points[0][0]:
            return points[0][1]
        for (c0, b0), (c1, b1) in zip(points, points[1:]):
            if context <= c1 or (c1, b1) == points[-1]:
                return round(b0 + (b1 - b0) * (context - c0) / (c1 - c0))
        return points[-1][1]

    def runtime_bytes(self, context: int) -> int:
        return self.fixed_bytes + self.per_token_bytes * context + self.compute_bytes(context)


@dataclass(frozen=True)
class ModelSpec:
    """The model constants the planner and the engines need."""

    id: str
    name: str
    served_name: str
    hf_repo: str
    total_params: int
    active_params: int
    dense_params: int
    active_routed_params: int
    dense_bits_per_weight: float
    layers: int
    max_context: int
    min_context: int
    preferred_min_context: int
    kv_bytes_per_token: int
    kv_source: str
    runtime_overhead_bytes: int
    reasoning_modes: tuple[str, ...]
    default_reasoning: str
    think_max_min_context: int
    temperature: float
    top_p: float
    arch_llama_cpp: str
    arch_mlx: str
    decode_efficiency: dict[str, tuple[float, float]]  # placement -> (low, high) share of the bound
    compute_buffer: tuple[tuple[int, int], ...] = ()  # f16: measured (context, bytes)
    quantized_kv: tuple[KvCacheCost, ...] = ()  # measured costs of the other KV types the engine takes
    hash_layers: int = 0  # the first N MoE layers route experts by token id (config num_hash_layers)
    # Parameters the engines memory-map from disk and read a few rows of per token (V4.1's Engram
    # n-gram tables): served by the page cache, outside the GPU working set (planning.memory).
    mapped_params: int = 0
    mapped_source: str = ""

    def kv_cost(self, kv_type: str = "f16") -> KvCacheCost:
        """f16 is kv_bytes_per_token, runtime_overhead_bytes and compute_buffer; the others are
        the recipe's [[model.kv_cache]] entries."""
        if kv_type == "f16":
            return KvCacheCost("f16", self.runtime_overhead_bytes, self.kv_bytes_per_token, self.compute_buffer)
        return next(c for c in self.quantized_kv if c.type == kv_type)

    @property
    def kv_types(self) -> tuple[str, ...]:
        return ("f16", *(c.type for c in self.quantized_kv))


@dataclass(frozen=True)
class Recipe:
    model: ModelSpec
    variants: tuple[Variant, ...]
    source: Path
    demo: bool = False  # the small model that shows the whole chain where nothing else fits

    @property
    def id(self) -> str:
        return self.model.id

    def has_variant(self, variant_id: str) -> bool:
        return any(v.id.lower() == variant_id.lower() for v in self.variants)

    def variant(self, variant_id: str) -> Variant:
        for v in self.variants:
            if v.id.lower() == variant_id.lower():
                return v
        also = did_you_mean(variant_id, (v.id for v in self.variants))
        raise UsageError(
            f"unknown variant '{variant_id}' for {self.id}.{also} "
            "`localv4 list` shows them all."
        )

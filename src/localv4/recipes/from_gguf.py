"""A recipe for a GGUF of your own (`localv4 up ./model.gguf`), built from its header's metadata:
the architecture, layers, trained context and KV cache size are read; what a header does not say
(the runtime's overhead, sampling where it names none) is a stated default.

The parameters come from its tensor table. An MoE's routed experts are llama.cpp's `*_exps`
tensors, every expert of a layer stacked in one; a token reads `expert_used_count` of
`expert_count` of them, so that share of their bytes. Everything else (attention, shared experts
`*_shexp`, the router, embeddings, the output head) is read for every token: dense. Where the
header lacks the counts, every expert is counted as read: the speed estimate low, never high.
DeepSeek V4-Flash's full-size header (scripts/full_size_v4_header.py, 156.4 GB MXFP4) reads as
284.3B parameters, 13.8B active (6.49B of them routed: the recipe's figure); published: 284B / 13B.
Most of the difference is the embedding table (0.53B), counted whole though a token reads a row."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from localv4.errors import UsageError
from localv4.recipes.schema import DEFAULT_DECODE_EFFICIENCY, ModelSpec, Recipe, Variant

RUNTIME_OVERHEAD_BYTES = 512 << 20  # assumed: llama.cpp's compute buffers for a small model
MIN_CONTEXT = 1024
PREFERRED_MIN_CONTEXT = 8192
# llama.cpp's `general.file_type` numbers, as its quantize tool names them, with their nominal bits
# per weight (llama.cpp's quantize list): the variant's id and bits; its memory is the files' size.
FILE_TYPES = {0: ("F32", 32.0), 1: ("F16", 16.0), 2: ("Q4_0", 4.5), 3: ("Q4_1", 5.0), 7: ("Q8_0", 8.5),
              8: ("Q5_0", 5.5), 9: ("Q5_1", 6.0), 10: ("Q2_K", 3.35), 11: ("Q3_K_S", 3.5), 12: ("Q3_K_M", 3.91),
              13: ("Q3_K_L", 4.27), 14: ("Q4_K_S", 4.58), 15: ("Q4_K_M", 4.89), 16: ("Q5_K_S", 5.54),
              17: ("Q5_K_M", 5.69), 18: ("Q6_K", 6.56), 32: ("BF16", 16.0)}
UNKNOWN_TYPE = ("gguf", 8.0)  # a type not listed: its bits only scale a parameter count nothing else reads
ROUTED = re.compile(r"_exps(\.|$)")  # ffn_gate_exps, ffn_up_exps, ffn_down_exps, ffn_gate_up_exps


class Tensor(Protocol):
    """One tensor as the header lists it (weights.gguf_header.GgufTensor)."""

    @property
    def name(self) -> str: ...

    @property
    def elements(self) -> int: ...

    @property
    def size_bytes(self) -> int: ...


@dataclass(frozen=True)
class Params:
    """The parameters as the planner weighs them: all, the dense ones (read for every token), the
    routed experts' share one token reads, and the dense ones' bits per weight."""

    total: int
    dense: int
    active_routed: int
    dense_bits: float
    routing: str = ""  # how the experts were counted, for the variant's note; "" for a dense model

    @property
    def active(self) -> int:
        return self.dense + self.active_routed


def _int(metadata: Mapping[str, object], key: str, where: Path) -> int:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{where}: its header has no '{key}', which planning needs.")
    return value


def kv_bytes_per_token(metadata: Mapping[str, object], arch: str, layers: int, where: Path) -> int:
    """f16 K and V for every layer: KV heads (one number, or one per layer) times the key and
    value lengths (else the embedding width over the heads), 2 bytes each."""
    heads = metadata.get(f"{arch}.attention.head_count_kv", metadata.get(f"{arch}.attention.head_count"))
    if isinstance(heads, tuple) and heads:
        kv_heads = sum(int(h) for h in heads[:layers])
    elif isinstance(heads, int) and heads > 0:
        kv_heads = heads * layers
    else:
        raise UsageError(f"{where}: its header has no '{arch}.attention.head_count_kv', which planning needs.")
    key, value = metadata.get(f"{arch}.attention.key_length"), metadata.get(f"{arch}.attention.value_length")
    if not (isinstance(key, int) and isinstance(value, int)):
        q_heads = metadata.get(f"{arch}.attention.head_count")
        q_heads = q_heads[0] if isinstance(q_heads, tuple) and q_heads else q_heads
        if not isinstance(q_heads, int) or q_heads <= 0:
            raise UsageError(f"{where}: its header gives neither the key length nor the head count.")
        key = value = _int(metadata, f"{arch}.embedding_length", where) // q_heads
    return kv_heads * (key + value) * 2


def _expert_counts(metadata: Mapping[str, object], arch: str) -> tuple[int, int] | None:
    """(used, count): the experts a token reads of each layer's, where the header says both sensibly."""
    used, count = metadata.get(f"{arch}.expert_used_count"), metadata.get(f"{arch}.expert_count")
    if not (isinstance(used, int) and isinstance(count, int)) or isinstance(used, bool) or isinstance(count, bool):
        return None
    return (used, count) if 0 < used <= count else None


def params_of(metadata: Mapping[str, object], arch: str, tensors: Sequence[Tensor], size_bytes: int,
              bits: float) -> Params:
    """The parameters from the tensor table (see the module's note); without one, the file's
    size over the file type's nominal bits, all dense. The header's own bytes count with the
    dense weights, so the routed experts' bytes are exactly their tensors'."""
    if not tensors:
        params = max(1, round(size_bytes * 8 / bits))
        return Params(params, params, 0, bits)
    total = max(1, sum(t.elements for t in tensors))
    routed = [t for t in tensors if ROUTED.search(t.name)]
    routed_elements = sum(t.elements for t in routed)
    dense = max(1, total - routed_elements)
    dense_bits = (size_bytes - sum(t.size_bytes for t in routed)) * 8 / dense
    if not routed:
        return Params(total, dense, 0, dense_bits)
    counts = _expert_counts(metadata, arch)
    if counts is None:
        return Params(total, dense, routed_elements, dense_bits,
                      "MoE: the header gives no expert counts, so every expert is counted as read")
    used, count = counts
    return Params(total, dense, routed_elements * used // count, dense_bits,
                  f"MoE: {used} of {count} experts read per token")


def _sampling(value: object, default: float) -> float:
    """A sampling value the header stores as float32 (0.6000000238 -> 0.6), else the default."""
    return round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def recipe_from_gguf(name: str, metadata: Mapping[str, object], files: tuple[Path, ...], size_bytes: int,
                     tensors: Sequence[Tensor] = ()) -> Recipe:
    """The recipe for the GGUF `files` (the first is the one the engine opens; split parts follow),
    served as `name`, their `tensors` from every part; every figure is the header's or a default
    labelled as one."""
    entry = files[0]
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise UsageError(f"{entry}: its header names no 'general.architecture'.")
    layers = _int(metadata, f"{arch}.block_count", entry)
    trained = _int(metadata, f"{arch}.context_length", entry)
    quant, bits = FILE_TYPES.get(metadata.get("general.file_type"), UNKNOWN_TYPE)  # type: ignore[arg-type]
    params = params_of(metadata, arch, tensors, size_bytes, bits)
    title = metadata.get("general.name")
    temperature, top_p = metadata.get("general.sampling.temp"), metadata.get("general.sampling.top_p")
    model = ModelSpec(
        id=name, name=f"{title if isinstance(title, str) and title else name} (your GGUF)", served_name=name,
        hf_repo="", total_params=params.total, active_params=params.active, dense_params=params.dense,
        active_routed_params=params.active_routed, dense_bits_per_weight=params.dense_bits,
        layers=layers, max_context=trained,
        min_context=min(MIN_CONTEXT, trained), preferred_min_context=min(PREFERRED_MIN_CONTEXT, trained),
        kv_bytes_per_token=kv_bytes_per_token(metadata, arch, layers, entry),
        kv_source="read from the GGUF header (f16, every layer at full context)",
        runtime_overhead_bytes=RUNTIME_OVERHEAD_BYTES, reasoning_modes=(), default_reasoning="off",
        think_max_min_context=0,
        temperature=_sampling(temperature, 0.8), top_p=_sampling(top_p, 0.95),
        arch_llama_cpp=arch, arch_mlx="", decode_efficiency=DEFAULT_DECODE_EFFICIENCY,
    )
    variant = Variant(
        id=quant, recipe_id=name, format="gguf", repo="", revision="", size_bytes=size_bytes,
        bits_per_weight=bits, quality=0, status="confirmed", files=tuple(str(f) for f in files), entry=str(entry),
        note=f"your GGUF ({len(files)} file{'s' if len(files) > 1 else ''}), planned from its header"
             + (f"; {params.routing}" if params.routing else ""),
        local=True,
    )
    return Recipe(model=model, variants=(variant,), source=entry)

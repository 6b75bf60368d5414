#!/usr/bin/env python3
"""DeepSeek V4-Flash at full size, headers only: the engine's own memory projection against the planner's.

Writes the GGUF header of the real model (V4-Flash-0731's published geometry: 43 layers, 256
routed experts, every tensor at its true shape) as a sparse file of the true size: the header's
bytes are written and the file is truncated to where the last tensor ends, so it takes a few MB
of disk. Then runs the pinned tree's `llama-fit-params --fit-print on` on it (tools/fit-params: it
loads the header with `no_alloc`, builds the context and reserves the compute graph without
allocating, and prints per device `model context compute` MiB plus a Host row) at each context,
with the memory flags `localv4 up` passes for that plan (`serve/engines/llama_server.py`, built by
the engine module, not copied), and prints the engine's Host row beside the planner's figures.

    PYTHONPATH=src python scripts/full_size_v4_header.py [--rule converter] [--kv f16] [--server]
        [--contexts 4096,32768,131072,524288,1048576] [--dir DIR] [--fit-params PATH] [--json FILE]

About 20 s (the header is written once, each projection takes ~3 s). `--server` also starts the
real llama-server on the same stand-in with the same command line (Linux: a small LD_PRELOAD shim
stops the loader from prefetching the mapped file; see SHIM) and reads the buffers it allocates:
the first start runs llama.cpp's 2-token seq_rm probe over zero weights (~1 min, ~11 GB of page
cache for the dense weights), later ones ~10-30 s; the KV cache at 1M f16 is 7 GB of real RAM.
Results: docs/memory.md, "At full size".

Where each fact comes from:
- Geometry: the published config.json of deepseek-ai/DeepSeek-V4-Flash(-0731), as
  scripts/make_tiny_v4.py holds it (`RELEASES["0731"]`), with the vocabulary of 129,280 tokens
  (shared/research/deepseek-v4-flash.md, "Architecture numbers": hidden 4096, 64 heads, 1 KV head,
  head_dim 512, rope 64, q/o LoRA 1024, 256 routed + 1 shared experts, 6 per token, expert width
  2048, indexer 64 x 128 top-512, vocab 129,280, 43 layers). Tensor names and shapes are what the
  pinned converter writes and what src/models/deepseek4.cpp:100-172 reads; `tensor_layout` is
  checked against the converter's own output for the tiny config (tests/test_full_size_header.py).
- Metadata: every key of the tiny V4 GGUF that the pinned converter made (make_tiny_v4.py), with
  the keys that depend on the config recomputed for the real one (`config_keys`, the converter's
  conversion/deepseek.py set_gguf_parameters). The tokenizer is NOT DeepSeek's (not reachable
  here): the tiny file's ~700-token BPE, padded with placeholder tokens to 129,280 entries, so the
  vocabulary's size (the embedding, the head, the logits) is the real one.
- Per-tensor types: the per-tensor listing of a published variant is not readable from here,
  so the variant's types follow a stated rule (`--rule`), and the script checks the file's total
  against the variant's published size in the recipe:
  - `converter` (the default): the pinned converter's own `--outtype auto` output from the
    official FP8/FP4 checkpoint (conversion/deepseek.py): FP4 experts repacked as MXFP4, FP8
    weights Q8_0, BF16 weights (embedding, head, compressors, indexer projection, router) BF16,
    norms and F32 tensors F32, the hash table I32; what the tiny GGUF holds, tensor for tensor.
    For bartowski/DeepSeek-V4-Flash-0731-GGUF's MXFP4 (the recipe: 156.38 GB) it gives
    156.373 GB of tensor data, plus this 5.1 MB header: 156.378 GB, the published size to 0.002%.
  - `mxfp4_moe`: llama-quantize's MXFP4_MOE mix in the pinned tree (src/llama-quant.cpp: 3-D
    expert tensors MXFP4, every other quantizable 2-D weight Q8_0, norms, router and hash table
    kept): 154.99 GB, 0.9% under the published file, so not what bartowski's file holds.

The planner's figures are the plan's own (`planning.machine.plan` on a roomy CPU-only machine,
one slot, no draft): weights = the variant's published bytes; context = the caches' fixed part
plus per-token bytes x context (the recipe's `runtime_overhead_bytes`/`fixed_bytes` and
`kv_bytes_per_token`/`per_token_bytes`); compute = the recipe's `compute_buffer` at that context.
The engine's Host `context` is its KV caches and compressor state (`llama_memory::memory_breakdown`),
`compute` its compute buffer reservation, `model` the weights' buffers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import make_tiny_v4  # noqa: E402  (the published config and the converter tree are shared, not copied)

MIB = 1024 * 1024
CONTEXTS = (4096, 32768, 131072, 524288, 1048576)
RECIPE = "deepseek-v4-flash-0731"
MACHINE = HERE.parent / "tests" / "machines" / "epyc-9654-cpu-only.json"  # CPU only, 768 GiB of RAM
REAL_VOCAB = 129_280  # research notes, "Architecture numbers": vocab 129,280
ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT; the tiny file keeps the default

VARIANT = "MXFP4"  # bartowski/DeepSeek-V4-Flash-0731-GGUF's MXFP4, in the 0731 recipe


def real_config() -> dict:
    """V4-Flash-0731's published config, with its vocabulary."""
    return {**make_tiny_v4.RELEASES["0731"]["config"], "vocab_size": REAL_VOCAB}


# ------------------------------------------------------------------ the tensors, as the converter names them


def tensor_layout(config: dict):
    """(name, ne, source) of every tensor of the main GGUF, ne in ggml order (innermost first),
    source the official checkpoint's dtype: FP4, FP8, BF16, F32, I64, or NORM (BF16/F32 norms,
    written as F32). What src/models/deepseek4.cpp:100-172 creates, for this config."""
    H, hd, nh = config["hidden_size"], config["head_dim"], config["num_attention_heads"]
    ql, og, ol = config["q_lora_rank"], config["o_groups"], config["o_lora_rank"]
    ne, nf, hc = config["n_routed_experts"], config["moe_intermediate_size"], config["hc_mult"]
    ih, idim, vocab = config["index_n_heads"], config["index_head_dim"], config["vocab_size"]
    used, mix = config["num_experts_per_tok"], (2 + hc) * hc
    shared = nf * config["n_shared_experts"]
    yield "token_embd.weight", (H, vocab), "BF16"
    yield "output.weight", (H, vocab), "BF16"
    yield "output_norm.weight", (H,), "NORM"
    yield "output_hc_fn.weight", (hc * H, hc), "F32"
    yield "output_hc_base.weight", (hc,), "F32"
    yield "output_hc_scale.weight", (1,), "F32"
    for i in range(config["num_hidden_layers"]):
        p = f"blk.{i}."
        yield p + "attn_norm.weight", (H,), "NORM"
        yield p + "attn_sinks.weight", (nh,), "F32"
        yield p + "attn_q_a.weight", (H, ql), "FP8"
        yield p + "attn_q_a_norm.weight", (ql,), "NORM"
        yield p + "attn_q_b.weight", (ql, nh * hd), "FP8"
        yield p + "attn_kv.weight", (H, hd), "FP8"
        yield p + "attn_kv_a_norm.weight", (hd,), "NORM"
        yield p + "attn_output_a.weight", (nh * hd // og, og * ol), "FP8"
        yield p + "attn_output_b.weight", (og * ol, H), "FP8"
        for part in ("attn", "ffn"):
            yield p + f"hc_{part}_fn.weight", (hc * H, mix), "F32"
            yield p + f"hc_{part}_base.weight", (mix,), "F32"
            yield p + f"hc_{part}_scale.weight", (3,), "F32"
        ratio = config["compress_ratios"][i]
        if ratio:
            coff = 2 if ratio == 4 else 1
            yield p + "attn_compressor_kv.weight", (H, coff * hd), "BF16"
            yield p + "attn_compressor_gate.weight", (H, coff * hd), "BF16"
            yield p + "attn_compressor_ape.weight", (coff * hd, ratio), "F32"
            yield p + "attn_compressor_norm.weight", (hd,), "NORM"
        if ratio == 4:
            yield p + "indexer.proj.weight", (H, ih), "BF16"
            yield p + "indexer.attn_q_b.weight", (ql, ih * idim), "FP8"
            yield p + "indexer_compressor_kv.weight", (H, 2 * idim), "BF16"
            yield p + "indexer_compressor_gate.weight", (H, 2 * idim), "BF16"
            yield p + "indexer_compressor_ape.weight", (2 * idim, ratio), "F32"
            yield p + "indexer_compressor_norm.weight", (idim,), "NORM"
        yield p + "ffn_gate_inp.weight", (H, ne), "BF16"
        if i < config["num_hash_layers"]:
            yield p + "ffn_gate_tid2eid.weight", (used, vocab), "I64"
        else:
            yield p + "exp_probs_b.bias", (ne,), "F32"
        yield p + "ffn_norm.weight", (H,), "NORM"
        yield p + "ffn_gate_exps.weight", (H, nf, ne), "FP4"
        yield p + "ffn_down_exps.weight", (nf, H, ne), "FP4"
        yield p + "ffn_up_exps.weight", (H, nf, ne), "FP4"
        yield p + "ffn_gate_shexp.weight", (H, shared), "FP8"
        yield p + "ffn_down_shexp.weight", (shared, H), "FP8"
        yield p + "ffn_up_shexp.weight", (H, shared), "FP8"


def converter_type(name: str, ne: tuple[int, ...], source: str) -> str:
    """The pinned converter's `--outtype auto` type for an official tensor (conversion/deepseek.py:
    FP4 experts repacked as MXFP4, FP8 weights as Q8_0, BF16 kept, norms and F32 as F32, the I64
    hash table as I32)."""
    return {"FP4": "MXFP4", "FP8": "Q8_0", "BF16": "BF16", "F32": "F32", "NORM": "F32", "I64": "I32"}[source]


def mxfp4_moe_type(name: str, ne: tuple[int, ...], source: str) -> str:
    """llama-quantize's MXFP4_MOE mix in the pinned tree (src/llama-quant.cpp,
    tensor_allows_quantization and llama_tensor_get_type_impl): a tensor is quantized when it has
    2+ dimensions, its name ends in "weight", and it is not a norm, the router (ffn_gate_inp) or
    the hash table (ffn_gate_tid2eid); then 3-D (experts) -> MXFP4, else (the output and token
    embedding too) -> Q8_0. Everything else keeps the converter's type."""
    kept = converter_type(name, ne, source)
    quantize = (len(ne) >= 2 and name.endswith("weight") and "_norm.weight" not in name
                and "ffn_gate_inp.weight" not in name and "ffn_gate_tid2eid.weight" not in name)
    if not quantize:
        return kept
    return "MXFP4" if len(ne) > 2 and ne[2] > 1 else "Q8_0"


TYPE_RULES = {"converter": converter_type, "mxfp4_moe": mxfp4_moe_type}


def tensor_bytes(ne: tuple[int, ...], type_name: str, gguf) -> int:
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[type_name]]
    count = 1
    for d in ne:
        count *= d
    assert ne[0] % block == 0, (ne, type_name)
    return count // block * size


def typed_tensors(config: dict, rule: str, gguf) -> list[tuple[str, tuple[int, ...], str, int]]:
    """(name, ne, type, bytes) of every tensor under a type rule."""
    pick = TYPE_RULES[rule]
    out = []
    for name, ne, source in tensor_layout(config):
        t = pick(name, ne, source)
        out.append((name, ne, t, tensor_bytes(ne, t, gguf)))
    return out


def data_bytes(tensors) -> int:
    """The tensor data section's size: each tensor padded to the alignment, as the writer lays it."""
    return sum(-(-n // ALIGNMENT) * ALIGNMENT for *_, n in tensors)


# ------------------------------------------------------------------ the metadata


def config_keys(config: dict) -> dict[str, object]:
    """The deepseek4 keys that depend on the config, as conversion/deepseek.py sets them."""
    layers = config["num_hidden_layers"]
    return {
        "deepseek4.block_count": layers,
        "deepseek4.embedding_length": config["hidden_size"],
        "deepseek4.attention.head_count": config["num_attention_heads"],
        "deepseek4.attention.head_count_kv": config["num_key_value_heads"],
        "deepseek4.attention.key_length": config["head_dim"],
        "deepseek4.attention.value_length": config["head_dim"],
        "deepseek4.attention.q_lora_rank": config["q_lora_rank"],
        "deepseek4.attention.output_lora_rank": config["o_lora_rank"],
        "deepseek4.attention.output_group_count": config["o_groups"],
        "deepseek4.attention.compress_ratios": list(config["compress_ratios"]),
        "deepseek4.attention.indexer.head_count": config["index_n_heads"],
        "deepseek4.attention.indexer.key_length": config["index_head_dim"],
        "deepseek4.attention.indexer.top_k": config["index_topk"],
        "deepseek4.expert_count": config["n_routed_experts"],
        "deepseek4.expert_used_count": config["num_experts_per_tok"],
        "deepseek4.expert_feed_forward_length": config["moe_intermediate_size"],
        "deepseek4.swiglu_clamp_exp": [float(config["swiglu_limit"])] * layers,
        "deepseek4.swiglu_clamp_shexp": [float(config["swiglu_limit"])] * layers,
        "deepseek4.hash_layer_count": config["num_hash_layers"],
        "deepseek4.embedding_length_out": config["hidden_size"] * config["hc_mult"],
        "deepseek4.context_length": config["max_position_embeddings"],
    }


def _field_value(field, gguf):
    """A reader field's value and types, for the writer."""
    vtype = field.types[0]
    sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
    return field.contents(), vtype, sub


def write_header(path: Path, tiny: Path, config: dict, rule: str, gguf, name: str) -> dict:
    """The sparse full-size GGUF at `path`: the tiny file's metadata with the real config's keys,
    the real tensor list under `rule`; returns {header_bytes, file_bytes, tensors, by_type}."""
    reader = gguf.GGUFReader(str(tiny))
    tensors = typed_tensors(config, rule, gguf)
    writer = gguf.GGUFWriter(str(path), "deepseek4")
    writer.kv_data[0].clear()  # the architecture key comes from the tiny file, in its place
    real = config_keys(config)
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value, vtype, sub = _field_value(field, gguf)
        if key in real:
            value = real[key]
        elif key == "general.name":
            value = name
        elif key == "general.size_label":
            value = f"{config['n_routed_experts']}x{_size_label(config)}"
        elif key == "tokenizer.ggml.tokens":
            value = list(value) + [f"<｜placeholder▁{i}｜>" for i in range(len(value), config["vocab_size"])]
        elif key == "tokenizer.ggml.token_type":
            value = list(value) + [int(gguf.TokenType.NORMAL)] * (config["vocab_size"] - len(value))
        writer.add_key_value(key, value, vtype, sub_type=sub)
    import numpy as np

    for tname, ne, tname_type, nbytes in tensors:
        writer.add_tensor_info(tname, tuple(reversed(ne)), np.dtype(np.float32), nbytes,
                               raw_dtype=gguf.GGMLQuantizationType[tname_type])
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    header = path.stat().st_size
    total = -(-header // ALIGNMENT) * ALIGNMENT + data_bytes(tensors)  # the data starts aligned
    with open(path, "r+b") as f:
        f.truncate(total)
    by_type: dict[str, int] = {}
    for *_, t, n in tensors:
        by_type[t] = by_type.get(t, 0) + n
    return {"header_bytes": header, "file_bytes": total, "tensors": len(tensors), "by_type": by_type}


def _size_label(config: dict) -> str:
    per_expert = 3 * config["hidden_size"] * config["moe_intermediate_size"] * config["num_hidden_layers"]
    return f"{per_expert / 1e9:.1f}B"


def gguf_module():
    """gguf-py from the pinned tree (the converter's own writer). Its folder leaves sys.path once
    `gguf` is imported: it also holds a `tests` package, which would shadow the repo's own."""
    folder = str(make_tiny_v4.converter_tree(make_tiny_v4.cache_root()) / "gguf-py")
    sys.path.insert(0, folder)
    try:
        import gguf
    finally:
        sys.path.remove(folder)
    return gguf


def tiny_gguf() -> Path:
    """The tiny V4-Flash-0731 GGUF (test build), made by the pinned converter (cached)."""
    return make_tiny_v4.make_gguf(make_tiny_v4.Build("0731", "test"))


# ------------------------------------------------------------------ the planner and the engine


def plan_for(variant_id: str, context: int, kv_type: str | None):
    """The plan `localv4 plan` makes for this variant and context on a CPU-only machine with room
    for anything (the EPYC 9654 profile, 768 GiB), one slot, no draft; `kv_type` overrides the
    KV type the planner chose."""
    from localv4.hardware import RecordedSources, detect
    from localv4.planning import machine as planner
    from localv4.recipes import load_catalog

    recipe = load_catalog().recipe(RECIPE)
    variant = next(v for v in recipe.variants if v.id == variant_id)
    hw = detect(RecordedSources.from_file(MACHINE))
    plan = planner.plan(hw, recipe, variant=variant, ctx=context, speculative=False, parallel=1)
    if kv_type and kv_type != plan.kv_type:
        plan = _with_kv_type(plan, kv_type)
    return plan


def _with_kv_type(plan, kv_type: str):
    """The plan with another KV type: its KV cache and runtime figures recomputed by the planner's
    own functions (planning/memory.py)."""
    from localv4.planning import memory

    model, ctx = plan.model, plan.context
    mem = dataclasses.replace(plan.memory, kv_cache=memory.kv_bytes(model, ctx, kv_type),
                              overhead=memory.overhead_bytes(model, ctx, kv_type))
    return dataclasses.replace(plan, kv_type=kv_type, memory=mem)


def planner_figures(plan) -> dict[str, float]:
    """The plan's bytes as the engine's Host row splits them, MiB."""
    cost = plan.model.kv_cost(plan.kv_type)
    compute = cost.compute_bytes(plan.context)
    assert plan.memory.overhead == cost.fixed_bytes + compute, "the plan's runtime is fixed part + compute"
    return {"model": plan.memory.weights / MIB,
            "context": (plan.memory.kv_cache + cost.fixed_bytes) / MIB,
            "compute": compute / MIB}


def fit_tool(binary: Path):
    """The projection tool as localv4 runs it (its flags from its own --help)."""
    from localv4.install.locate import FitParamsBinary, parse_help_flags

    text = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60).stdout
    return FitParamsBinary(binary, "pinned", parse_help_flags(text))


def project(plan, path: Path, tool) -> dict:
    """The engine's Host row (MiB) for `up`'s flags, through localv4's own projection code, and
    the seconds it took."""
    from localv4.serve.projection import project as engine_project

    started = time.monotonic()
    host = next(d for d in engine_project(plan, path, tool).devices if d.device == "Host")
    return {"model": host.model // MIB, "context": host.context // MIB, "compute": host.compute // MIB,
            "seconds": time.monotonic() - started}


def find_fit_params() -> Path:
    from localv4.install import layout

    for flavour in ("cpu", *[f for f in layout.FLAVOURS if f != "cpu"]):
        from localv4.pins import LLAMA_CPP_PYTHON_VERSION

        path = layout.fit_params_in(layout.install_dir(LLAMA_CPP_PYTHON_VERSION, flavour))
        if path.is_file():
            return path
    found = shutil.which("llama-fit-params")
    if found:
        return Path(found)
    raise SystemExit("no llama-fit-params: run `localv4 install llama.cpp --cpu --yes` first, or pass --fit-params")


# ------------------------------------------------------------------ the real server on the same file (--server)

# llama-server memory-maps the weights with MAP_POPULATE and POSIX_MADV_WILLNEED
# (src/llama-mmap.cpp:480, 500): on a sparse stand-in that would fill the page cache with 156 GB of
# zeros. This shim drops both, so the load maps the file and touches nothing; with --no-warmup no
# weight is ever read. The buffers the engine allocates (KV, state, compute) are not affected.
SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/types.h>
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (!real_mmap) real_mmap = dlsym(RTLD_NEXT, "mmap");
    return real_mmap(addr, len, prot, flags & ~MAP_POPULATE, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}
int posix_madvise(void *addr, size_t len, int advice) { (void) addr; (void) len; (void) advice; return 0; }
"""


def build_shim(out_dir: Path) -> Path:
    source, lib = out_dir / "no_prefetch.c", out_dir / "libno_prefetch.so"
    source.write_text(SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(source), "-ldl"], check=True)
    return lib


def server_load(server: Path, plan, path: Path, shim: Path, timeout: float = 900) -> dict:
    """Start llama-server with `localv4 up`'s command line for the plan (plus --no-warmup and -lv 4,
    so it logs its buffers), wait until /health answers, read the buffers it allocated and its
    RSS, stop it."""
    import measure_memory

    from localv4.install.locate import probe_llama_server
    from localv4.serve.engines import llama_server
    from localv4.serve.engines.base import EngineInputs

    port = measure_memory.free_port()
    argv = [*llama_server.command_for(probe_llama_server(server),
                                      EngineInputs(plan, path, "127.0.0.1", port, None, None)).argv,
            "--no-warmup", "-lv", "4"]
    started = time.monotonic()
    status, usage, text = measure_memory.serve_once(argv, port, _rss, timeout, env={**os.environ, "LD_PRELOAD": str(shim)})
    if status != "ok":
        raise RuntimeError(f"llama-server on the stand-in: {status}")
    figures = measure_memory.parse_log(text)
    return {"context": figures["kv_mib"] + figures["state_mib"], "compute": figures["compute_mib"],
            "output": figures["output_mib"], "model": figures["model_mib"],
            "seconds": round(time.monotonic() - started, 1), **usage}


def _rss(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return fields


# ------------------------------------------------------------------ the run


def run(rule: str, kv_type: str | None, contexts, out_dir: Path, binary: Path, variant: str = VARIANT,
        with_server: bool = False) -> dict:
    gguf = gguf_module()
    config = real_config()
    path = out_dir / f"DeepSeek-V4-Flash-0731-{variant}-{rule}-header.gguf"
    made = write_header(path, tiny_gguf(), config, rule, gguf, f"DeepSeek V4 Flash 0731 ({variant} header only)")
    used = os.stat(path).st_blocks * 512
    server = binary.parent / "llama-server"
    tool = fit_tool(binary)
    shim = build_shim(out_dir) if with_server else None
    rows = []
    for ctx in contexts:
        plan = plan_for(variant, ctx, kv_type)
        from localv4.serve.projection import projection_argv

        engine = project(plan, path, tool)
        mine = planner_figures(plan)
        row = {"context": ctx, "kv_type": plan.kv_type, "flags": projection_argv(plan, path, tool),
               "engine": {k: engine[k] for k in ("model", "context", "compute")},
               "planner": mine, "seconds": round(engine["seconds"], 1)}
        if shim is not None:
            row["server"] = server_load(server, plan, path, shim)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return {"variant": variant, "rule": rule, "published_bytes": _published_bytes(variant),
            "file": str(path), **made, "disk_bytes_used": used, "rows": rows}


def _published_bytes(variant: str) -> int | None:
    from localv4.recipes import load_catalog

    recipe = load_catalog().recipe(RECIPE)
    v = next((v for v in recipe.variants if v.id == variant), None)
    return v.size_bytes if v else None


def table(result: dict) -> str:
    lines = ["| context | KV | engine model MiB | planner model MiB | ratio | engine context MiB | planner context MiB "
             "| ratio | engine compute MiB | planner compute MiB | ratio | engine total | planner total | ratio |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        e, p = r["engine"], r["planner"]
        cells = [f"{r['context']:,}", r["kv_type"]]
        for part in ("model", "context", "compute"):
            cells += [f"{e[part]:,}", f"{p[part]:,.0f}", _ratio(p[part], e[part])]
        te, tp = sum(e.values()), sum(p.values())
        cells += [f"{te:,}", f"{tp:,.0f}", _ratio(tp, te)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def server_table(result: dict) -> str:
    """The real server's buffers on the same file and flags, against the projection and the planner."""
    lines = ["| context | KV | server context MiB | projected | planner | planner/server | server compute MiB "
             "| projected | planner | planner/server | server RSS MiB (anon / file) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        if "server" not in r:
            continue
        e, p, s = r["engine"], r["planner"], r["server"]
        cells = [f"{r['context']:,}", r["kv_type"]]
        for part in ("context", "compute"):
            cells += [f"{s[part]:,.1f}", f"{e[part]:,}", f"{p[part]:,.0f}", _ratio(p[part], s[part])]
        cells.append(f"{s.get('RssAnon', 0):,.0f} / {s.get('RssFile', 0):,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(planner: float, engine: float) -> str:
    return f"{planner / engine:.3f}" if engine else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", choices=sorted(TYPE_RULES), default="converter",
                        help="per-tensor types (see above); the variant is always the 0731 recipe's MXFP4")
    parser.add_argument("--kv", default=None, help="KV cache type (default: the plan's)")
    parser.add_argument("--contexts", default=",".join(map(str, CONTEXTS)))
    parser.add_argument("--dir", type=Path, default=None, help="where the sparse file goes (default: a temp dir)")
    parser.add_argument("--fit-params", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--server", action="store_true",
                        help="also start the real llama-server on the stand-in (Linux; weights never read) "
                             "and read the buffers it allocates")
    args = parser.parse_args(argv)
    binary = args.fit_params or find_fit_params()
    contexts = [int(c) for c in args.contexts.split(",")]
    with tempfile.TemporaryDirectory(prefix="v4-header-") as tmp:
        out_dir = args.dir or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        result = run(args.rule, args.kv, contexts, out_dir, binary, with_server=args.server)
    pub = result["published_bytes"]
    print(f"variant {result['variant']} (rule {result['rule']}): {result['tensors']} tensors, "
          f"header {result['header_bytes'] / 1e6:.1f} MB, file {result['file_bytes'] / 1e9:.2f} GB"
          + (f" (published {pub / 1e9:.2f} GB: {result['file_bytes'] / pub - 1:+.3%})" if pub else "")
          + f", disk used {result['disk_bytes_used'] / 1e6:.1f} MB")
    print("by type (GB): " + ", ".join(f"{t} {n / 1e9:.2f}" for t, n in sorted(result["by_type"].items())))
    print(f"engine: {binary}")
    for r in result["rows"]:
        print(f"  -c {r['context']}: {' '.join(r['flags'][2:])}  ({r['seconds']} s)")
    print(table(result))
    if args.server:
        print()
        print(server_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Make a DeepSeek V4-Flash with the real architecture here: random weights, official layout, real GGUF.

Writes a checkpoint in the official Hugging Face layout of deepseek-ai/DeepSeek-V4-Flash (FP8 E4M3
weights with UE8M0 128x128 block scales, FP4 routed experts packed two to a byte with one UE8M0
scale per 32, BF16 norms and gates, F32 hyper-connection and sink tensors, I64 hash-routing
tables), then converts it with `convert_hf_to_gguf.py` from the pinned llama.cpp tree (the
llama-cpp-python sdist in src/localv4/pins.py) into the GGUF llama-server loads. The
converter embeds the real chat template from that tree's models/templates/ (it picks the 0731
template when the checkpoint's folder name says 0731). The 0731 checkpoint also carries DSpark
draft stages (`mtp.*`), exported with the converter's `--dspark` as a second GGUF (architecture
`dflash`, for `llama-server -md FILE --spec-type draft-dspark`); mlx-vlm's DSpark drafter reads the
same stages from the checkpoint itself (`make_checkpoint`). `--mlx` also writes the MLX counterpart
for mlx-vlm from the same config and the same tokenizer (so the drafter's vocabulary is the
target's), through scripts/make_tiny_mlx.py's writer.

    python scripts/make_tiny_v4.py [--release preview|0731] [--build test|measure] [--mlx] [--print-path]

Two builds, one architecture:
- `measure`: every dimension that sets memory per token of context is as published (the list
  below), so what llama-server reports for KV and compute buffers per token is V4-Flash's own.
  Only what has no per-token cost is shrunk. About 5.5 GB of GGUF; llama-server maps it.
- `test`: the suite's build, ~40 MB: 6 layers with the real per-layer pattern, narrow hidden and
  LoRA widths. Same architecture, same template, same tokenizer.

What stays true in `measure`, and why (pinned tree, vendor/llama.cpp):
- num_hidden_layers 43, compress_ratios (0,0 then 4/128 alternating, 4 last): one KV cache per
  kind of layer, sized per layer: src/llama-kv-cache-dsv4.cpp:1292-1310 (CSA cache ctx/4 cells on
  ratio-4 layers, HCA ctx/128 on ratio-128 layers, indexer ctx/4 on ratio-4 layers).
- head_dim 512, num_key_value_heads 1: the width of every raw/CSA/HCA cache row
  (llama-kv-cache-dsv4.cpp:883-887, K-only rows of n_embd_head_k).
- index_head_dim 128: the indexer cache row (llama-kv-cache-dsv4.cpp:1264-1267).
- sliding_window 128: the raw cache (llama-kv-cache-dsv4.cpp:1255, an iSWA cache;
  src/models/deepseek4.cpp:68 makes every layer windowed).
- num_attention_heads 64, index_n_heads 64, index_topk 512: compute buffers that grow with
  context: attention scores over the compressed cache (deepseek4.cpp:918) and the indexer's
  scores over ctx/4 rows per head (deepseek4.cpp:602-671).
- qk_rope_head_dim 64, hidden_size 4096, q_lora_rank 1024, o_groups 8, o_lora_rank 1024,
  hc_mult 4: the per-ubatch activations in the compute buffer (deepseek4.cpp:53, 117, 122),
  kept so the fixed part measured here is V4-Flash's too.
What is shrunk, and why it costs nothing per token:
- n_routed_experts 256 -> 8 and moe_intermediate_size 2048 -> 128: weights only
  (deepseek4.cpp:166-172); the compute buffer holds num_experts_per_tok (kept: 6) rows per token.
- vocab_size 129,280 -> this tokenizer's ~800: the embedding and head (deepseek4.cpp:100) and one
  logits row per output, not per context token. The real tokenizer is not reachable here; this
  one is a byte-level BPE (make_tiny_mlx.py) with V4's special tokens.
The test build also shrinks hidden_size, q/o LoRA ranks and layers (6): widths of weights and
per-ubatch activations only.

The converter refuses a tokenizer whose pre-tokenizer hash it does not know. This script registers
its own the way convert_hf_to_gguf_update.py does for a new model: the hash maps to "deepseek-v3"
(V4's pre-tokenizer), through one checked patch of `TextModel.get_vocab_base_pre` that fails loudly
if the tree moves it.

Results are cached under ~/.cache/localv4/tiny-v4/<llama-cpp-python pin>-<script hash>/ so CI
makes each build once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_tiny_mlx  # noqa: E402  (the tokenizer and MLX writer are shared, not copied)

SEED = 11
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
SPECIAL_TOKENS = [BOS, EOS, "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "<｜▁pad▁｜>"]
# The MLX build's chat template: V4's turn markers (the real template's shape, without its tools
# and DSML), with the thinking switch and the "max" effort line the tests look for.
MLX_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if reasoning_effort is defined and reasoning_effort == 'max' %}"
    "{{- 'Think as long as it takes.' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{- message['content'] }}"
    "{%- elif message['role'] == 'user' %}{{- '<｜User｜>' + message['content'] }}"
    "{%- elif message['role'] == 'assistant' %}"
    "{{- '<｜Assistant｜></think>' + message['content'] + '<｜end▁of▁sentence｜>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<｜Assistant｜>' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '</think>' }}"
    "{%- else %}{{- '<think>' }}{%- endif %}"
    "{%- endif %}"
)
MLX_TOKENIZER = make_tiny_mlx.TokenizerSpec(tuple(SPECIAL_TOKENS), BOS, EOS, "<｜▁pad▁｜>", MLX_CHAT_TEMPLATE)

# The published config.json of deepseek-ai/DeepSeek-V4-Flash (2026-04-24), as the hub serves it.
PREVIEW_RATIOS = [0, 0] + [4, 128] * 20 + [4] + [0]  # 43 layers + the MTP block
PUBLISHED = {
    "architectures": ["DeepseekV4ForCausalLM"],
    "model_type": "deepseek_v4",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "expert_dtype": "fp4",
    "hc_eps": 1e-06,
    "hc_mult": 4,
    "hc_sinkhorn_iters": 20,
    "head_dim": 512,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "index_head_dim": 128,
    "index_n_heads": 64,
    "index_topk": 512,
    "max_position_embeddings": 1048576,
    "moe_intermediate_size": 2048,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "norm_topk_prob": True,
    "num_attention_heads": 64,
    "num_experts_per_tok": 6,
    "num_hidden_layers": 43,
    "num_hash_layers": 3,
    "num_key_value_heads": 1,
    "num_nextn_predict_layers": 1,
    "o_groups": 8,
    "o_lora_rank": 1024,
    "q_lora_rank": 1024,
    "qk_rope_head_dim": 64,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "scale_fmt": "ue8m0", "weight_block_size": [128, 128]},
    "rms_norm_eps": 1e-06,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 16,
                     "original_max_position_embeddings": 65536, "type": "yarn"},
    "rope_theta": 10000,
    "routed_scaling_factor": 1.5,
    "scoring_func": "sqrtsoftplus",
    "sliding_window": 128,
    "swiglu_limit": 10.0,
    "tie_word_embeddings": False,
    "topk_method": "noaux_tc",
    "torch_dtype": "bfloat16",
    "compress_rope_theta": 160000,
    "compress_ratios": PREVIEW_RATIOS,
}
# The DSpark draft's own settings. Its published values were not reachable here: these are
# plausible (3 stages as 0731's ratio list has; target layers spread over the trunk) and set no
# per-token memory of the target.
DSPARK = {"dspark_block_size": 16, "dspark_target_layer_ids": [1, 21, 41], "dspark_noise_token_id": 6,
          "dspark_markov_rank": 64}
# 0731 (deepseek-ai/DeepSeek-V4-Flash-0731): the same 43 main layers and ratios; its list has 46
# entries (43 + 3 DSpark stages, which have no MTP head). Nothing that sets per-token memory moves.
RELEASES = {
    "preview": {"name": "DeepSeek-V4-Flash-tiny", "config": PUBLISHED},
    "0731": {"name": "DeepSeek-V4-Flash-0731-tiny",
             "config": {**PUBLISHED, "num_nextn_predict_layers": 0,
                        "compress_ratios": PREVIEW_RATIOS[:-1] + [0, 0, 0], **DSPARK}},
}
# Shrunk in both builds (no per-token cost, see the docstring).
NO_PER_TOKEN_COST = {"n_routed_experts": 8, "moe_intermediate_size": 128}
# The test build: 6 layers with the real pattern (window, window, CSA, HCA, CSA, HCA), hash
# routing on the first 3, and narrow widths.
TEST_BUILD = {"num_hidden_layers": 6, "hidden_size": 256, "q_lora_rank": 64, "o_lora_rank": 64,
              "moe_intermediate_size": 64}


@dataclass(frozen=True)
class Build:
    release: str  # preview | 0731
    kind: str  # test | measure

    @property
    def name(self) -> str:
        return RELEASES[self.release]["name"] + ("" if self.kind == "test" else "-measure")

    def config(self, vocab: int) -> dict:
        config = {**RELEASES[self.release]["config"], **NO_PER_TOKEN_COST, "vocab_size": vocab}
        if self.kind == "test":
            config.update(TEST_BUILD)
            main = PREVIEW_RATIOS[:TEST_BUILD["num_hidden_layers"]]
            tail = len(config["compress_ratios"]) - PUBLISHED["num_hidden_layers"]
            config["compress_ratios"] = main + [0] * tail
            if "dspark_target_layer_ids" in config:
                config["dspark_target_layer_ids"] = [1, 3, 5]
        return config


# ------------------------------------------------------------------ checkpoint (official layout)

def tensor_specs(config: dict):
    """(name, dtype, shape) of every tensor in the official checkpoint for this config."""
    H, hd, nh = config["hidden_size"], config["head_dim"], config["num_attention_heads"]
    ql, og, ol = config["q_lora_rank"], config["o_groups"], config["o_lora_rank"]
    ne, nf, hc = config["n_routed_experts"], config["moe_intermediate_size"], config["hc_mult"]
    ih, idim, vocab = config["index_n_heads"], config["index_head_dim"], config["vocab_size"]
    mix = (2 + hc) * hc
    yield "embed.weight", "BF16", (vocab, H)
    yield "head.weight", "BF16", (vocab, H)
    yield "norm.weight", "BF16", (H,)
    yield "hc_head_fn", "F32", (hc, hc * H)
    yield "hc_head_base", "F32", (hc,)
    yield "hc_head_scale", "F32", (1,)
    for i in range(config["num_hidden_layers"]):
        p = f"layers.{i}."
        yield p + "attn_norm.weight", "BF16", (H,)
        yield p + "ffn_norm.weight", "BF16", (H,)
        yield p + "attn.attn_sink", "F32", (nh,)
        yield p + "attn.q_norm.weight", "BF16", (ql,)
        yield p + "attn.kv_norm.weight", "BF16", (hd,)
        yield p + "attn.wq_a.weight", "FP8", (ql, H)
        yield p + "attn.wq_b.weight", "FP8", (nh * hd, ql)
        yield p + "attn.wkv.weight", "FP8", (hd, H)
        yield p + "attn.wo_a.weight", "FP8", (og * ol, nh * hd // og)
        yield p + "attn.wo_b.weight", "FP8", (H, og * ol)
        for part in ("attn", "ffn"):
            yield p + f"hc_{part}_fn", "F32", (mix, hc * H)
            yield p + f"hc_{part}_base", "F32", (mix,)
            yield p + f"hc_{part}_scale", "F32", (3,)
        ratio = config["compress_ratios"][i]
        if ratio:
            coff = 2 if ratio == 4 else 1
            yield p + "attn.compressor.ape", "F32", (ratio, coff * hd)
            yield p + "attn.compressor.wkv.weight", "BF16", (coff * hd, H)
            yield p + "attn.compressor.wgate.weight", "BF16", (coff * hd, H)
            yield p + "attn.compressor.norm.weight", "BF16", (hd,)
        if ratio == 4:
            yield p + "attn.indexer.wq_b.weight", "FP8", (ih * idim, ql)
            yield p + "attn.indexer.weights_proj.weight", "BF16", (ih, H)
            yield p + "attn.indexer.compressor.ape", "F32", (ratio, 2 * idim)
            yield p + "attn.indexer.compressor.wkv.weight", "BF16", (2 * idim, H)
            yield p + "attn.indexer.compressor.wgate.weight", "BF16", (2 * idim, H)
            yield p + "attn.indexer.compressor.norm.weight", "BF16", (idim,)
        yield p + "ffn.gate.weight", "BF16", (ne, H)
        if i < config["num_hash_layers"]:
            yield p + "ffn.gate.tid2eid", "I64", (vocab, config["num_experts_per_tok"])
        else:
            yield p + "ffn.gate.bias", "F32", (ne,)
        for w, shape in (("w1", (nf, H)), ("w2", (H, nf)), ("w3", (nf, H))):
            yield p + f"ffn.shared_experts.{w}.weight", "FP8", shape
            for e in range(ne):
                yield p + f"ffn.experts.{e}.{w}.weight", "FP4", shape


def dspark_specs(config: dict):
    """The DSpark draft's tensors as 0731 ships them beside the trunk: `mtp.<stage>.*`, each stage a
    full V4 block with uncompressed attention, plus the projection of the target's hidden states,
    the Markov head and the confidence head (what conversion/deepseek.py's DeepseekV4DSparkModel
    and src/models/dflash.cpp:108-170 read)."""
    H, hc, vocab, rank = config["hidden_size"], config["hc_mult"], config["vocab_size"], config["dspark_markov_rank"]
    stages = len(config["compress_ratios"]) - config["num_hidden_layers"]
    stage_config = {**config, "num_hidden_layers": stages, "compress_ratios": [0] * stages, "num_hash_layers": 0}
    last = f"mtp.{stages - 1}."
    yield "mtp.0.main_proj.weight", "FP8", (H, H * len(config["dspark_target_layer_ids"]))
    yield "mtp.0.main_norm.weight", "BF16", (H,)
    yield "mtp.0.markov_head.markov_w1.weight", "BF16", (vocab, rank)
    yield "mtp.0.markov_head.markov_w2.weight", "BF16", (vocab, rank)
    yield "mtp.0.confidence_head.proj.weight", "BF16", (1, H + rank)
    # The output norm and hyper-connection head sit on the LAST stage, where the draft's blocks
    # end (mlx-vlm's DSparkStage reads them there; llama.cpp's converter takes either stage).
    yield last + "norm.weight", "BF16", (H,)
    yield last + "hc_head_fn", "F32", (hc, hc * H)
    yield last + "hc_head_base", "F32", (hc,)
    yield last + "hc_head_scale", "F32", (1,)
    for name, dtype, shape in tensor_specs(stage_config):
        if name.startswith("layers."):
            yield "mtp." + name.removeprefix("layers."), _whole_blocks(dtype, shape), shape


def _whole_blocks(dtype: str, shape: tuple[int, ...]) -> str:
    """FP8 for a draft weight only where 128x128 scale blocks tile it exactly, as every FP8 weight
    of the real checkpoint does; BF16 otherwise (the test build's 64-wide LoRA and expert dims).
    mlx-vlm expands each block scale over 128 rows and columns without trimming, so a partial
    block gives it more scales than weights; the trunk's geometry stays as it is."""
    if dtype == "FP8" and any(d % 128 for d in shape):
        return "BF16"
    return dtype


def tensor_bytes(name: str, dtype: str, shape: tuple[int, ...], config: dict, silent: list[int], rng):
    """[(name, safetensors dtype, shape, bytes)]: the tensor and, for FP8/FP4, its scale."""
    import numpy as np

    rows, cols = shape if len(shape) == 2 else (shape[0], 1)
    gain = max(0, round(np.log2(np.sqrt(cols))))  # weights ~ 1/sqrt(fan_in)
    if dtype == "FP8":
        # E4M3 with the top exponent bit clear: |w| < 2, never NaN; one UE8M0 scale per 128x128.
        data = (rng.integers(0, 256, size=shape, dtype=np.uint8) & 0b1011_1111).tobytes()
        scale = np.full((-(-rows // 128), -(-cols // 128)), 127 - gain - 1, dtype=np.uint8)
        return [(name, "F8_E4M3", shape, data), (name.removesuffix("weight") + "scale", "F8_E8M0", scale.shape, scale.tobytes())]
    if dtype == "FP4":
        # Two E2M1 codes per byte, one UE8M0 scale per 32 values (the converter's MXFP4 source).
        data = rng.integers(0, 256, size=(rows, cols // 2), dtype=np.uint8).tobytes()
        scale = np.full((rows, cols // 32), 127 - gain - 1, dtype=np.uint8)
        return [(name, "I8", (rows, cols // 2), data), (name.removesuffix("weight") + "scale", "F8_E8M0", scale.shape, scale.tobytes())]
    if dtype == "I64":
        vocab, per_token = shape
        table = rng.random((vocab, config["n_routed_experts"])).argsort(axis=1)[:, :per_token]
        return [(name, "I64", shape, table.astype(np.int64).tobytes())]
    if name.endswith("norm.weight"):
        values = np.ones(shape, dtype=np.float32)
    elif name.endswith(("hc_attn_scale", "hc_ffn_scale", "hc_head_scale", "_base", "attn_sink", ".bias", ".ape")):
        values = rng.normal(0.0, 0.1, size=shape).astype(np.float32)
    else:
        values = rng.normal(0.0, 1.0 / np.sqrt(cols) if name != "embed.weight" else 1.0, size=shape).astype(np.float32)
    if name == "head.weight":
        values = rng.normal(0.0, make_tiny_mlx.WEIGHT_STD, size=shape).astype(np.float32)
        values[silent] = 0.0  # greedy decoding never picks a special token: replies run to max_tokens
    if dtype == "BF16":
        data = (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()
        return [(name, "BF16", shape, data)]
    return [(name, "F32", shape, values.tobytes())]


def write_safetensors(path: Path, tensors: list[tuple[str, str, tuple, bytes]]) -> None:
    """The safetensors format itself (8-byte header size, JSON header, data): no torch needed."""
    header, offset = {}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as out:
        out.write(len(raw).to_bytes(8, "little"))
        out.write(raw)
        for *_, data in tensors:
            out.write(data)


def write_checkpoint(build: Build, out: Path) -> Path:
    """Tokenizer, config.json and sharded safetensors (one shard per layer) in `out`."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    tok = make_tiny_mlx.train_tokenizer(SPECIAL_TOKENS)
    save_tokenizer(tok, out)
    config = build.config(tok.get_vocab_size())
    config.update(bos_token_id=tok.token_to_id(BOS), eos_token_id=tok.token_to_id(EOS))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]}) + "\n")
    silent = make_tiny_mlx.silent_token_ids(tok, SPECIAL_TOKENS)
    rng = np.random.default_rng(SEED)
    shards: dict[str, list] = {}
    specs = list(tensor_specs(config)) + (list(dspark_specs(config)) if "dspark_block_size" in config else [])
    for name, dtype, shape in specs:
        shard = name.split(".")[1] if name.startswith("layers.") else name.split(".")[0] if name.startswith("mtp.") else "root"
        shards.setdefault(shard, []).append((name, dtype, shape))
    weight_map, total = {}, 0
    for n, (shard, specs) in enumerate(shards.items(), 1):
        file = f"model-{n:05d}-of-{len(shards):05d}.safetensors"
        tensors = [t for spec in specs for t in tensor_bytes(*spec, config, silent, rng)]
        write_safetensors(out / file, tensors)
        for name, _, _, data in tensors:
            weight_map[name] = file
            total += len(data)
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1) + "\n")
    return out


def save_tokenizer(tok, out: Path) -> None:
    """tokenizer.json + tokenizer_config.json, no chat template: the converter adds the real one."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS,
                                   pad_token="<｜▁pad▁｜>", model_max_length=PUBLISHED["max_position_embeddings"])
    fast.save_pretrained(str(out))
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "chat_template.jinja").unlink(missing_ok=True)


# ------------------------------------------------------------------ conversion (pinned tree)

CONVERT_WRAPPER = r'''
import sys
from pathlib import Path
tree, ours = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
sys.path.insert(0, str(tree))
sys.path.insert(1, str(tree / "gguf-py"))
from conversion import base
original = getattr(base.TextModel, "get_vocab_base_pre", None)
if original is None:
    sys.exit("make_tiny_v4: the pinned converter has no TextModel.get_vocab_base_pre; update the patch")
def get_vocab_base_pre(self, tokenizer):
    if Path(tokenizer.name_or_path).resolve() == ours:
        return "deepseek-v3"  # our tokenizer, registered as V4's pre-tokenizer
    return original(self, tokenizer)
base.TextModel.get_vocab_base_pre = get_vocab_base_pre
sys.argv = ["convert_hf_to_gguf.py", *sys.argv[2:]]
import runpy
runpy.run_path(str(tree / "convert_hf_to_gguf.py"), run_name="__main__")
'''


def convert(checkpoint: Path, gguf: Path, tree: Path, *extra: str) -> Path:
    """Run the pinned convert_hf_to_gguf.py (with our tokenizer registered) into `gguf`."""
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = Path(tmp) / "convert_tiny_v4.py"
        wrapper.write_text(CONVERT_WRAPPER)
        command = [sys.executable, str(wrapper), str(tree), str(checkpoint),
                   "--outfile", str(gguf), "--outtype", "auto", *extra]
        subprocess.run(command, check=True, env={**os.environ, "NO_LOCAL_GGUF": "1"})
    return gguf


def pinned_version() -> str:
    sys.path.insert(0, str(HERE.parent / "src"))
    from localv4.pins import LLAMA_CPP_PYTHON_VERSION

    return LLAMA_CPP_PYTHON_VERSION


def converter_tree(root: Path) -> Path:
    """The converter, gguf-py and templates of the pinned sdist, unpacked once into `root`."""
    tree = root / "llama.cpp"
    if (tree / "convert_hf_to_gguf.py").is_file():
        return tree
    from localv4.install.native import fetch_sdist

    class Quiet:
        def stage(self, name: str) -> None: ...
        def percent(self, value: float) -> None: ...
        def note(self, message: str) -> None: ...
        def stop(self) -> None: ...

    root.mkdir(parents=True, exist_ok=True)
    sdist = fetch_sdist(root / "download.log", Quiet())
    prefix = sdist.name.removesuffix(".tar.gz") + "/vendor/llama.cpp/"
    wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "models/templates/")
    staged = Path(tempfile.mkdtemp(dir=root))
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers()
                   if m.name.startswith(prefix) and m.name[len(prefix):].startswith(wanted)]
        archive.extractall(staged, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    os.replace(staged / prefix, tree)
    shutil.rmtree(staged, ignore_errors=True)
    return tree


def script_hash() -> str:
    sources = [Path(__file__), HERE / "make_tiny_mlx.py"]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]


def cache_root() -> Path:
    from localv4.install.cache import cache_root as localv4_cache

    return localv4_cache() / "tiny-v4" / f"{pinned_version()}-{script_hash()}"


def gguf_path(build: Build) -> Path:
    return cache_root() / f"{build.name}.gguf"


def mlx_path(build: Build) -> Path:
    return cache_root() / f"{build.name}-mlx"


def make_gguf(build: Build) -> Path:
    """The build's GGUF, made once per pin and script version (cached), then reused."""
    final = gguf_path(build)
    if final.is_file():
        return final
    root = cache_root()
    tree = converter_tree(root)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        checkpoint = write_checkpoint(build, Path(tmp) / build.name)
        staged = convert(checkpoint, Path(tmp) / final.name, tree)
        (root / f"{build.name}.config.json").write_text((checkpoint / "config.json").read_text())
        if "dspark_block_size" in json.loads((checkpoint / "config.json").read_text()):
            draft = convert(checkpoint, Path(tmp) / dspark_path(build).name, tree,
                            "--dspark", "--target-model-dir", str(checkpoint))
            os.replace(draft, dspark_path(build))
        os.replace(staged, final)
    return final


def dspark_path(build: Build) -> Path:
    """The DSpark draft GGUF (architecture `dflash`) converted with `--dspark` beside a 0731 build."""
    return cache_root() / f"{build.name}-DSpark.gguf"


def checkpoint_path(build: Build) -> Path:
    return cache_root() / f"{build.name}-hf"


def make_checkpoint(build: Build) -> Path:
    """The build's Hugging Face checkpoint itself (cached): for 0731, the repo mlx-vlm's DSpark
    drafter reads its `mtp.*` stages from (`--draft-model DIR`), beside the MLX target."""
    final = checkpoint_path(build)
    if (final / "model.safetensors.index.json").is_file():
        return final
    cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        write_checkpoint(build, Path(tmp) / build.name)
        os.replace(Path(tmp) / build.name, final)
    return final


def make_mlx(build: Build) -> Path:
    """The MLX counterpart for mlx-vlm: the same config through make_tiny_mlx's deepseek_v4 writer."""
    final = mlx_path(build)
    if (final / "config.json").is_file():
        return final
    tok = make_tiny_mlx.train_tokenizer(SPECIAL_TOKENS)  # the checkpoint's: the same ids, the same vocab
    config = {k: v for k, v in build.config(tok.get_vocab_size()).items()
              if k not in ("quantization_config", "architectures", "vocab_size")}
    config["compress_ratios"] = config["compress_ratios"][:config["num_hidden_layers"]]
    kind = make_tiny_mlx.KINDS["deepseek_v4"]
    kind = make_tiny_mlx.TinyKind(**{**kind.__dict__, "config": {**kind.config, **config, "torch_dtype": "float32",
                                                                 "architectures": ["DeepseekV4ForCausalLM"]}})
    cache_root().mkdir(parents=True, exist_ok=True)  # a first build on a new machine may be this one
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        make_tiny_mlx.make_model(Path(tmp) / "model", kind, MLX_TOKENIZER)
        os.replace(Path(tmp) / "model", final)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", choices=sorted(RELEASES), default="preview")
    parser.add_argument("--build", choices=("test", "measure"), default="test")
    parser.add_argument("--mlx", action="store_true", help="also write the MLX counterpart for mlx-vlm")
    parser.add_argument("--print-path", action="store_true", help="print where the GGUF is (or would be) and exit")
    args = parser.parse_args(argv)
    build = Build(args.release, args.build)
    if args.print_path:
        print(gguf_path(build))
        return 0
    gguf = make_gguf(build)
    print(f"tiny V4 GGUF: {gguf} ({gguf.stat().st_size / 1e6:.1f} MB)")
    if args.mlx:
        print(f"tiny V4 MLX: {make_mlx(build)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

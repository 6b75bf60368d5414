#!/usr/bin/env python3
"""Write a tiny MLX model that mlx_lm.server (or mlx-vlm) loads, so the MLX serving path is tested for real.

Random weights (seeded) for a small llama-type network, saved in MLX layout, with a REAL
tokenizer: a byte-level BPE trained here on a fixed text, with ChatML special tokens, <think>
tokens (so mlx-lm's reasoning parser is active) and a chat template that honours
`enable_thinking`. Its replies are gibberish; everything around them (loading, templating,
streaming, usage counts) is the real thing. No network, a few seconds, about 1 MB.

`--model-type deepseek_v4` writes DeepSeek V4-Flash's own architecture instead (hyper-connections,
compressed and sparse attention, hash-routed and scored MoE), shrunk to 2 layers and 4 experts:
mlx-lm has no `deepseek_v4`, so this one is what mlx-vlm's server loads. Its weights are float32,
because MLX's CPU gather_mm (the MoE experts) supports only float32.

`--model-type deepseek_v41` writes DeepSeek V4.1-Flash's layer structure for mlx-vlm's
`deepseek_v41`: all 40 layers with their published roles (windowed, ratio-2 and ratio-1
compressed, KV, index and candidate sources, a vision tower) and the two Engram n-gram tables,
534 MB of float32 rows that mlx-vlm memory-maps from model.safetensors; widths and experts shrunk.

    python scripts/make_tiny_mlx.py OUT_DIR [--model-type llama|deepseek_v4|deepseek_v41] [--recipe-dir DIR]

`--recipe-dir` also writes a recipe (`tiny-mlx.toml`, `tiny-dsv4.toml` or `tiny-dsv41.toml`) whose
one MLX variant is this model, for tests that serve it through localv4 (drop it into
`<config dir>/recipes/`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "PyTorch was not found" notice

SEED = 4

CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
    "torch_dtype": "float16",
}
# DeepSeek V4-Flash's config (mlx_vlm/models/deepseek_v4/config.py) with every size shrunk. Layer 0
# compresses its KV 4:1 with a sparse indexer and routes by token hash, layer 1 compresses 128:1
# and routes by score, as V4-Flash's layers do; a 16-token window keeps the rest local.
DEEPSEEK_V4_CONFIG = {
    "model_type": "deepseek_v4",
    "architectures": ["DeepseekV4ForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "qk_rope_head_dim": 8,
    "q_lora_rank": 32,
    "o_groups": 2,
    "o_lora_rank": 32,
    "n_shared_experts": 1,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "num_hash_layers": 1,
    "compress_ratios": [4, 128],
    "index_n_heads": 2,
    "index_head_dim": 16,
    "index_topk": 8,
    "index_block": 4,
    "index_keep": 2,
    "sliding_window": 16,
    "hc_mult": 4,
    "hc_sinkhorn_iters": 3,
    "num_nextn_predict_layers": 0,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
}
# DeepSeek V4.1-Flash's config (mlx_vlm/models/deepseek_v41/config.py defaults, the published
# config) with the widths, experts and vision tower shrunk and every per-layer role kept.
DEEPSEEK_V41_CONFIG = {
    "model_type": "deepseek_v41",
    "architectures": ["DeepseekV41ForCausalLM"],
    "hidden_size": 64,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 40,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "qk_rope_head_dim": 8,
    "q_lora_rank": 32,
    "o_lora_rank": 32,
    "o_groups": 2,
    "n_routed_experts": 8,
    "n_shared_experts": 1,
    "num_experts_per_tok": 6,
    "sliding_window": 16,
    "compress_ratios": [0, 0] + [2] * 18 + [1] * 20,
    "kv_source_layer_ids": [2, 8, 14, 20],
    "index_source_layer_ids": [2, 8, 14, 20, 24, 28, 32, 36],
    "candidate_source_layer_id": 20,
    "candidate_topk_blocks": 4,
    "candidate_block_size": 8,
    "index_n_heads": 2,
    "index_head_dim": 32,  # every width a multiple of 32: mlx-vlm fake-quantizes in blocks of 32
    "index_topk": 8,
    "hc_mult": 4,
    "hc_sinkhorn_iters": 3,
    # Engram at layers 1 and 14, 3 n-gram sizes x 8 heads of prime-sized buckets each, as
    # published; ~87K buckets per head (16M published) make two tables of ~268 MB each: more than
    # the engine's own memory, so a test can tell mapped tables from loaded ones.
    "engram_layer_ids": [1, 14],
    "engram_max_ngram_size": 4,
    "engram_n_heads": 8,
    "engram_head_dim": 32,
    "engram_vocab_size": 87_000,
    "engram_pad_token_id": 2,
    "vision_config": {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
                      "intermediate_size": 32},
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
}
VOCAB_SIZE = 768
# Large enough that the top logits are far apart: greedy replies do not flip on rounding noise
# (a prompt-cache hit changes the arithmetic), small enough for float16.
WEIGHT_STD = 0.5

BOS, EOS, PAD = "<|begin_of_text|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = [PAD, BOS, "<|im_start|>", EOS, "<think>", "</think>"]

# ChatML with a thinking switch: the generation prompt opens a <think> block (the reply is
# reasoning until the model closes it), or with `enable_thinking=false` pre-fills an empty one
# (the reply is the answer). Random weights rarely close the block, so each mode yields one
# kind of text: reasoning_content with thinking on, content with it off. Like V4-Flash's own
# template, `reasoning_effort="max"` adds an instruction before the conversation (so tests can see
# that an effort reached the template: the prompt grows).
CHAT_TEMPLATE = (
    "{%- if reasoning_effort is defined and reasoning_effort == 'max' %}"
    "{{- '<|im_start|>system\nThink as long as it takes.<|im_end|>\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else %}"
    "{{- '<think>\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

# mlx-vlm's deepseek_v41 server hands the template each message's content as a list of parts,
# which V4.1's own template renders (mlx_vlm/models/deepseek_v41/processing_deepseek_v41.py).
PARTS_CHAT_TEMPLATE = CHAT_TEMPLATE.replace(
    "message['content']",
    "(message['content'] if message['content'] is string "
    "else message['content'] | selectattr('text') | map(attribute='text') | join('\\n\\n'))")

CORPUS = """\
Beautiful is better than ugly. Explicit is better than implicit. Simple is better than complex.
Complex is better than complicated. Flat is better than nested. Sparse is better than dense.
Readability counts. Special cases aren't special enough to break the rules.
Although practicality beats purity. Errors should never pass silently.
Unless explicitly silenced. In the face of ambiguity, refuse the temptation to guess.
There should be one-- and preferably only one --obvious way to do it.
Now is better than never. Although never is often better than *right* now.
If the implementation is hard to explain, it's a bad idea.
If the implementation is easy to explain, it may be a good idea.
Namespaces are one honking great idea -- let's do more of those!
The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.
Hello! How are you today? I am a small language model running on your own computer.
What is the capital of France? Paris is the capital of France.
Count from one to ten: one, two, three, four, five, six, seven, eight, nine, ten.
0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14159 2.71828 42
def main(): print("hello, world") return 0 if x == y else 1
Tokens per second, prompt processing, generation, context window, memory, weights.
"""


def train_tokenizer(special_tokens: list[str] = SPECIAL_TOKENS):
    """A byte-level BPE over CORPUS: any text encodes, the vocabulary is fixed by the corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    return tok


@dataclass(frozen=True)
class TokenizerSpec:
    """The special tokens and chat template a model's tokenizer is trained and saved with."""

    special_tokens: tuple[str, ...] = tuple(SPECIAL_TOKENS)
    bos: str = BOS
    eos: str = EOS
    pad: str = PAD
    chat_template: str = CHAT_TEMPLATE


def save_tokenizer(tok, out: Path, spec: TokenizerSpec | None = None) -> int:
    """Save tokenizer.json and tokenizer_config.json (template inline); returns the vocab size."""
    from transformers import PreTrainedTokenizerFast

    spec = spec or TokenizerSpec()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=spec.bos,
        eos_token=spec.eos,
        pad_token=spec.pad,
        chat_template=spec.chat_template,
        model_max_length=CONFIG["max_position_embeddings"],
    )
    fast.save_pretrained(str(out))
    # transformers 5 puts the template in chat_template.jinja and names its own backend class;
    # write both the way every loader (transformers 4 and 5, mlx-lm) reads them.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = spec.chat_template
    config["tokenizer_class"] = "PreTrainedTokenizerFast"  # the name transformers 4 and 5 both know
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "chat_template.jinja").unlink(missing_ok=True)
    return tok.get_vocab_size()


def silent_token_ids(tok, special_tokens: list[str] = SPECIAL_TOKENS) -> list[int]:
    """Tokens greedy decoding must never emit: the special ones (so replies run to max_tokens
    and a thinking block stays open) and those that are not printable ASCII on their own
    (UTF-8 fragments would stream as U+FFFD, control bytes garble a terminal)."""
    special = {tok.token_to_id(t) for t in special_tokens}
    return [
        i for i in range(tok.get_vocab_size())
        if i in special or not (text := tok.decode([i])) or not (text.isascii() and text.isprintable())
    ]


def llama_model(config: dict):
    from mlx_lm.models.llama import Model, ModelArgs

    return Model(ModelArgs.from_dict(config))


def deepseek_v41_model(config: dict):
    from mlx_vlm.models.deepseek_v41 import Model, ModelConfig

    return Model(ModelConfig.from_dict(config))


def engram_layout(config: dict, tok, out: Path) -> dict:
    """What the Engram tables depend on: the compressed-token map (written as
    engram_token_map.json, as the release ships it, so mlx-vlm need not derive it) and each
    table's rows, the sum of its prime bucket ranges (mlx-vlm's own layout rule)."""
    from mlx_vlm.models.deepseek_v41 import ModelConfig
    from mlx_vlm.models.deepseek_v41.engram import EngramLayout, build_compressed_token_map

    token_map, compressed = build_compressed_token_map(tok)
    (out / "engram_token_map.json").write_text(json.dumps(token_map) + "\n")
    layout = EngramLayout.from_config(ModelConfig.from_dict({**config, "engram_compressed_vocab_size": compressed}))
    rows = [sum(p for per_ngram in layer for p in per_ngram) for layer in layout.primes]
    return {"engram_compressed_vocab_size": compressed, "engram_num_embeddings": rows}


def deepseek_v4_model(config: dict):
    from mlx_vlm.models.deepseek_v4 import Model, ModelConfig

    return Model(ModelConfig.from_dict(config))


@dataclass(frozen=True)
class TinyKind:
    """One tiny model: its architecture and the recipe that serves it."""

    config: dict
    build: object  # config -> the MLX module whose parameter names and shapes are saved
    dtype: str  # of the saved floating-point weights
    output_weight: str  # the projection to logits: the silent tokens' rows are zeroed there
    recipe_id: str
    description: str
    params: int  # about how many, for the recipe
    params_note: str
    kv_source: str
    llama_cpp_arch: str
    variant_id: str
    bits: float
    # (config, tokenizer, folder) -> config entries that depend on the tokenizer, after writing
    # any file they need beside the weights
    tokenizer_config: object = None
    mapped_params: int = 0  # of `params`: the tables the engine memory-maps
    tokenizer: TokenizerSpec = TokenizerSpec()

    @property
    def repo_id(self) -> str:
        return f"localv4-test/{self.recipe_id}"


KINDS = {
    "llama": TinyKind(
        config=CONFIG, build=llama_model, dtype="float16", output_weight="model.embed_tokens.weight",
        recipe_id="tiny-mlx", description="a tiny random-weight llama in MLX layout",
        params=120_000, params_note="2 layers x 37K + a 695 x 64 tied embedding",
        kv_source="2 layers x 2 KV heads x 16 dims x K and V x fp16 x 4 (rounded up)",
        llama_cpp_arch="llama", variant_id="mlx-f16", bits=16.0,
    ),
    "deepseek_v4": TinyKind(
        config=DEEPSEEK_V4_CONFIG, build=deepseek_v4_model, dtype="float32",
        output_weight="language_model.lm_head.weight",
        recipe_id="tiny-dsv4", description="a tiny random-weight DeepSeek V4 in MLX layout (mlx-vlm)",
        params=235_000, params_note="2 layers x 72K + a 695 x 64 embedding and head",
        kv_source="2 layers x 1 KV head x 32 dims x fp32, plus compressed KV (rounded up)",
        llama_cpp_arch="deepseek4", variant_id="mlx-f32", bits=32.0,
    ),
    "deepseek_v41": TinyKind(
        config=DEEPSEEK_V41_CONFIG, build=deepseek_v41_model, dtype="float32",
        output_weight="language_model.head.weight",
        recipe_id="tiny-dsv41", description="a tiny random-weight DeepSeek V4.1 in MLX layout (mlx-vlm), Engram tables included",
        params=138_100_000, params_note="40 layers x 100K, two Engram tables of 67M, a vision tower",
        kv_source="40 layers x 1 KV head x 32 dims x fp32 over the window and the compressed caches (rounded up)",
        llama_cpp_arch="deepseek41", variant_id="mlx-f32", bits=32.0,
        tokenizer_config=engram_layout, mapped_params=134_100_000,
        tokenizer=TokenizerSpec(chat_template=PARTS_CHAT_TEMPLATE),
    ),
}


def random_value(name: str, shape: tuple[int, ...], config: dict, rng):
    """Norms at 1, a hash-routing table of distinct experts per token, seeded normals elsewhere."""
    import numpy as np

    if name.endswith("norm.weight"):
        return np.ones(shape, dtype=np.float32)
    if name.endswith("engram.embed.weight"):  # hundreds of MB: drawn in float32, no float64 copy
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(WEIGHT_STD)
    if name.endswith("tid2eid"):
        vocab, per_token = shape
        return rng.random((vocab, config["n_routed_experts"])).argsort(axis=1)[:, :per_token].astype(np.int32)
    return rng.normal(0.0, WEIGHT_STD, size=shape).astype(np.float32)


def save_weights(kind: TinyKind, config: dict, silent_ids: list[int], out: Path) -> None:
    """Seeded random weights in the parameter names and shapes the model's MLX code uses.

    The silent tokens' rows of the output projection are zero: their logit is then 0, below the
    largest of the others, so greedy decoding never picks them."""
    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_flatten

    model = kind.build(config)
    rng = np.random.default_rng(SEED)
    weights = {}
    for name, param in sorted(tree_flatten(model.parameters())):
        value = random_value(name, param.shape, config, rng)
        if name == kind.output_weight:
            value[silent_ids] = 0.0
        saved = mx.array(value)
        weights[name] = saved.astype(getattr(mx, kind.dtype)) if value.dtype == np.float32 else saved
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})


def make_model(out: Path, kind: TinyKind = KINDS["llama"], tokenizer: TokenizerSpec | None = None) -> Path:
    """Write the whole model folder into `out` (created if missing); returns `out`. `tokenizer`:
    another model's special tokens and template (make_tiny_v4 gives its MLX build V4's own)."""
    out.mkdir(parents=True, exist_ok=True)
    spec = tokenizer or kind.tokenizer
    tok = train_tokenizer(list(spec.special_tokens))
    vocab = save_tokenizer(tok, out, spec)
    config = {
        **kind.config,
        "vocab_size": vocab,
        "bos_token_id": tok.token_to_id(spec.bos),
        "eos_token_id": tok.token_to_id(spec.eos),
        "pad_token_id": tok.token_to_id(spec.pad),
    }
    if kind.tokenizer_config is not None:
        config.update(kind.tokenizer_config(config, tok, out))
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]})
        + "\n"
    )
    save_weights(kind, config, silent_token_ids(tok, list(spec.special_tokens)), out)
    return out


def model_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.iterdir() if p.is_file())


def recipe_toml(size_bytes: int, kind: TinyKind = KINDS["llama"]) -> str:
    """A recipe for this model: tiny constants, one MLX variant whose repo is kind.repo_id."""
    return f"""\
# Test recipe written by scripts/make_tiny_mlx.py: {kind.description}.
[model]
id = "{kind.recipe_id}"
name = "Tiny MLX test model"
served_name = "{kind.recipe_id}"
hf_repo = "{kind.repo_id}"
total_params = {kind.params:<24_}# about: {kind.params_note}
active_params = {kind.params:_}
dense_params = {kind.params:_}
dense_bits_per_weight = {kind.bits}
layers = {kind.config["num_hidden_layers"]}
mapped_params = {kind.mapped_params:_}
max_context = {kind.config["max_position_embeddings"]}
min_context = 256
preferred_min_context = 1024
kv_bytes_per_token = 1024
kv_source = "tiny test model: {kind.kv_source}"
runtime_overhead_bytes = 50_000_000
reasoning_modes = ["off", "high", "max"]
default_reasoning = "off"

[model.sampling]
temperature = 1.0
top_p = 1.0

[model.architecture]
llama_cpp = "{kind.llama_cpp_arch}"
mlx = "{kind.config["model_type"]}"

[[series]]
id = "mlx"
format = "mlx"
repo = "{kind.repo_id}"
revision = "main"
include = ["*.json", "*.safetensors", "*.jinja", "tokenizer*"]
status = "confirmed"

[[series.variants]]
id = "{kind.variant_id}"
size_bytes = {size_bytes}
bits_per_weight = {kind.bits}
quality = 1
note = "Random weights: gibberish replies, real serving path."
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the model into")
    parser.add_argument("--model-type", choices=sorted(KINDS), default="llama",
                        help="the architecture (default llama; deepseek_v4 and deepseek_v41 need mlx-vlm)")
    parser.add_argument("--recipe-dir", type=Path,
                        help="also write the model's recipe here (tiny-mlx.toml, tiny-dsv4.toml, tiny-dsv41.toml)")
    args = parser.parse_args(argv)
    kind = KINDS[args.model_type]
    out = make_model(args.out_dir, kind)
    size = model_bytes(out)
    print(f"tiny MLX model: {out} ({size / 1e6:.2f} MB)")
    if args.recipe_dir:
        args.recipe_dir.mkdir(parents=True, exist_ok=True)
        recipe = args.recipe_dir / f"{kind.recipe_id}.toml"
        recipe.write_text(recipe_toml(size, kind))
        print(f"recipe: {recipe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

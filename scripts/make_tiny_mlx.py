#!/usr/bin/env python3
"""Write a tiny MLX model that mlx_lm.server loads, so the MLX serving path is tested for real.

Random weights (seeded) for a small llama-type network, saved in MLX layout, with a REAL
tokenizer: a byte-level BPE trained here on a fixed text, with ChatML special tokens, <think>
tokens (so mlx-lm's reasoning parser is active) and a chat template that honours
`enable_thinking`. Its replies are gibberish; everything around them (loading, templating,
streaming, usage counts) is the real thing. No network, a few seconds, well under 1 MB.

    python scripts/make_tiny_mlx.py OUT_DIR [--recipe-dir DIR]

`--recipe-dir` also writes `tiny-mlx.toml`, a recipe whose one MLX variant is this model, for
tests that serve it through localv4 (drop it into `<config dir>/recipes/`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "PyTorch was not found" notice

SEED = 4
REPO_ID = "localv4-test/tiny-mlx"
SERVED_NAME = "tiny-mlx"

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
VOCAB_SIZE = 768
# Large enough that the top logits are far apart: greedy replies do not flip on rounding noise
# (a prompt-cache hit changes the arithmetic), small enough for float16.
WEIGHT_STD = 0.5

BOS, EOS, PAD = "<|begin_of_text|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = [PAD, BOS, "<|im_start|>", EOS, "<think>", "</think>"]

# ChatML with a thinking switch: the generation prompt opens a <think> block (the reply is
# reasoning until the model closes it), or with `enable_thinking=false` pre-fills an empty one
# (the reply is the answer). Random weights rarely close the block, so each mode yields one
# kind of text: reasoning_content with thinking on, content with it off.
CHAT_TEMPLATE = (
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


def train_tokenizer():
    """A byte-level BPE over CORPUS: any text encodes, the vocabulary is fixed by the corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    return tok


def save_tokenizer(tok, out: Path) -> int:
    """Save tokenizer.json and tokenizer_config.json (template inline); returns the vocab size."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        model_max_length=CONFIG["max_position_embeddings"],
    )
    fast.save_pretrained(str(out))
    # transformers 5 puts the template in chat_template.jinja and names its own backend class;
    # write both the way every loader (transformers 4 and 5, mlx-lm) reads them.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = CHAT_TEMPLATE
    config["tokenizer_class"] = "PreTrainedTokenizerFast"  # the name transformers 4 and 5 both know
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "chat_template.jinja").unlink(missing_ok=True)
    return tok.get_vocab_size()


def silent_token_ids(tok) -> list[int]:
    """Tokens greedy decoding must never emit: the special ones (so replies run to max_tokens
    and a thinking block stays open) and those that are not printable ASCII on their own
    (UTF-8 fragments would stream as U+FFFD, control bytes garble a terminal)."""
    special = {tok.token_to_id(t) for t in SPECIAL_TOKENS}
    return [
        i for i in range(tok.get_vocab_size())
        if i in special or not (text := tok.decode([i])) or not (text.isascii() and text.isprintable())
    ]


def save_weights(config: dict, silent_ids: list[int], out: Path) -> None:
    """Seeded normal weights (norms at 1) in the parameter names and shapes mlx-lm's llama uses.

    The silent tokens' embedding rows are zero: with tied embeddings their logit is then 0, below
    the largest of the others, so greedy decoding never picks them."""
    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_flatten
    from mlx_lm.models.llama import Model, ModelArgs

    model = Model(ModelArgs.from_dict(config))
    rng = np.random.default_rng(SEED)
    weights = {}
    for name, param in sorted(tree_flatten(model.parameters())):
        if name.endswith("norm.weight"):
            value = np.ones(param.shape, dtype=np.float32)
        else:
            value = rng.normal(0.0, WEIGHT_STD, size=param.shape).astype(np.float32)
        if name == "model.embed_tokens.weight":
            value[silent_ids] = 0.0
        weights[name] = mx.array(value).astype(mx.float16)
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})


def make_model(out: Path) -> Path:
    """Write the whole model folder into `out` (created if missing); returns `out`."""
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer()
    vocab = save_tokenizer(tok, out)
    config = {
        **CONFIG,
        "vocab_size": vocab,
        "bos_token_id": tok.token_to_id(BOS),
        "eos_token_id": tok.token_to_id(EOS),
        "pad_token_id": tok.token_to_id(PAD),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]})
        + "\n"
    )
    save_weights(config, silent_token_ids(tok), out)
    return out


def model_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.iterdir() if p.is_file())


def recipe_toml(size_bytes: int) -> str:
    """A recipe for this model: tiny constants, one MLX variant whose repo is REPO_ID."""
    return f"""\
# Test recipe written by scripts/make_tiny_mlx.py: a tiny random-weight llama in MLX layout.
[model]
id = "tiny-mlx"
name = "Tiny MLX test model"
served_name = "{SERVED_NAME}"
hf_repo = "{REPO_ID}"
total_params = 120_000                 # about: 2 layers x 37K + a 695 x 64 tied embedding
active_params = 120_000
dense_params = 120_000
dense_bits_per_weight = 16.0
layers = {CONFIG["num_hidden_layers"]}
max_context = {CONFIG["max_position_embeddings"]}
min_context = 256
preferred_min_context = 1024
kv_bytes_per_token = 1024
kv_source = "tiny test model: 2 layers x 2 KV heads x 16 dims x K and V x fp16 x 4 (rounded up)"
runtime_overhead_bytes = 50_000_000
reasoning_modes = ["off", "high"]
default_reasoning = "off"

[model.sampling]
temperature = 1.0
top_p = 1.0

[model.architecture]
llama_cpp = "llama"
mlx = "llama"

[[series]]
id = "mlx"
format = "mlx"
repo = "{REPO_ID}"
revision = "main"
include = ["*.json", "*.safetensors", "*.jinja", "tokenizer*"]
status = "confirmed"

[[series.variants]]
id = "mlx-f16"
size_bytes = {size_bytes}
bits_per_weight = 16.0
quality = 1
note = "Random weights: gibberish replies, real serving path."
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the model into")
    parser.add_argument("--recipe-dir", type=Path, help="also write tiny-mlx.toml here")
    args = parser.parse_args(argv)
    out = make_model(args.out_dir)
    size = model_bytes(out)
    print(f"tiny MLX model: {out} ({size / 1e6:.2f} MB)")
    if args.recipe_dir:
        args.recipe_dir.mkdir(parents=True, exist_ok=True)
        recipe = args.recipe_dir / "tiny-mlx.toml"
        recipe.write_text(recipe_toml(size))
        print(f"recipe: {recipe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

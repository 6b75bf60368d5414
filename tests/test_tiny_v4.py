"""scripts/make_tiny_v4.py makes a GGUF that the pinned llama.cpp loads as `deepseek4`, with the real template."""

from __future__ import annotations

import json

import pytest

from support.tiny_v4 import maker


def _metadata(path):
    llama_cpp = pytest.importorskip("llama_cpp")
    model = llama_cpp.Llama(str(path), n_ctx=1024, n_batch=32, vocab_only=True, verbose=False)
    return model.metadata


@pytest.mark.slow
def test_the_test_build_is_the_real_architecture_with_the_real_template(tiny_v4_gguf):
    meta = _metadata(tiny_v4_gguf)
    tree = maker().cache_root() / "llama.cpp" / "models" / "templates"
    assert meta["general.architecture"] == "deepseek4"
    assert meta["tokenizer.chat_template"] == (tree / "deepseek-ai-DeepSeek-V4.jinja").read_text()
    assert meta["deepseek4.attention.key_length"] == "512" and meta["deepseek4.attention.head_count"] == "64"
    assert tiny_v4_gguf.stat().st_size < 300_000_000


@pytest.mark.slow
def test_0731_gets_its_own_template(tiny_v4_0731_gguf):
    meta = _metadata(tiny_v4_0731_gguf)
    tree = maker().cache_root() / "llama.cpp" / "models" / "templates"
    assert meta["tokenizer.chat_template"] == (tree / "deepseek-ai-DeepSeek-V4-Flash-0731.jinja").read_text()


def test_the_measurement_config_keeps_every_per_token_dimension_as_published():
    module = maker()
    config = module.Build("preview", "measure").config(vocab=800)
    published = module.PUBLISHED
    for key in ("num_hidden_layers", "head_dim", "num_key_value_heads", "qk_rope_head_dim", "compress_ratios",
                "sliding_window", "index_n_heads", "index_head_dim", "index_topk", "o_groups", "o_lora_rank",
                "q_lora_rank", "hc_mult", "num_attention_heads", "hidden_size", "num_experts_per_tok"):
        assert config[key] == published[key], key
    assert config["compress_ratios"].count(4) == 21 and config["compress_ratios"].count(128) == 20
    assert json.dumps(config)  # writable as config.json


def test_the_mlx_counterpart_is_deepseek_v4_and_mlx_vlm_generates_from_it():
    from support.tiny_v4 import tiny_v4_mlx_path

    path = tiny_v4_mlx_path("preview")
    config = json.loads((path / "config.json").read_text())
    measured = maker().Build("preview", "test").config(vocab=config["vocab_size"])
    assert config["model_type"] == "deepseek_v4"
    for key in ("num_hidden_layers", "head_dim", "num_attention_heads", "index_n_heads", "sliding_window"):
        assert config[key] == measured[key], key
    from mlx_vlm import load
    from mlx_vlm.generate import generate

    model, processor = load(str(path))
    reply = generate(model, processor, "Hello there", max_tokens=4, temperature=0.0, verbose=False)
    assert getattr(reply, "generation_tokens", 4) == 4 and getattr(reply, "text", reply)


def test_0731_comes_with_a_dspark_draft_the_converter_made(tiny_v4_dspark_gguf):
    """Read with the pinned tree's own gguf-py: a draft has no context of its own to load."""
    import sys

    folder = str(maker().cache_root() / "llama.cpp" / "gguf-py")
    sys.path.insert(0, folder)
    try:
        import gguf
    finally:
        sys.path.remove(folder)  # it also holds a `tests` package, which would shadow the repo's own

    fields = gguf.GGUFReader(tiny_v4_dspark_gguf).fields
    value = lambda key: fields[key].contents()  # noqa: E731
    assert value("general.architecture") == "dflash"
    assert value("dflash.block_size") == 16 and value("dflash.hyper_connection.count") == 4

"""A GGUF of your own (issue 24): `localv4 plan/up ./file.gguf` plans it from its header and serves
it under its file name; a path that is not a GGUF is one line, exit 2."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.errors import UsageError
from localv4.flow import UpOptions, request_of
from localv4.weights import locate
from localv4.weights.gguf_header import read_header
from localv4.weights.own import own_recipe
from support.cli_output import one_line_error
from support.gemma_recipe import GGUF_NAME, GGUF_SIZE

GEMMA_ID = GGUF_NAME.removesuffix(".gguf")


def _value(value: object) -> bytes:
    """One typed GGUF value: uint32 (4), float32 (6), bool (7), string (8) or an array (9) of int32."""
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return struct.pack("<II", 4, value)
    if isinstance(value, float):
        return struct.pack("<If", 6, value)
    if isinstance(value, str):
        return struct.pack("<IQ", 8, len(value.encode())) + value.encode()
    items = list(value)  # type: ignore[call-overload]
    return struct.pack("<IIQ", 9, 5, len(items)) + b"".join(struct.pack("<i", i) for i in items)


def write_gguf(path: Path, metadata: dict[str, object], tail: int = 1000,
               tensors: tuple[tuple[str, int, int], ...] = ()) -> Path:
    """A GGUF v3 header with `metadata`, then `tail` bytes standing for the tensors; or, given
    `tensors` (name, elements, bytes), their table and their data as a sparse file of that size."""
    body = b"".join(struct.pack("<Q", len(k)) + k.encode() + _value(v) for k, v in metadata.items())
    offsets = [sum(size for _, _, size in tensors[:i]) for i in range(len(tensors))]
    table = b"".join(struct.pack("<Q", len(name)) + name.encode() + struct.pack("<IQIQ", 1, elements, 8, offset)
                     for (name, elements, _), offset in zip(tensors, offsets))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + body + table
    if not tensors:
        path.write_bytes(head + bytes(tail))
        return path
    head += bytes(-len(head) % 32)  # the data starts at the default alignment
    with path.open("wb") as out:
        out.write(head)
        out.truncate(len(head) + sum(size for _, _, size in tensors))
    return path


LLAMA = {"general.architecture": "llama", "general.name": "Tiny", "llama.block_count": 4,
         "llama.context_length": 8192, "llama.embedding_length": 512, "llama.attention.head_count": 8,
         "llama.attention.head_count_kv": [2, 2, 1, 1], "general.file_type": 7, "tokenizer.ggml.add_bos_token": True,
         "general.sampling.temp": 0.6}


def test_the_header_is_read_without_its_vocabulary(gemma_gguf: Path) -> None:
    header = read_header(gemma_gguf)
    assert (header.version, header.tensor_count) == (3, 236)
    meta = header.metadata
    assert meta["general.architecture"] == "gemma3" and meta["gemma3.block_count"] == 18
    assert meta["gemma3.context_length"] == 32768 and meta["tokenizer.ggml.tokens"] is None  # skipped


def test_the_gemma_gguf_is_planned_from_its_header(gemma_gguf: Path) -> None:
    recipe = own_recipe(gemma_gguf)
    model, (variant,) = recipe.model, recipe.variants
    assert (model.id, model.served_name, model.layers, model.max_context) == (GEMMA_ID, GEMMA_ID, 18, 32768)
    assert model.kv_bytes_per_token == 18_432  # 18 layers x 1 KV head x (256 + 256) x f16
    assert (variant.id, variant.size_bytes, variant.local, variant.entry) == ("Q4_K_M", GGUF_SIZE, True, str(gemma_gguf))
    found = locate(variant)
    assert found is not None and found.path == gemma_gguf and found.size_bytes == GGUF_SIZE


def test_per_layer_kv_heads_split_parts_and_the_id(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    first = write_gguf(folder / "Tiny-8B-00001-of-00002.gguf", LLAMA)
    second = write_gguf(folder / "Tiny-8B-00002-of-00002.gguf", {"split.no": 1}, tail=500)
    recipe = own_recipe(folder)
    assert recipe.id == "Tiny-8B" and recipe.model.name == "Tiny (your GGUF)" and recipe.model.temperature == 0.6
    assert recipe.model.kv_bytes_per_token == 6 * (64 + 64) * 2  # (2+2+1+1) KV heads x 512/8 each x f16
    (variant,) = recipe.variants
    assert variant.id == "Q8_0" and variant.files[0] == str(first) and len(variant.files) == 2
    assert variant.size_bytes == first.stat().st_size + second.stat().st_size
    request = request_of(UpOptions(gguf=first, ctx=4096))
    assert request.recipe is not None and request.recipe.id == "Tiny-8B" and request.ctx == 4096


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: p.write_text("not a model"), "is not a GGUF file (it does not start with 'GGUF')"),
    (lambda p: write_gguf(p, {"general.architecture": "llama"}), "its header has no 'llama.block_count'"),
    (lambda p: p.with_name("x-00001-of-00002.gguf").write_bytes(b"GGUF"), "lacks part x-00002-of-00002.gguf"),
])
def test_a_file_that_is_no_gguf_here_is_one_line(tmp_path: Path, make, says: str) -> None:
    make(tmp_path / "m.gguf")
    path = next(tmp_path.glob("*.gguf"))
    with pytest.raises(UsageError, match=says.replace("(", r"\(").replace(")", r"\)")):
        own_recipe(path)


def test_plan_and_up_of_a_bad_path_say_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    for command in ("plan", "up"):
        done = run_cli(command, str(bad))
        assert done.returncode == 2 and "is not a GGUF file" in one_line_error(done)
    done = run_cli("pull", str(bad))
    assert done.returncode == 2 and "a GGUF of your own" in one_line_error(done)


def test_plan_shows_the_files_plan(gemma_gguf: Path) -> None:
    done = run_cli("plan", str(gemma_gguf))
    assert done.returncode == 0, done.stderr
    assert "Gemma 3 270m (your GGUF) variants on" in done.stdout
    assert f"Plan: {GEMMA_ID}:Q4_K_M with llama.cpp" in done.stdout


@pytest.mark.engine
def test_up_serves_the_file_under_its_name(gemma_gguf: Path, no_engine_left) -> None:
    pytest.importorskip("xllamacpp", reason="needs a llama.cpp engine: the test extra installs xllamacpp")
    from openai import OpenAI

    from localv4.serve.state import read_state

    up = run_cli("up", str(gemma_gguf), "--port", "auto", "--ctx", "4096", timeout=600)
    try:
        assert up.returncode == 0, up.stderr
        server = read_state()
        assert server is not None and server.model_id == GEMMA_ID
        client = OpenAI(base_url=server.endpoint, api_key="none", max_retries=0, timeout=120)
        reply = client.chat.completions.create(
            model=GEMMA_ID, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
        assert reply.model == GEMMA_ID and reply.choices[0].message.role == "assistant"
    finally:
        run_cli("down")


GB = 1_000_000_000
MOE = {"general.architecture": "qwen3moe", "general.name": "Tiny MoE", "qwen3moe.block_count": 4,
       "qwen3moe.context_length": 32768, "qwen3moe.embedding_length": 2048, "qwen3moe.attention.head_count": 32,
       "qwen3moe.attention.head_count_kv": 4, "qwen3moe.expert_count": 128, "qwen3moe.expert_used_count": 8,
       "general.file_type": 7}
# Q8_0's 34 bytes per 32 weights: 0.5 GB of embeddings, per layer 50 MB of attention, a 30 MB shared
# expert (dense) and three 1 GB stacks of 128 routed experts.
MOE_TENSORS = (("token_embd.weight", 470_588_235, GB // 2), *(
    tensor for layer in range(4) for tensor in (
        (f"blk.{layer}.attn_q.weight", 47_058_823, 50_000_000),
        (f"blk.{layer}.ffn_gate_shexp.weight", 28_235_294, 30_000_000),
        *((f"blk.{layer}.ffn_{part}_exps.weight", 941_176_470, GB) for part in ("gate", "up", "down")))))
ROUTED_BYTES = 12 * GB


def _per_token(recipe) -> tuple[float, float]:
    from localv4.planning.memory import bytes_per_token

    return bytes_per_token(recipe.model, recipe.variants[0])


def test_an_moe_gguf_reads_its_dense_weights_and_its_used_experts_share(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "Tiny-MoE-Q8_0.gguf", MOE, tensors=MOE_TENSORS)
    recipe = own_recipe(path)
    model, size = recipe.model, path.stat().st_size
    routed_elements = 12 * 941_176_470
    assert model.total_params == sum(elements for _, elements, _ in MOE_TENSORS)
    assert model.dense_params == model.total_params - routed_elements  # the shared experts among them
    assert model.active_routed_params == routed_elements * 8 // 128
    assert model.active_params == model.dense_params + model.active_routed_params
    dense, routed = _per_token(recipe)
    assert dense == pytest.approx(size - ROUTED_BYTES) and routed == pytest.approx(ROUTED_BYTES * 8 / 128, rel=1e-6)
    assert recipe.variants[0].note.endswith("; MoE: 8 of 128 experts read per token")

    every = own_recipe(write_gguf(tmp_path / "no-counts.gguf", {**MOE, "qwen3moe.expert_used_count": 0},
                                  tensors=MOE_TENSORS))
    assert sum(_per_token(every)) == pytest.approx(size)  # counts missing: every expert read, low never high
    assert "every expert is counted as read" in every.variants[0].note


def test_plan_of_an_moe_gguf_estimates_from_the_bytes_a_token_reads(tmp_path: Path) -> None:
    import json

    from support.machines import machine

    path = write_gguf(tmp_path / "Tiny-MoE-Q8_0.gguf", MOE, tensors=MOE_TENSORS)
    box = tmp_path / "box.json"
    box.write_text(json.dumps(machine("cpu-only-24gb").to_dict()))
    done = run_cli("plan", str(path), "--hardware", str(box), "--ctx", "4096", env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    per_token = (path.stat().st_size - ROUTED_BYTES + ROUTED_BYTES * 8 / 128) / GB
    assert f"/ {per_token:.1f} GB read per token" in done.stdout and per_token < 2.0  # of a 12.8 GB file
    assert "MoE: 8 of 128 experts read per token" in done.stdout


def test_the_tiny_deepseek_v4_gguf_is_read_as_the_moe_it_is(tiny_v4_gguf: Path) -> None:
    """A real MoE header (llama.cpp's converter, `deepseek4`): routed experts `*_exps`, a shared one `*_shexp`."""
    header = read_header(tiny_v4_gguf)
    meta = header.metadata
    used, count = meta["deepseek4.expert_used_count"], meta["deepseek4.expert_count"]
    routed = [t for t in header.tensors if "_exps." in t.name]
    assert routed and any("_shexp." in t.name for t in header.tensors)
    recipe = own_recipe(tiny_v4_gguf)
    model = recipe.model
    assert model.total_params == sum(t.elements for t in header.tensors)
    assert model.dense_params == model.total_params - sum(t.elements for t in routed)
    assert model.active_routed_params == sum(t.elements for t in routed) * used // count < model.total_params
    dense, per_token = _per_token(recipe)
    routed_bytes = sum(t.size_bytes for t in routed)
    assert per_token == pytest.approx(routed_bytes * used / count, rel=1e-6)
    assert dense == pytest.approx(tiny_v4_gguf.stat().st_size - routed_bytes)
    assert recipe.variants[0].note.endswith(f"; MoE: {used} of {count} experts read per token")


def test_the_dense_gemma_gguf_is_read_whole_per_token(gemma_gguf: Path) -> None:
    header = read_header(gemma_gguf)
    model = own_recipe(gemma_gguf).model
    assert model.total_params == model.active_params == model.dense_params == 268_098_176  # "270M"
    assert model.active_routed_params == 0 and len(header.tensors) == header.tensor_count == 236
    dense, routed = _per_token(own_recipe(gemma_gguf))
    assert (dense, routed) == (pytest.approx(GGUF_SIZE), 0)

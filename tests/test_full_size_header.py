"""The full-size V4-Flash header (scripts/full_size_v4_header.py): the real geometry, and the engine's
projection of it against the planner.

The header writer's tensor list and config-dependent keys are held to the pinned converter's own
output for the tiny config (the tiny V4 GGUF), so at the real config they are what the converter
would write for the official checkpoint; its per-tensor types reproduce the published size of the
variant they stand for. With llama-fit-params installed, the engine projects the sparse
full-size file at 4K (seconds, nothing allocated) and the planner is held within 10% of it.
docs/memory.md ("At full size") records the whole table.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from functools import cache
from pathlib import Path

import pytest

from localv4.recipes import load_catalog
from support.tiny_v4 import maker, tiny_v4_gguf_path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "full_size_v4_header.py"
MIB = 1024 * 1024


@cache
def header():
    """scripts/full_size_v4_header.py as a module (scripts/ is not a package)."""
    maker()  # its make_tiny_v4 import is the tests' module
    spec = importlib.util.spec_from_file_location("full_size_v4_header", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["full_size_v4_header"] = module
    spec.loader.exec_module(module)
    return module


def _gguf():
    tiny_v4_gguf_path("0731")  # the converter's tree and the tiny file: built once, or the test skips
    return header().gguf_module()


def test_the_tensor_list_and_keys_are_the_converter_s_own_for_the_tiny_config():
    tiny = tiny_v4_gguf_path("0731")
    config = json.loads(tiny.with_name("DeepSeek-V4-Flash-0731-tiny.config.json").read_text())
    gguf = _gguf()
    reader = gguf.GGUFReader(str(tiny))
    converted = {t.name: (tuple(int(d) for d in t.shape), t.tensor_type.name) for t in reader.tensors}
    written = {name: (ne, t) for name, ne, t, _ in header().typed_tensors(config, "converter", gguf)}
    assert written == converted
    for key, value in header().config_keys(config).items():
        assert reader.fields[key].contents() == value, key


def test_the_real_geometry_is_the_published_one():
    h, gguf = header(), _gguf()
    config = h.real_config()
    assert (config["num_hidden_layers"], config["n_routed_experts"], config["hidden_size"],
            config["moe_intermediate_size"], config["vocab_size"]) == (43, 256, 4096, 2048, 129_280)
    tensors = h.typed_tensors(config, "converter", gguf)
    assert len(tensors) == 1328  # 43 x 24 per layer + 41 compressors x 4 + 21 indexers x 6 + 6
    shapes = {name: ne for name, ne, *_ in tensors}
    assert shapes["blk.5.ffn_up_exps.weight"] == (4096, 2048, 256)
    assert shapes["blk.2.indexer.attn_q_b.weight"] == (1024, 64 * 128)
    assert shapes["token_embd.weight"] == (4096, 129_280)
    params = sum(_count(ne) for name, ne, *_ in tensors)
    model = load_catalog().recipe("deepseek-v4-flash-0731").model
    assert params == pytest.approx(model.total_params, rel=0.01)  # 284B, as published
    routed = sum(_count(ne) for name, ne, *_ in tensors if "_exps." in name)
    assert routed == 43 * 3 * 256 * 4096 * 2048


def _count(ne) -> int:
    n = 1
    for d in ne:
        n *= d
    return n


def test_the_converter_types_give_the_published_size_of_the_variant():
    h, gguf = header(), _gguf()
    variant = next(v for v in load_catalog().recipe("deepseek-v4-flash-0731").variants if v.id == h.VARIANT)
    data = h.data_bytes(h.typed_tensors(h.real_config(), "converter", gguf))
    assert data == pytest.approx(variant.size_bytes, rel=0.001)  # bartowski's MXFP4, 156.38 GB
    quantized = h.data_bytes(h.typed_tensors(h.real_config(), "mxfp4_moe", gguf))
    assert quantized < data  # llama-quantize's mix: the embedding and head at Q8_0


def _fit_params(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The installed llama-fit-params (the user's data dir, not this test's temp home), or skip."""
    with monkeypatch.context() as real:
        real.delenv("LOCALV4_HOME", raising=False)
        try:
            return header().find_fit_params()
        except SystemExit:
            pytest.skip("no llama-fit-params: `localv4 install llama.cpp --cpu --yes` builds it")


def test_the_engine_projects_the_sparse_full_size_file_and_the_planner_is_within_10_percent(tmp_path, monkeypatch):
    binary = _fit_params(monkeypatch)
    h = header()
    _gguf()
    result = h.run("converter", None, [4096], tmp_path, binary)
    assert os.path.getsize(result["file"]) == result["file_bytes"]  # the true size, kept by truncate
    assert result["disk_bytes_used"] < 64 * MIB < result["file_bytes"] / 1000  # sparse: headers only
    row = result["rows"][0]
    engine, planner = row["engine"], row["planner"]
    assert "-m" in row["flags"] and "--parallel" in row["flags"]
    assert engine["model"] * MIB == pytest.approx(result["file_bytes"] - result["header_bytes"], rel=0.001)
    for part in ("model", "context", "compute"):
        assert planner[part] == pytest.approx(engine[part], rel=0.10), part

"""A draft that is some tensors of a bigger checkpoint (0731's MLX draft: the `mtp.*` stages of
DeepSeek's own repo): `pull` reads the repo's model.safetensors.index.json first and fetches only
the shards it maps those tensors to, with the config and tokenizer; the trunk's shards never come
down. The fake hub (tests/support/hubserver.py) serves the repo; what is checked is the files on
disk and the bytes the hub sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localv4 import weights
from localv4.recipes import Draft
from support.hubserver import FakeHub

REPO = "fakeorg/Fake-V4-0731"
SHARDS = {"model-00001-of-00004.safetensors": ["embed.weight", "layers.0.attn.wkv.weight"],
          "model-00002-of-00004.safetensors": ["layers.1.attn.wkv.weight"],
          "model-00003-of-00004.safetensors": ["mtp.0.main_proj.weight", "mtp.0.attn.wkv.weight"],
          "model-00004-of-00004.safetensors": ["mtp.1.attn.wkv.weight", "mtp.1.norm.weight"]}
DRAFT = Draft(kind="dspark", repo=REPO, revision="main", file="", size_bytes=4000, size_verified=False,
              layers=2, source="tests/test_pull_shards.py", format="mlx",
              include=("config.json", "model.safetensors.index.json", "tokenizer*"), tensors="mtp.")


@pytest.fixture()
def hub(tmp_path: Path, isolated_home, monkeypatch: pytest.MonkeyPatch):
    repo = tmp_path / "hub" / REPO
    repo.mkdir(parents=True)
    (repo / "config.json").write_text(json.dumps({"model_type": "deepseek_v4"}))
    (repo / "tokenizer.json").write_text("{}")
    (repo / "README.md").write_text("not part of the draft")
    for n, (shard, names) in enumerate(SHARDS.items()):
        (repo / shard).write_bytes(bytes([n]) * (1000 + n))
    weight_map = {name: shard for shard, names in SHARDS.items() for name in names}
    (repo / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    with FakeHub(tmp_path / "hub") as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


def test_pull_fetches_only_the_shards_holding_the_drafts_tensors(hub: FakeHub) -> None:
    variant = DRAFT.as_variant("fake-v4")
    assert variant.format == "mlx" and variant.entry is None and variant.id == "draft-dspark-mlx"
    assert weights.locate(variant) is None and weights.missing_bytes(variant) == DRAFT.size_bytes

    pulled = weights.pull(variant)
    names = sorted(p.name for p in pulled.files)
    assert names == ["config.json", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                     "model.safetensors.index.json", "tokenizer.json"]
    assert pulled.path == pulled.folder and pulled.verified
    assert hub.served_bytes("*00001-of*") == hub.served_bytes("*00002-of*") == 0  # the trunk stayed there

    found = weights.locate(variant)  # offline: the index on disk names the same shards
    assert found is not None and sorted(p.name for p in found.files) == names
    assert weights.missing_bytes(variant) == 0
    again = weights.pull(variant)  # complete: nothing fetched again
    assert again.files == pulled.files and hub.served_bytes("*00003-of*") == 1002


def test_a_repo_whose_index_maps_no_such_tensor_is_a_recipe_error(hub: FakeHub) -> None:
    from localv4.errors import UsageError

    variant = Draft(**{**DRAFT.__dict__, "tensors": "dspark."}).as_variant("fake-v4")
    with pytest.raises(UsageError, match="a shard holding dspark"):
        weights.pull(variant)

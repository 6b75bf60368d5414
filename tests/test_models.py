"""`localv4 models` and `localv4 rm`: they report, and free, exactly what is on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_cli
from support.hubserver import FakeHub
from support.pull_hub import GGUF_REPO, MLX_PATTERNS, MLX_REPO, cache_repo, hub_file, run_hf, variant_files

pytestmark = pytest.mark.usefixtures("fake_recipe")


def bytes_in_blobs(hub: FakeHub, quant: str) -> int:
    """What the disk holds for a variant: complete blobs plus interrupted downloads, measured by stat."""
    blobs = cache_repo(GGUF_REPO) / "blobs"
    return sum(p.stat().st_size for f in variant_files(hub, quant)
               for p in (blobs / f.sha256, blobs / f"{f.sha256}.incomplete") if p.exists())


def models_json(*args: str) -> dict[str, dict]:
    result = run_cli("models", "--json", *args)
    assert result.returncode == 0, result.stderr
    return {e["variant"]: e for e in json.loads(result.stdout)}


def pull_q4_complete_and_iq1_partial(hub: FakeHub) -> None:
    assert run_cli("pull", "fake-v4:Q4").returncode == 0
    broken = hub_file(hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf").path
    hub.drop(broken, at=50_000)  # 50 kB arrive, then the connection drops ...
    hub.fail(broken, 404, times=None)  # ... and the file is gone from the hub
    assert run_cli("pull", "fake-v4:IQ1").returncode == 1


def test_models_reports_complete_partial_and_verified_as_on_disk(hub: FakeHub) -> None:
    pull_q4_complete_and_iq1_partial(hub)
    entries = models_json()
    assert set(entries) == {"fake-v4:Q4", "fake-v4:IQ1"}
    q4, iq1 = entries["fake-v4:Q4"], entries["fake-v4:IQ1"]
    q4_total = sum(f.size for f in variant_files(hub, "Q4"))
    assert q4 | {"folder": None} == q4 | {
        "state": "complete", "files_total": 3, "files_complete": 3, "bytes_total": q4_total,
        "bytes_on_disk": q4_total, "verified": True, "folder": None}
    assert q4["bytes_on_disk"] == bytes_in_blobs(hub, "Q4")
    assert iq1["state"] == "partial" and iq1["files_total"] == 2 and iq1["files_complete"] < 2
    assert iq1["bytes_on_disk"] == bytes_in_blobs(hub, "IQ1") >= 50_000

    table = run_cli("models")
    assert table.returncode == 0
    rows = {line.split()[1]: line for line in table.stdout.splitlines() if "fake-v4:" in line}
    assert "complete" in rows["fake-v4:Q4"] and "partial" in rows["fake-v4:IQ1"]


def test_rm_asks_then_frees_exactly_the_variants_bytes(hub: FakeHub) -> None:
    pull_q4_complete_and_iq1_partial(hub)
    q4_bytes, iq1_bytes = bytes_in_blobs(hub, "Q4"), bytes_in_blobs(hub, "IQ1")

    declined = run_cli("rm", "fake-v4:Q4", input="n\n")
    assert declined.returncode == 1 and "Nothing removed" in declined.stdout
    assert bytes_in_blobs(hub, "Q4") == q4_bytes

    removed = run_cli("rm", "fake-v4:Q4", input="y\n")
    assert removed.returncode == 0, removed.stderr
    assert f"({q4_bytes} bytes)" in removed.stdout
    assert bytes_in_blobs(hub, "Q4") == 0 and bytes_in_blobs(hub, "IQ1") == iq1_bytes
    assert set(models_json()) == {"fake-v4:IQ1"}
    scan = run_hf("cache", "ls", "--format", "json")
    assert scan.returncode == 0 and GGUF_REPO in scan.stdout and "orrupt" not in scan.stdout + scan.stderr

    removed = run_cli("rm", "fake-v4:IQ1", "--yes")
    assert removed.returncode == 0 and f"({iq1_bytes} bytes)" in removed.stdout
    assert not cache_repo(GGUF_REPO).exists()  # nothing of the repo left behind
    assert "No model weights on disk yet" in run_cli("models").stdout


def test_rm_of_what_is_not_there_and_of_an_unknown_variant(hub: FakeHub) -> None:
    absent = run_cli("rm", "fake-v4:Q4", "--yes")
    assert absent.returncode == 0 and "nothing on disk" in absent.stdout
    unknown = run_cli("rm", "fake-v4:Q5", "--yes")
    assert unknown.returncode == 2 and "unknown variant 'Q5'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_rm_removes_every_revision_and_counts_shared_blobs_once(hub: FakeHub) -> None:
    """Two revisions of a repo share the blobs of unchanged files (as the HF cache does)."""
    assert run_cli("pull", "fake-v4:Q4").returncode == 0
    root = cache_repo(GGUF_REPO)
    commit = hub.repos[GGUF_REPO].commit
    older = root / "snapshots" / ("0" * 40) / "Q4"
    older.mkdir(parents=True)
    for pointer in (root / "snapshots" / commit / "Q4").iterdir():
        os.symlink(os.readlink(pointer), older / pointer.name)  # same depth: same relative target
    (root / "refs" / "old").write_text("0" * 40)
    q4_bytes = bytes_in_blobs(hub, "Q4")
    commits = sorted(e["commit"] for e in json.loads(run_cli("models", "--json").stdout))
    assert commits == sorted(["0" * 40, commit])

    result = run_cli("rm", "fake-v4:Q4", "--yes")
    assert result.returncode == 0, result.stderr
    assert f"({q4_bytes} bytes)" in result.stdout
    assert not root.exists()


def test_files_from_hf_download_are_shown_then_adopted_without_downloading(hub: FakeHub) -> None:
    include = [arg for p in MLX_PATTERNS for arg in ("--include", p)]
    hf = run_hf("download", MLX_REPO, *include)
    assert hf.returncode == 0, hf.stderr
    found = models_json()["fake-v4:mlx"]
    assert found["state"] == "found" and found["verified"] is False
    served = hub.served_bytes()

    result = run_cli("pull", "fake-v4:mlx")
    assert result.returncode == 0, result.stderr
    assert hub.served_bytes() == served  # checked in place against the hub's hashes, nothing fetched
    entry = models_json()["fake-v4:mlx"]
    assert entry["state"] == "complete" and entry["verified"] is True


def test_models_and_rm_in_a_dir(hub: FakeHub, tmp_path: Path) -> None:
    target = tmp_path / "weights"
    assert run_cli("pull", "fake-v4:mlx", "--dir", str(target)).returncode == 0
    on_disk = sum(f.stat().st_size for f in target.iterdir() if f.is_file())
    entry = models_json("--dir", str(target))["fake-v4:mlx"]
    assert entry["state"] == "complete" and entry["bytes_on_disk"] == on_disk
    assert models_json() == {}  # the HF cache holds nothing

    result = run_cli("rm", "fake-v4:mlx", "--dir", str(target), "--yes")
    assert result.returncode == 0 and f"({on_disk} bytes)" in result.stdout
    assert not [f for f in target.iterdir() if f.is_file()]


def test_missing_bytes_counts_only_what_a_pull_still_needs(hub: FakeHub) -> None:
    """What doctor's disk check asks: a complete variant needs nothing, a partial one the rest."""
    from localv4.recipes import load_catalog
    from localv4.weights import missing_bytes

    catalog = load_catalog()
    q4, iq1 = catalog.variant("fake-v4:Q4"), catalog.variant("fake-v4:IQ1")
    assert missing_bytes(q4) == q4.size_bytes  # nothing on disk yet: the recipe's size
    pull_q4_complete_and_iq1_partial(hub)
    assert missing_bytes(q4) == 0
    iq1_total = sum(f.size for f in variant_files(hub, "IQ1"))
    assert missing_bytes(iq1) == iq1_total - bytes_in_blobs(hub, "IQ1") > 0


def test_doctor_passes_a_pulled_variant_on_a_nearly_full_disk(hub: FakeHub) -> None:
    import dataclasses

    from localv4.doctor import check_disk
    from localv4.recipes import load_catalog
    from support.machines import machine

    variant = load_catalog().variant("fake-v4:Q4")
    full = dataclasses.replace(machine("cpu-only-24gb"), disk_free=1_000)
    before = check_disk(full, variant)
    assert before.status == "fail" and "needs" in before.detail
    assert run_cli("pull", "fake-v4:Q4").returncode == 0
    after = check_disk(full, variant)
    assert (after.status, after.detail.endswith(f"{variant.id} is on disk")) == ("ok", True)

"""`localv4 pull` fetches the variant's speculative draft with its weights, as `up` would use it.

The recipe names a DSpark draft in another repo (as deepseek-v4-flash-0731 does); the fake hub
(tests/support/hubserver.py) serves both repos. What is checked is what a person sees: the files
on disk with the hub's sha256, the lines and JSON events printed, the exit codes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from support.cli_output import one_line_error
from support.hubserver import FakeHub, make_gguf_repo
from support.process_support import takes_ctrl_c
from support.pull_hub import (
    GGUF_REPO, GGUF_VARIANTS, LAYOUT, PART_SIZE, assert_complete_in_cache, cache_repo, hub_file, sha256_of,
    variant_files, wait_for_partial,
)

DRAFT_REPO = "fakeorg/Fake-V4-DSpark-GGUF"
DRAFT_SIZE = 400_001  # make_gguf_repo adds the part number to the size
RECIPE = f"""
extends = "deepseek-v4-flash"

[model]
id = "fake-v4d"
name = "Fake V4 with a DSpark draft (tests)"

[[series]]
id = "fake"
format = "gguf"
repo = "{GGUF_REPO}"
layout = "{LAYOUT}"

[series.draft]
kind = "dspark"
repo = "{DRAFT_REPO}"
file = "*DSpark*.gguf"
size_bytes = {DRAFT_SIZE}
size_verified = true
layers = 3
source = "tests/test_pull_draft.py"

{GGUF_VARIANTS}"""


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake V4 GGUF repo and the draft's own repo (one GGUF file)."""
    root = tmp_path_factory.mktemp("hubroot-draft")
    make_gguf_repo(root, GGUF_REPO, LAYOUT, {"Q4": 3, "IQ1": 2}, PART_SIZE)
    make_gguf_repo(root, DRAFT_REPO, "Fake-V4-DSpark-{quant}.gguf", {"Q8": 1}, DRAFT_SIZE - 1, seed=7)
    return root


@pytest.fixture(autouse=True)
def draft_recipe(isolated_home: Path) -> None:
    path = Path(os.environ["LOCALV4_HOME"]) / "config" / "recipes" / "fake-v4d.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECIPE)


def _draft(hub: FakeHub):
    return hub_file(hub, DRAFT_REPO, "*DSpark*.gguf")


def test_pull_fetches_the_draft_with_the_weights_verified_and_models_lists_it(hub: FakeHub) -> None:
    result = run_cli("pull", "fake-v4d:Q4")
    assert result.returncode == 0, result.stderr
    assert_complete_in_cache(hub, GGUF_REPO, variant_files(hub, "Q4"))
    draft = _draft(hub)
    snapshot = assert_complete_in_cache(hub, DRAFT_REPO, [draft])  # linked by its sha256, same bytes
    assert hub.served_bytes(draft.path) == draft.size  # each byte once
    out = result.stdout
    assert "Pulling fake-v4d:Q4 " in out and "Pulling fake-v4d:draft-dspark " in out
    assert f"✓ {draft.path}  " in out and str(snapshot / draft.path) in out
    assert out.index("Pulling fake-v4d:Q4 ") < out.index("Pulling fake-v4d:draft-dspark ")

    listed = run_cli("models", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["variant"]: r for r in json.loads(listed.stdout)}
    assert rows["fake-v4d:draft-dspark"]["state"] == "complete" and rows["fake-v4d:draft-dspark"]["verified"]
    assert rows["fake-v4d:Q4"]["state"] == "complete"

    served = hub.served_bytes()
    again = run_cli("pull", "fake-v4d:Q4")
    assert again.returncode == 0, again.stderr
    assert hub.served_bytes() == served and f"✓ {draft.path}" in again.stdout  # nothing fetched twice
    assert "already here" in again.stdout

    removed = run_cli("rm", "fake-v4d:draft-dspark", "--yes")  # by the name `models` lists
    assert removed.returncode == 0 and "Removed fake-v4d:draft-dspark: freed" in removed.stdout, removed.stderr
    rows = {r["variant"]: r for r in json.loads(run_cli("models", "--json").stdout)}
    assert "fake-v4d:draft-dspark" not in rows and rows["fake-v4d:Q4"]["state"] == "complete"


def test_pull_of_the_plans_variant_into_dir_fetches_its_draft_and_json_names_the_file(
        hub: FakeHub, tmp_path: Path) -> None:
    from localv4.recipes import load_catalog
    from localv4.tray.pull_events import PullTracker
    from localv4.weights import locate

    target = tmp_path / "weights"
    result = run_cli("pull", "--model", "fake-v4d", "--dir", str(target), "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    starts = [e for e in events if e["event"] == "start"]
    assert [e["variant"].split(":")[1] for e in starts][1:] == ["draft-dspark"] and len(starts) == 2
    draft = _draft(hub)
    done = [e for e in events if e["event"] == "file_done" and e["path"] == draft.path]
    assert len(done) == 1 and done[0]["size"] == draft.size
    assert starts[1]["repo"] == DRAFT_REPO and starts[1]["total_bytes"] == draft.size
    assert sha256_of(target / draft.path) == draft.sha256
    planned = starts[0]["variant"]
    for f in variant_files(hub, planned.split(":")[1]):
        assert sha256_of(target / f.path) == f.sha256
    assert not cache_repo(DRAFT_REPO).exists()

    # Both repos share the folder: each is found there again, offline.
    catalog = load_catalog()
    weights = locate(catalog.variant(planned), local_dir=target)
    found = locate(catalog.recipe("fake-v4d").variant("Q4").draft.as_variant("fake-v4d"), local_dir=target)
    assert weights is not None and found is not None and found.path == target / draft.path

    tracker = PullTracker()  # the tray's one progress value over both pulls
    for line in result.stdout.splitlines():
        tracker.feed_line(line)
    progress = tracker.progress()
    assert progress.variant == planned and progress.percent == 100
    assert progress.total_bytes == starts[0]["total_bytes"] + draft.size


def test_speculative_off_pulls_the_weights_alone(hub: FakeHub) -> None:
    result = run_cli("pull", "fake-v4d:IQ1", "--speculative", "off")
    assert result.returncode == 0, result.stderr
    assert_complete_in_cache(hub, GGUF_REPO, variant_files(hub, "IQ1"))
    assert "draft" not in result.stdout
    assert hub.served_bytes(_draft(hub).path) == 0 and not cache_repo(DRAFT_REPO).exists()

    bad = run_cli("pull", "fake-v4d:IQ1", "--speculative", "maybe")
    assert bad.returncode == 2 and "--speculative 'maybe'" in one_line_error(bad)


def test_a_pull_interrupted_in_the_draft_resumes_from_the_bytes_kept(hub: FakeHub) -> None:
    assert run_cli("pull", "fake-v4d:IQ1", "--speculative", "off").returncode == 0
    draft = _draft(hub)
    hub.rate = 100_000  # bytes/s: the draft takes seconds, long enough to stop it midway
    proc = subprocess.Popen([sys.executable, "-m", "localv4", "pull", "fake-v4d:IQ1"], env=os.environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=takes_ctrl_c)
    wait_for_partial(cache_repo(DRAFT_REPO), 60_000, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    stopped_at = time.monotonic()
    assert proc.returncode == 130 and "kept on disk" in err and "Traceback" not in err, err
    assert "localv4 pull fake-v4d:IQ1" in err
    (partial,) = cache_repo(DRAFT_REPO).glob("blobs/*.incomplete")
    kept = partial.stat().st_size
    assert 0 < kept < draft.size

    hub.rate = None
    result = run_cli("pull", "fake-v4d:IQ1")
    assert result.returncode == 0, result.stderr
    assert_complete_in_cache(hub, DRAFT_REPO, [draft])
    second = [s for s in hub.log if s.arrived > stopped_at and s.method == "GET" and s.sent]
    sent = [s for s in second if s.path == draft.path]
    assert sum(s.sent for s in sent) == draft.size - kept and sent[0].start == kept  # a Range request
    weights = {f.path for f in variant_files(hub, "IQ1")}
    assert not [s for s in second if s.path in weights]  # the weights were already complete

"""`localv4 pull` against a real HTTP server that speaks the hub's API (tests/support/hubserver.py).

The fixtures (generated repos laid out like the real variants, a fake hub per test, a user recipe
pointing at those repos) are in tests/support/pull_hub.py.
"""

from __future__ import annotations

import hashlib
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
from support.hubserver import FakeHub
from support.process_support import takes_ctrl_c
from support.pull_hub import (
    GGUF_REPO, MLX_PATTERNS, MLX_REPO, PART_SIZE, assert_complete_in_cache, cache_repo, hub_file, run_hf,
    sha256_of, variant_files, wait_for_partial,
)

pytestmark = pytest.mark.usefixtures("fake_recipe")


# -- a complete pull, shared with the other HF tools ---------------------------------------------
def test_pull_gguf_into_hf_cache_then_hf_download_fetches_nothing(hub: FakeHub) -> None:
    result = run_cli("pull", "fake-v4:Q4")
    assert result.returncode == 0, result.stderr
    files = variant_files(hub, "Q4")
    snapshot = assert_complete_in_cache(hub, GGUF_REPO, files)
    assert hub.served_bytes() == sum(f.size for f in files)  # each byte once
    assert hub.served_bytes("IQ1/*") == 0 and hub.served_bytes("README.md") == 0
    # Not a TTY: one plain line per file, and where the entry file is.
    assert sum(line.lstrip().startswith("✓ Q4/") for line in result.stdout.splitlines()) == 3
    assert str(snapshot / "Q4" / "Fake-V4-Q4-00001-of-00003.gguf") in result.stdout

    served = hub.served_bytes()
    hf = run_hf("download", GGUF_REPO, "--include", "Q4/*")
    assert hf.returncode == 0, hf.stderr
    assert str(snapshot) in hf.stdout
    assert hub.served_bytes() == served  # `hf download` found every byte already there
    verify = run_hf("cache", "verify", GGUF_REPO)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_pull_mlx_folder_config_tokenizer_and_all_shards(hub: FakeHub) -> None:
    result = run_cli("pull", "fake-v4:mlx")
    assert result.returncode == 0, result.stderr
    repo = hub.repos[MLX_REPO]
    wanted = [f for p, f in repo.files.items() if p != "README.md"]
    snapshot = cache_repo(MLX_REPO) / "snapshots" / repo.commit
    linked = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*"))
    assert linked == sorted(f.path for f in wanted)
    for f in wanted:
        assert hashlib.sha256((snapshot / f.path).read_bytes()).hexdigest() == f.sha256
    served = hub.served_bytes()
    include = [arg for p in MLX_PATTERNS for arg in ("--include", p)]
    hf = run_hf("download", MLX_REPO, *include)
    assert hf.returncode == 0, hf.stderr
    assert hub.served_bytes() == served


def test_pull_into_dir_is_what_hf_download_local_dir_expects(hub: FakeHub, tmp_path: Path) -> None:
    target = tmp_path / "weights"
    result = run_cli("pull", "fake-v4:mlx", "--dir", str(target))
    assert result.returncode == 0, result.stderr
    repo = hub.repos[MLX_REPO]
    for f in (f for p, f in repo.files.items() if p != "README.md"):
        assert sha256_of(target / f.path) == f.sha256
    assert not (Path(os.environ["HF_HOME"]) / "hub" / "models--fakeorg--Fake-V4-MLX").exists()
    served = hub.served_bytes()
    include = [arg for p in MLX_PATTERNS for arg in ("--include", p)]
    hf = run_hf("download", MLX_REPO, "--local-dir", str(target), *include)
    assert hf.returncode == 0, hf.stderr
    assert hub.served_bytes() == served


def test_second_pull_fetches_nothing_and_locate_finds_it_offline(hub: FakeHub, monkeypatch) -> None:
    from localv4.recipes import load_catalog
    from localv4.weights import locate, pull

    variant = load_catalog().variant("fake-v4:Q4")
    assert locate(variant) is None
    weights = pull(variant)
    served = hub.served_bytes()
    again = run_cli("pull", "fake-v4:Q4")
    assert again.returncode == 0 and hub.served_bytes() == served
    assert "already here" in again.stdout

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # locate never uses the network
    found = locate(variant)
    assert found == weights and found.verified
    assert found.path.name == "Fake-V4-Q4-00001-of-00003.gguf" and found.path.is_file()
    assert [p.name for p in found.files] == [f"Fake-V4-Q4-0000{i}-of-00003.gguf" for i in (1, 2, 3)]


def test_locate_mlx_returns_the_model_folder(hub: FakeHub) -> None:
    from localv4.recipes import load_catalog
    from localv4.weights import locate, pull

    variant = load_catalog().variant("fake-v4:mlx")
    weights = pull(variant)
    assert weights.path == weights.folder and (weights.path / "config.json").is_file()
    assert locate(variant) == weights


def test_token_goes_to_the_hub_only_and_is_never_printed(hub: FakeHub) -> None:
    secret = "hf_localv4TestTokenNeverShown"
    result = run_cli("pull", "fake-v4:IQ1", "--json", env={"HF_TOKEN": secret})
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert all(s.authorized for s in hub.log if s.server == "hub")
    assert not any(s.authorized for s in hub.log if s.server == "cdn")  # never forwarded to the CDN host
    assert {s.server for s in hub.log} == {"hub", "cdn"}


# -- resumable ---------------------------------------------------------------------------------
def _bytes_kept(hub: FakeHub, quant: str) -> dict[str, int]:
    """Per file: its size if complete, else the size of its partial download, else 0."""
    blobs = cache_repo(GGUF_REPO) / "blobs"
    kept = {}
    for f in variant_files(hub, quant):
        partial = blobs / f"{f.sha256}.incomplete"
        if (blobs / f.sha256).exists():
            kept[f.path] = f.size
        else:
            kept[f.path] = partial.stat().st_size if partial.exists() else 0
    return kept


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_pull_resumes_without_fetching_kept_bytes_again(hub: FakeHub, sig: int) -> None:
    from localv4.recipes import load_catalog
    from localv4.weights import locate

    hub.rate = 50_000  # bytes/s per connection: seconds from the first 60 KB to the end, to stop it
    # midway on a busy machine too (at 150 KB/s a CI run's Ctrl-C came after the pull had finished)
    proc = subprocess.Popen([sys.executable, "-m", "localv4", "pull", "fake-v4:IQ1"], env=os.environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=takes_ctrl_c)
    wait_for_partial(cache_repo(GGUF_REPO), 60_000, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    stopped_at = time.monotonic()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "kept on disk" in err and "Traceback" not in err
    kept = _bytes_kept(hub, "IQ1")
    assert any(0 < n < PART_SIZE for n in kept.values())
    assert locate(load_catalog().variant("fake-v4:IQ1")) is None  # a partial file is never taken as done

    hub.rate = None
    result = run_cli("pull", "fake-v4:IQ1")
    assert result.returncode == 0, result.stderr
    assert_complete_in_cache(hub, GGUF_REPO, variant_files(hub, "IQ1"))
    second = [s for s in hub.log if s.arrived > stopped_at and s.method == "GET" and s.sent]
    for f in variant_files(hub, "IQ1"):
        sent = [s for s in second if s.path == f.path]
        assert sum(s.sent for s in sent) == f.size - kept[f.path]
        if 0 < kept[f.path] < f.size:
            assert sent[0].start == kept[f.path]  # a Range request from the first missing byte


# -- verified ------------------------------------------------------------------------------------
def test_corrupt_byte_is_caught_and_only_that_file_fetched_again(hub: FakeHub) -> None:
    bad = hub_file(hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf")
    good = hub_file(hub, GGUF_REPO, "IQ1/*00001-of-00002.gguf")
    hub.corrupt(bad.path, at=123_456)
    result = run_cli("pull", "fake-v4:IQ1")
    assert result.returncode == 0, result.stderr
    assert f"{bad.path}: hash mismatch" in result.stdout
    assert hub.served_bytes(bad.path) == 2 * bad.size
    assert hub.served_bytes(good.path) == good.size
    assert_complete_in_cache(hub, GGUF_REPO, [good, bad])


def test_a_file_that_stays_corrupt_fails_and_keeps_nothing_bad(hub: FakeHub) -> None:
    bad = hub_file(hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf")
    hub.corrupt(bad.path, at=10, times=None)
    result = run_cli("pull", "fake-v4:IQ1")
    assert result.returncode == 1
    line = one_line_error(result)
    assert bad.path in line and "hash check 3 times" in line
    blobs = cache_repo(GGUF_REPO) / "blobs"
    assert not (blobs / bad.sha256).exists() and not (blobs / f"{bad.sha256}.incomplete").exists()
    assert not (cache_repo(GGUF_REPO) / "snapshots" / hub.repos[GGUF_REPO].commit / bad.path).exists()


# -- transient failures are retried --------------------------------------------------------------
@pytest.mark.parametrize("fault, reason", [
    (lambda hub, p: hub.fail(p, 429, times=2, retry_after=0), "HTTP 429"),
    (lambda hub, p: hub.fail(p, 500, times=2), "HTTP 500"),
    (lambda hub, p: hub.fail(p, 503, times=1), "HTTP 503"),
    (lambda hub, p: hub.drop(p, at=100_000, times=2), "connection"),
    (lambda hub, p: hub.stall(p, at=100_000, seconds=10), "stalled: no data for 1 s"),
], ids=["429", "500", "503", "drop", "stall"])
def test_transient_failures_are_retried_and_the_pull_completes(hub: FakeHub, fault, reason: str) -> None:
    target = hub_file(hub, GGUF_REPO, "IQ1/*00001-of-00002.gguf")
    fault(hub, target.path)
    result = run_cli("pull", "fake-v4:IQ1")
    assert result.returncode == 0, result.stderr
    assert f"{target.path}: {reason}" in result.stdout
    assert_complete_in_cache(hub, GGUF_REPO, variant_files(hub, "IQ1"))
    if reason in ("connection", "stalled: no data for 1 s"):
        # Resumed where the connection broke, not from zero (the stalled answer is still open, unlogged).
        resumed = [s for s in hub.requests_for(target.path) if s.start == 100_000]
        assert sum(s.sent for s in resumed) == target.size - 100_000


def test_hub_listing_errors_are_retried_too(hub: FakeHub) -> None:
    hub.fail(f"api/{GGUF_REPO}", 500, times=2)
    result = run_cli("pull", "fake-v4:IQ1")
    assert result.returncode == 0, result.stderr
    assert_complete_in_cache(hub, GGUF_REPO, variant_files(hub, "IQ1"))


def test_permanent_404_fails_with_one_clear_line(hub: FakeHub) -> None:
    target = hub_file(hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf")
    hub.fail(target.path, 404, times=None)
    result = run_cli("pull", "fake-v4:IQ1")
    assert result.returncode == 1
    line = one_line_error(result)
    assert target.path in line and "HTTP 404" in line
    assert len(hub.requests_for(target.path)) <= 2  # not retried over and over


def test_json_progress_is_one_event_per_line(hub: FakeHub) -> None:
    result = run_cli("pull", "fake-v4:IQ1", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("file_done") == 2 and "progress" in kinds
    assert events[0]["total_bytes"] == sum(f.size for f in variant_files(hub, "IQ1"))
    assert events[-1]["fetched_bytes"] == events[0]["total_bytes"]


def test_json_failure_ends_with_an_error_event(hub: FakeHub) -> None:
    hub.fail(hub_file(hub, GGUF_REPO, "IQ1/*00001-of-00002.gguf").path, 404, times=None)
    result = run_cli("pull", "fake-v4:IQ1", "--json")
    assert result.returncode == 1
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == 1 and "HTTP 404" in last["message"]
    unknown = run_cli("pull", "fake-v4:NOPE", "--json")
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout)["exit_code"] == 2


# -- disk space ----------------------------------------------------------------------------------
def test_disk_short_is_refused_before_any_byte(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    from localv4.errors import RuntimeFailure
    from localv4.recipes import load_catalog
    from localv4.weights import disk, pull

    monkeypatch.setattr(disk, "free_bytes", lambda path: 5_000_000)
    with pytest.raises(RuntimeFailure) as err:
        pull(load_catalog().variant("fake-v4:Q4"))
    message = str(err.value)
    assert "not enough disk space" in message and "only 0.0 GB is free" in message
    assert hub.served_bytes() == 0
    assert not cache_repo(GGUF_REPO).exists()


def test_disk_check_counts_only_the_missing_bytes(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    from localv4.recipes import load_catalog
    from localv4.weights import disk, pull

    variant = load_catalog().variant("fake-v4:Q4")
    pull(variant)
    asked = []
    monkeypatch.setattr(disk, "free_bytes", lambda path: asked.append(path) or 0)
    pull(variant)  # nothing missing: no space needed, no refusal
    assert asked == []


# -- bad input and no network: one line, the right exit code, nothing lost ------------------------
def test_bad_input_and_no_network_leave_downloaded_weights_alone(hub: FakeHub, tmp_path: Path) -> None:
    assert run_cli("pull", "fake-v4:Q4").returncode == 0
    root = cache_repo(GGUF_REPO)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}

    cases = [
        (("pull", "fake-v4:NOPE"), {}, 2, "unknown variant 'NOPE'"),
        (("pull", "fake-v4:BADREV"), {}, 2, "revision 'no-such-branch' does not exist"),
        (("pull", "fake-v4:IQ1", "--dir", str(Path(__file__))), {}, 2, "cannot write to --dir"),
        (("pull", "fake-v4:IQ1"), {"HF_ENDPOINT": "http://127.0.0.1:9"}, 1, "cannot reach the hub"),
        (("pull", "fake-v4:IQ1"), {"HF_HUB_OFFLINE": "1"}, 1, "HF_HUB_OFFLINE is set"),
        (("pull", "fake-v4:IQ1"), {"LOCALV4_PULL_STALL_S": "soon"}, 2, "LOCALV4_PULL_STALL_S"),
    ]
    for args, env, code, text in cases:
        result = run_cli(*args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert text in one_line_error(result), (args, result.stderr)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before


def test_no_network_or_offline_still_returns_what_is_complete(hub: FakeHub) -> None:
    assert run_cli("pull", "fake-v4:Q4").returncode == 0
    for env in ({"HF_ENDPOINT": "http://127.0.0.1:9"}, {"HF_HUB_OFFLINE": "1"}):
        result = run_cli("pull", "fake-v4:Q4", env=env)
        assert result.returncode == 0, result.stderr
        assert "already complete on disk" in result.stdout


def test_unwritable_dir_below_a_file_is_refused(hub: FakeHub, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run_cli("pull", "fake-v4:IQ1", "--dir", str(blocker / "weights"))
    assert result.returncode == 2
    assert "cannot write to --dir" in one_line_error(result)
    assert hub.served_bytes() == 0


# -- the plan's variant, HF_HUB_CACHE, and one pull at a time ------------------------------------
def test_pull_without_a_name_fetches_the_plans_variant(hub: FakeHub) -> None:
    from localv4.hardware import detect
    from localv4.planning.machine import plan
    from localv4.recipes import load_catalog

    planned = plan(detect(), load_catalog().recipe("fake-v4")).variant
    result = run_cli("pull", "--model", "fake-v4")
    assert result.returncode == 0, result.stderr
    assert f"Pulling {planned.qualified_id} " in result.stdout
    assert_complete_in_cache(hub, GGUF_REPO, variant_files(hub, planned.id))


def test_hf_hub_cache_is_where_the_files_go(hub: FakeHub, tmp_path: Path) -> None:
    result = run_cli("pull", "fake-v4:IQ1", env={"HF_HUB_CACHE": str(tmp_path / "elsewhere")})
    assert result.returncode == 0, result.stderr
    commit = hub.repos[GGUF_REPO].commit
    assert (tmp_path / "elsewhere" / "models--fakeorg--Fake-V4-GGUF" / "snapshots" / commit / "IQ1").is_dir()
    assert not cache_repo(GGUF_REPO).exists()


def test_a_second_pull_of_the_same_files_is_refused_while_the_first_runs(hub: FakeHub) -> None:
    held = hub_file(hub, GGUF_REPO, "IQ1/*00001-of-00002.gguf")
    hub.stall(held.path, at=10_000, seconds=60)  # the first pull sits in this file until released
    first = subprocess.Popen([sys.executable, "-m", "localv4", "pull", "fake-v4:IQ1"],
                             env={**os.environ, "LOCALV4_PULL_STALL_S": "60"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_partial(cache_repo(GGUF_REPO), 10_000, first)
        second = run_cli("pull", "fake-v4:IQ1")
        assert second.returncode == 1, second.stdout
        assert "another process is downloading" in one_line_error(second)
    finally:
        hub.release_stalls()
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err  # the first one was not disturbed
    assert_complete_in_cache(hub, GGUF_REPO, variant_files(hub, "IQ1"))

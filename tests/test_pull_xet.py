"""`localv4 pull` through Xet storage, against the fake hub's CAS (tests/support/hubserver.py, xet=True) and
the real hf_xet client: the fast path when the hub offers it, resumed from the bytes kept, every
byte still checked against the sha256 (hf_xet checks none), and plain HTTP when Xet fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from support.hubserver import FakeHub
from support.pull_hub import (
    GGUF_REPO, assert_complete_in_cache, cache_repo, hub_file, run_hf, variant_files, wait_for_partial,
)

pytestmark = pytest.mark.usefixtures("fake_recipe")

CHUNK = 64 * 1024  # the fake CAS's chunk size: a resumed stream starts at the chunk holding the offset


@pytest.fixture
def xet_hub(hub_root: Path, monkeypatch: pytest.MonkeyPatch):
    """The fake hub offering its LFS files through Xet too, in xorbs of two chunks (several per part)."""
    with FakeHub(hub_root, xet=True, xorb_chunks=2) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("LOCALV4_PULL_STALL_S", "2")
        monkeypatch.setenv("LOCALV4_PULL_BACKOFF_S", "0.05")
        monkeypatch.setenv("HF_XET_CLIENT_RETRY_MAX_ATTEMPTS", "2")
        monkeypatch.setenv("HF_XET_CLIENT_RETRY_BASE_DELAY", "10ms")
        monkeypatch.setenv("HF_XET_TELEMETRY_ENABLED", "false")
        yield server


def pull_events(*args: str, **env: str) -> list[dict]:
    result = run_cli("pull", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def transports(events: list[dict]) -> dict[str, str]:
    return {e["path"]: e["transport"] for e in events if e["event"] == "file_start"}


def test_pull_takes_xet_where_the_hub_offers_it(xet_hub: FakeHub) -> None:
    files = variant_files(xet_hub, "Q4")
    events = pull_events("fake-v4:Q4")
    assert transports(events) == {f.path: "xet" for f in files}
    assert_complete_in_cache(xet_hub, GGUF_REPO, files)
    for f in files:
        assert xet_hub.served_bytes(f.path, server="cas") >= f.size  # xorbs: the bytes plus chunk headers
        assert xet_hub.served_bytes(f.path, server="cdn") == 0
    served = xet_hub.served_bytes()
    hf = run_hf("download", GGUF_REPO, "--include", "Q4/*")
    assert hf.returncode == 0, hf.stderr
    assert xet_hub.served_bytes() == served  # the HF cache is the one `hf download` reads


def test_xet_resumes_from_the_bytes_kept(xet_hub: FakeHub) -> None:
    f = hub_file(xet_hub, GGUF_REPO, "IQ1/*00001-of-00002.gguf")
    kept = 3 * CHUNK + 1000  # an earlier pull stopped here
    partial = cache_repo(GGUF_REPO) / "blobs" / f"{f.sha256}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(f.disk.read_bytes()[:kept])
    events = pull_events("fake-v4:IQ1")
    started = next(e for e in events if e["event"] == "file_start" and e["path"] == f.path)
    assert (started["transport"], started["resume_from"]) == ("xet", kept)
    fetches = xet_hub.requests_for(f.path, server="cas")
    assert min(s.start for s in fetches) == 3 * CHUNK  # from the chunk holding the first missing byte
    assert xet_hub.served_bytes(f.path, server="cas") < f.size - 2 * CHUNK
    assert_complete_in_cache(xet_hub, GGUF_REPO, variant_files(xet_hub, "IQ1"))


def test_a_corrupt_xet_byte_is_caught_by_the_sha256(xet_hub: FakeHub) -> None:
    bad = hub_file(xet_hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf")
    xet_hub.corrupt(f"cas/{bad.path}", at=123_456)
    result = run_cli("pull", "fake-v4:IQ1")
    assert result.returncode == 0, result.stderr
    assert f"{bad.path}: hash mismatch" in result.stdout  # hf_xet passed the bad byte on; localv4 did not
    assert_complete_in_cache(xet_hub, GGUF_REPO, variant_files(xet_hub, "IQ1"))


def test_a_failing_xet_store_falls_back_to_http(xet_hub: FakeHub) -> None:
    broken = hub_file(xet_hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf")
    xet_hub.fail(f"cas/{broken.path}", 500, times=None)
    events = pull_events("fake-v4:IQ1")
    retries = [e for e in events if e["event"] == "retry" and e["path"] == broken.path]
    assert retries and "going on over HTTP" in retries[0]["reason"]
    assert xet_hub.served_bytes(broken.path, server="cdn") > 0
    assert_complete_in_cache(xet_hub, GGUF_REPO, variant_files(xet_hub, "IQ1"))


def test_hf_hub_disable_xet_keeps_to_plain_http(xet_hub: FakeHub) -> None:
    files = variant_files(xet_hub, "IQ1")
    events = pull_events("fake-v4:IQ1", HF_HUB_DISABLE_XET="1")
    assert set(transports(events).values()) == {"http"}
    assert xet_hub.served_bytes(server="cas") == 0
    assert_complete_in_cache(xet_hub, GGUF_REPO, files)


def test_a_stalled_xet_store_is_left_for_http(xet_hub: FakeHub) -> None:
    stalled = hub_file(xet_hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf")
    xet_hub.stall(f"cas/{stalled.path}", at=200_000, seconds=120)  # hf_xet alone would wait it out
    try:
        result = run_cli("pull", "fake-v4:IQ1", timeout=60)
    finally:
        xet_hub.release_stalls()
    assert result.returncode == 0, result.stderr
    assert "Xet transfer failed (stalled: no data for 2 s); going on over HTTP" in result.stdout
    assert 0 < xet_hub.served_bytes(stalled.path, server="cdn") < stalled.size  # from the bytes kept
    assert_complete_in_cache(xet_hub, GGUF_REPO, variant_files(xet_hub, "IQ1"))


def payloads(shared: Path) -> list[Path]:
    """The file contents in huggingface_hub's shared store (not its .refs and .lock notes)."""
    return [p for p in shared.glob("*/*") if re.fullmatch("[0-9a-f]{64}", p.name)]


def test_hf_downloads_kept_as_shared_xet_blobs_are_adopted_and_freed_by_rm(xet_hub: FakeHub) -> None:
    """huggingface_hub >= 2.4 keeps a Xet download once per cache (hub/blobs/xx/<xet hash>) and
    links the repo's blob to it: localv4 must check it in place, and `rm` must free that copy."""
    files = variant_files(xet_hub, "IQ1")
    hf = run_hf("download", GGUF_REPO, "--include", "IQ1/*")
    assert hf.returncode == 0, hf.stderr
    shared = Path(os.environ["HF_HOME"]) / "hub" / "blobs"
    assert sorted(p.stat().st_size for p in payloads(shared)) == sorted(f.size for f in files)
    served = xet_hub.served_bytes()

    adopted = run_cli("pull", "fake-v4:IQ1")
    assert adopted.returncode == 0, adopted.stderr
    assert xet_hub.served_bytes() == served  # hashed where they lie, nothing fetched

    removed = run_cli("rm", "fake-v4:IQ1", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert f"({sum(f.size for f in files)} bytes)" in removed.stdout
    assert payloads(shared) == []


def test_kill_9_during_a_xet_pull_resumes_from_the_bytes_kept(xet_hub: FakeHub) -> None:

    f = hub_file(xet_hub, GGUF_REPO, "IQ1/*00002-of-00002.gguf")
    xet_hub.stall(f"cas/{f.path}", at=200_000, seconds=120)  # hold the pull after its first xorbs
    proc = subprocess.Popen([sys.executable, "-m", "localv4", "pull", "fake-v4:IQ1"],
                            env={**os.environ, "LOCALV4_PULL_STALL_S": "60"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_partial(cache_repo(GGUF_REPO), 2 * CHUNK, proc)
        time.sleep(0.5)  # whatever was on its way has landed
    finally:
        proc.kill()
        proc.communicate(timeout=30)
        xet_hub.release_stalls()
    stopped_at = time.monotonic()
    kept = (cache_repo(GGUF_REPO) / "blobs" / f"{f.sha256}.incomplete").stat().st_size
    assert 0 < kept < f.size

    events = pull_events("fake-v4:IQ1")
    started = next(e for e in events if e["event"] == "file_start" and e["path"] == f.path)
    assert (started["transport"], started["resume_from"]) == ("xet", kept)
    resumed = [s for s in xet_hub.requests_for(f.path, server="cas") if s.arrived > stopped_at]
    assert min(s.start for s in resumed) == kept // CHUNK * CHUNK  # from the first missing chunk on
    assert_complete_in_cache(xet_hub, GGUF_REPO, variant_files(xet_hub, "IQ1"))

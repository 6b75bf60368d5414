"""The fake hub's Xet storage (tests/support/hubserver.py, `FakeHub(xet=True)`) against the real clients:
hf_xet's download streams and huggingface_hub's hf_hub_download / `hf download`, no localv4 code.

Xorbs are capped at 8 chunks (512 KiB) here, so each 3 MB file spans 6 xorbs. hf_xet is imported
only inside tests: importing it opens a log file in $HF_HOME/xet/logs, which must be the temp one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url

from support.hubserver import XET_CHUNK_SIZE, FakeHub, HubFile, make_mlx_repo

REPO = "fakeorg/Fake-V4-Xet"
SHARD = "model-00001-of-00002.safetensors"
XORB_CHUNKS = 8


@pytest.fixture(scope="module")
def xet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("xetroot")
    make_mlx_repo(root, REPO, shards=2, shard_size=3_000_000)
    return root


@pytest.fixture
def hf_xet(isolated_home: Path):
    import hf_xet

    return hf_xet


@pytest.fixture
def xet_hub(xet_root: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh fake hub with Xet storage, selected with HF_ENDPOINT."""
    with FakeHub(xet_root, xet=True, xorb_chunks=XORB_CHUNKS) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        yield server


def shard(hub: FakeHub) -> HubFile:
    return hub.repos[REPO].files[SHARD]


def xet_stream_group(hub: FakeHub, **config: object):
    """A real hf_xet download group that finds the CAS and its token through the hub's token route."""
    import hf_xet

    # No chunk cache: it lives for the process (under the first test's HF_HOME), so a chunk one
    # test fetched would not be fetched again by the next, whose fetches are what it counts.
    settings = {"client.retry_max_attempts": 2, "client.retry_base_delay": "10ms", "chunk_cache.size_bytes": 0,
                **config}
    session = hf_xet.XetSession(hf_xet.XetConfig().with_config(settings))
    return session.new_download_stream_group(token_refresh_url=hub.xet_token_url(REPO, "main"),
                                             token_refresh_headers={})


def xet_info(hub: FakeHub, f: HubFile):
    import hf_xet

    return hf_xet.XetFileInfo(hub.xet_hashes[f.sha256], f.size)


def assert_stream_fails(stream, size: int, status: str) -> None:
    """A failed hf_xet stream raises, or (hf_xet 1.8.0, about 1 run in 4) just ends early with no
    error: a caller must count the bytes it got."""
    try:
        got = b"".join(stream)
    except ConnectionError as error:
        assert status in str(error)
    else:
        assert len(got) < size


def run_hf(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["hf", *args], capture_output=True, text=True, env={**os.environ, **env})


# -- what the hub announces ---------------------------------------------------------------------
def test_hub_announces_xet_files_as_huggingface_hub_reads_them(xet_hub: FakeHub, hf_xet) -> None:
    f, commit = shard(xet_hub), xet_hub.repos[REPO].commit
    lfs = [g for g in xet_hub.repos[REPO].files.values() if g.lfs]
    real = {g.path: info.hash for g, info in zip(lfs, hf_xet.hash_files([str(g.disk) for g in lfs]))}
    assert {g.path: xet_hub.xet_hashes[g.sha256] for g in lfs} == real and len(real) == 2
    meta = get_hf_file_metadata(hf_hub_url(REPO, SHARD, endpoint=xet_hub.endpoint))
    assert meta.xet_file_data is not None
    assert meta.xet_file_data.file_hash == real[SHARD]  # X-Xet-Hash is the file's real Xet hash
    assert meta.xet_file_data.refresh_route == xet_hub.xet_token_url(REPO, commit)  # Link rel="xet-auth"
    assert meta.size == f.size and meta.etag == f.sha256
    readme = get_hf_file_metadata(hf_hub_url(REPO, "README.md", endpoint=xet_hub.endpoint))
    assert readme.xet_file_data is None  # files kept in git are not in Xet storage

    token = httpx.get(meta.xet_file_data.refresh_route)
    assert token.status_code == 200
    body = token.json()
    assert body["casUrl"] == token.headers["X-Xet-Cas-Url"] == xet_hub.cas_endpoint
    assert body["accessToken"] == token.headers["X-Xet-Access-Token"]
    assert body["exp"] == int(token.headers["X-Xet-Token-Expiration"]) > time.time()

    tree = {e.path: e for e in HfApi(endpoint=xet_hub.endpoint).list_repo_tree(REPO)}
    assert tree[SHARD].xet_hash == real[SHARD] and tree["config.json"].xet_hash is None


def test_plain_hub_offers_no_xet(xet_root: Path) -> None:
    with FakeHub(xet_root) as hub:
        meta = get_hf_file_metadata(hf_hub_url(REPO, SHARD, endpoint=hub.endpoint))
        assert meta.xet_file_data is None and hub.cas_endpoint is None
        assert httpx.get(hub.xet_token_url(REPO, "main")).status_code == 404


# -- the real hf_xet client ---------------------------------------------------------------------
def test_hf_xet_streams_the_file_across_xorbs_then_only_the_tail_from_an_offset(xet_hub: FakeHub) -> None:
    f = shard(xet_hub)
    data, info = f.disk.read_bytes(), xet_info(xet_hub, f)
    group = xet_stream_group(xet_hub)
    assert b"".join(group.download_stream(info)) == data
    fetches = xet_hub.requests_for(SHARD, server="cas")
    assert len(fetches) == 6 == xet_hub.xet_file(f).xorb_count  # one range fetch per xorb
    assert xet_hub.served_bytes(SHARD, server="cas") >= f.size
    assert xet_hub.served_bytes(server="cdn") == 0

    resume_at = 2_000_001  # as a resumed download asks: only what is missing
    xet_hub.log.clear()
    assert b"".join(group.download_stream(info, start=resume_at)) == data[resume_at:]
    first_chunk = resume_at // XET_CHUNK_SIZE * XET_CHUNK_SIZE
    assert min(s.start for s in xet_hub.requests_for(SHARD, server="cas")) == first_chunk
    assert xet_hub.served_bytes(SHARD, server="cas") < f.size - first_chunk + 1024  # + chunk headers


def test_v1_reconstruction_api_and_a_seeded_token_give_a_byte_range(xet_hub: FakeHub, hf_xet) -> None:
    f = shard(xet_hub)
    config = hf_xet.XetConfig().with_config("client.reconstruction_api_version", 1)
    group = hf_xet.XetSession(config).new_download_stream_group(
        endpoint=xet_hub.cas_endpoint, token=xet_hub.xet_token, token_expiry_unix_secs=int(time.time()) + 600)
    assert b"".join(group.download_stream(xet_info(xet_hub, f), start=100, end=1_500_000)) \
        == f.disk.read_bytes()[100:1_500_000]


def test_the_cas_wants_the_token_from_the_token_route(xet_hub: FakeHub, hf_xet) -> None:
    group = hf_xet.XetSession().new_download_stream_group(
        endpoint=xet_hub.cas_endpoint, token="not-the-token", token_expiry_unix_secs=int(time.time()) + 600)
    assert_stream_fails(group.download_stream(xet_info(xet_hub, shard(xet_hub))), shard(xet_hub).size, "401")


# -- huggingface_hub on top of it ---------------------------------------------------------------
def test_hf_hub_download_goes_through_the_cas_not_the_cdn(xet_hub: FakeHub, tmp_path: Path) -> None:
    f = shard(xet_hub)
    path = hf_hub_download(REPO, SHARD, endpoint=xet_hub.endpoint, cache_dir=tmp_path)
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == f.sha256
    assert xet_hub.served_bytes(SHARD, server="cas") >= f.size
    assert xet_hub.served_bytes(server="cdn") == 0


def test_without_xet_the_same_file_comes_from_the_cdn(xet_hub: FakeHub, tmp_path: Path) -> None:
    f = shard(xet_hub)
    hf = run_hf("download", REPO, SHARD, "--local-dir", str(tmp_path), HF_HUB_DISABLE_XET="1")
    assert hf.returncode == 0, hf.stderr
    assert hashlib.sha256((tmp_path / SHARD).read_bytes()).hexdigest() == f.sha256
    assert xet_hub.served_bytes(SHARD, server="cdn") == f.size
    assert xet_hub.served_bytes(server="cas") == 0


# -- faults -------------------------------------------------------------------------------------
def test_a_500_and_a_dropped_xorb_fetch_are_retried_by_the_client(xet_hub: FakeHub) -> None:
    f = shard(xet_hub)
    xet_hub.fail(f"cas/{SHARD}", 500)
    xet_hub.drop(f"cas/{SHARD}", at=2_500_000)
    assert b"".join(xet_stream_group(xet_hub).download_stream(xet_info(xet_hub, f))) == f.disk.read_bytes()
    fetches = xet_hub.requests_for(SHARD, server="cas")
    assert sorted(s.status for s in fetches).count(500) == 1
    cut = [s for s in fetches if s.start <= 2_500_000 < s.start + XORB_CHUNKS * XET_CHUNK_SIZE]
    assert len(cut) == 2 and min(s.sent for s in cut) < max(s.sent for s in cut)  # cut short, then again


def test_a_broken_cas_fails_the_xet_download_and_huggingface_hub_does_not_fall_back(
        xet_hub: FakeHub, hf_xet, tmp_path: Path) -> None:
    f = shard(xet_hub)
    xet_hub.fail(f"xet/{SHARD}", 500, times=None)
    session = hf_xet.XetSession(hf_xet.XetConfig().with_config({"client.retry_max_attempts": 1}))
    with pytest.raises(RuntimeError, match="500"):  # the file download group always says so
        with session.new_file_download_group(endpoint=xet_hub.cas_endpoint, token=xet_hub.xet_token,
                                             token_expiry_unix_secs=int(time.time()) + 600) as group:
            group.start_download_file(xet_info(xet_hub, f), str(tmp_path / "out"))
    assert_stream_fails(xet_stream_group(xet_hub).download_stream(xet_info(xet_hub, f)), f.size, "500")
    hf = run_hf("download", REPO, SHARD, "--local-dir", str(tmp_path),
                HF_XET_CLIENT_RETRY_MAX_ATTEMPTS="1", HF_XET_CLIENT_RETRY_BASE_DELAY="10ms")
    assert hf.returncode != 0 and "500" in hf.stderr
    assert xet_hub.served_bytes() == 0  # the caller has to fall back to plain HTTP itself


def test_a_corrupt_cas_byte_reaches_the_reader_unverified(xet_hub: FakeHub) -> None:
    """hf_xet checks no chunk, xorb or file hash on download: the caller must check sha256."""
    f = shard(xet_hub)
    xet_hub.corrupt(f"cas/{SHARD}", at=2_500_000)
    got = b"".join(xet_stream_group(xet_hub).download_stream(xet_info(xet_hub, f)))
    data, at = f.disk.read_bytes(), 2_500_000
    assert got[:at] == data[:at] and got[at] != data[at] and got[at + 1:] == data[at + 1:]

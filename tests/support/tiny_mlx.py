"""The tiny MLX model (scripts/make_tiny_mlx.py) and a real mlx_lm.server on it, for chat, bench and serving tests.

`tiny_mlx_model` (the folder) and `mlx_url` (the server's base URL) are fixtures; both skip without mlx-lm.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .ports import free_port

REPO = Path(__file__).resolve().parents[2]
NEEDS_MLX = "the MLX tests need mlx[cpu] and mlx-lm (the test extra)"
SCRIPT = REPO / "scripts" / "make_tiny_mlx.py"


def make_tiny_mlx(out: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run scripts/make_tiny_mlx.py OUT EXTRA..., as a user does."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *extra],
        capture_output=True, text=True, check=True, timeout=120,
    )


@pytest.fixture(scope="session")
def tiny_mlx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's folder, made once per session; skips without mlx-lm."""
    pytest.importorskip("mlx_lm", reason=NEEDS_MLX)
    out = tmp_path_factory.mktemp("tiny-mlx") / "model"
    make_tiny_mlx(out)
    return out


@contextlib.contextmanager
def mlx_server(model: Path, log: Path) -> Iterator[str]:
    """mlx_lm.server on the model, started by hand as a user would; yields its base URL."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlx_lm.server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"mlx_lm.server exited:\n{log.read_text()[-2000:]}"
            try:
                ready = httpx.post(f"{url}/chat/completions", timeout=30, json={
                    "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"mlx_lm.server not ready:\n{log.read_text()[-2000:]}"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def mlx_url(tiny_mlx_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real mlx_lm.server on the tiny model, one per test module."""
    with mlx_server(tiny_mlx_model, tmp_path_factory.mktemp("mlx-log") / "server.log") as url:
        yield url

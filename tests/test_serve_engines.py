"""Serving with real engines on CPU: the real Gemma 3 270M Q4_K_M GGUF and a tiny MLX model.

A test recipe (the model constants scaled to the tiny model) goes into the user recipes folder,
so the real planner plans it on this machine, exactly as it plans DeepSeek V4-Flash.
Replies from these tiny models are not meaningful text: tests assert on structure, never wording.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import psutil
import pytest

from localv4.errors import RuntimeFailure
from localv4.serve import api
from localv4.serve.state import api_key_path, ensure_state_dir, read_state
from support.gemma_serving import cmdline, engine_processes, is_ours
from support.process_support import alive, tree_pids

pytest.importorskip("openai")
from openai import OpenAI  # noqa: E402

from support.gemma_recipe import GGUF_NAME, GGUF_SIZE, RECIPE_ID, SERVED, TEST_RECIPE, VARIANT  # noqa: E402,F401


def _round_trip(server) -> None:
    """What a client gets: a chat completion, streamed and not, under the served model id."""
    key = api.read_api_key() or "not-needed"
    client = OpenAI(base_url=server.endpoint, api_key=key, max_retries=0, timeout=120)
    assert SERVED in [m.id for m in client.models.list().data]
    reply = client.chat.completions.create(
        model=SERVED, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
    message = reply.choices[0].message
    assert message.role == "assistant"
    # A thinking template (the tiny MLX model's) puts the text under `reasoning`.
    assert isinstance(message.content or (message.model_extra or {}).get("reasoning") or "", str)
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert 0 <= reply.usage.completion_tokens <= 8
    chunks = list(client.chat.completions.create(
        model=SERVED, messages=[{"role": "user", "content": "Count to three."}],
        max_tokens=8, stream=True))
    assert chunks and all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert isinstance(text, str)
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def _serve_and_check(plan, weights: Path, backend: str) -> None:
    info = api.up(plan, weights, api.ServeOptions(backend=backend, port="auto"))
    assert not info.already_running and info.server.backend == backend
    pids = tree_pids(info.server.pid)
    _round_trip(info.server)
    now = api.status()
    assert now.state == "running" and now.server.pid == info.server.pid
    assert now.rss_bytes and now.rss_bytes > 50 * 1024 * 1024
    assert now.to_dict()["plan"] == plan.to_dict()  # what bench compares with: the plan it serves
    stopped = api.down()
    assert stopped is not None and stopped.pid == info.server.pid
    assert alive(pids) == []
    assert api.status().state == "stopped" and read_state() is None


# ---------------------------------------------------------------- llama-cpp-python


@pytest.mark.engine
def test_llama_cpp_python_serves_the_plan(llama_cpp_server, gemma_plan, gemma_gguf, no_engine_left):
    assert gemma_plan.engine == "llama.cpp" and gemma_plan.placement == "cpu"
    _serve_and_check(gemma_plan, gemma_gguf, "llama-cpp-python")


@pytest.mark.engine
def test_up_twice_runs_one_engine(llama_cpp_server, gemma_plan, gemma_gguf, no_engine_left):
    first = api.up(gemma_plan, gemma_gguf, api.ServeOptions(backend="llama-cpp-python", port="auto"))
    try:
        again = api.up(gemma_plan, gemma_gguf, api.ServeOptions(backend="llama-cpp-python", port="auto"))
        assert again.already_running and again.server == first.server
        engines = [p for p in engine_processes() if is_ours(p)]
        assert [p.pid for p in engines] == [first.server.pid]
    finally:
        api.down()


@pytest.mark.engine
def test_killed_engine_shows_as_crashed_with_its_log(llama_cpp_server, gemma_plan, gemma_gguf, no_engine_left):
    info = api.up(gemma_plan, gemma_gguf, api.ServeOptions(backend="llama-cpp-python", port="auto"))
    os.kill(info.server.pid, signal.SIGKILL)
    psutil.Process(info.server.pid).wait(timeout=10)  # reap it: we are its parent here
    crashed = api.status()
    assert crashed.state == "crashed" and crashed.server.pid == info.server.pid
    assert crashed.log_tail and any("llama" in line.lower() for line in crashed.log_tail)
    # A new `up` replaces the dead record and serves again.
    _serve_and_check(gemma_plan, gemma_gguf, "llama-cpp-python")


@pytest.mark.engine
def test_corrupt_gguf_fails_with_the_cause_and_leaves_nothing(
        llama_cpp_server, gemma_plan, gemma_gguf, tmp_path, no_engine_left):
    corrupt = tmp_path / GGUF_NAME
    with open(gemma_gguf, "rb") as src:
        corrupt.write_bytes(src.read(4 * 1024 * 1024))  # the header of the real file, cut short
    with pytest.raises(api.EngineLoadFailed) as failed:
        api.up(gemma_plan, corrupt, api.ServeOptions(backend="llama-cpp-python", port="auto"))
    assert "damaged or incomplete" in str(failed.value) and "localv4 pull" in str(failed.value)
    assert 0 < len(failed.value.log_tail) <= 20
    assert api.status().state == "stopped"


@pytest.mark.engine
def test_busy_port_names_its_holder(llama_cpp_server, gemma_plan, gemma_gguf, no_engine_left):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeFailure) as busy:
            api.up(gemma_plan, gemma_gguf, api.ServeOptions(backend="llama-cpp-python", port=str(port)))
    message = str(busy.value)
    assert f"port {port} is already in use" in message and "--port auto" in message
    assert f"pid {os.getpid()}" in message
    assert api.status().state == "stopped"


@pytest.mark.engine
def test_wider_host_needs_a_key_kept_off_the_command_line(
        llama_cpp_server, gemma_plan, gemma_gguf, no_engine_left):
    info = api.up(gemma_plan, gemma_gguf, api.ServeOptions(backend="llama-cpp-python", host="0.0.0.0", port="auto"))
    try:
        key_file = Path(info.server.api_key_file)
        key = api.read_api_key()
        assert key and key_file.stat().st_mode & 0o777 == 0o600
        assert all(key not in " ".join(cmdline(p)) for p in psutil.Process(info.server.pid).parents()
                   + [psutil.Process(info.server.pid)])
        assert key not in Path(info.server.log).read_text(errors="replace")
        import httpx

        url = f"{info.server.endpoint}/chat/completions"
        body = {"model": SERVED, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(url, json=body, timeout=60).status_code == 401
        assert httpx.post(url, json=body, timeout=60,
                          headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        api.down()


@pytest.mark.engine
def test_a_key_that_begins_with_a_dash_still_serves(llama_cpp_server, gemma_plan, gemma_gguf, no_engine_left):
    """Keys are drawn from A-Z a-z 0-9 - _: one in 64 begins with "-". llama-cpp-python's argparse
    took such a key for an option and the engine died while loading (a CI run hit it)."""
    ensure_state_dir()
    api_key_path().write_text("-first-char-is-a-dash\n", encoding="utf-8")
    api_key_path().chmod(0o600)
    info = api.up(gemma_plan, gemma_gguf, api.ServeOptions(backend="llama-cpp-python", host="0.0.0.0", port="auto"))
    try:
        import httpx

        body = {"model": SERVED, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{info.server.endpoint}/chat/completions", json=body, timeout=60,
                            headers={"Authorization": "Bearer -first-char-is-a-dash"})
        assert answer.status_code == 200
    finally:
        api.down()


# ---------------------------------------------------------------- native llama-server


@pytest.mark.engine
def test_native_llama_server_serves_the_plan(native_server, gemma_plan, gemma_gguf, no_engine_left):
    _serve_and_check(gemma_plan, gemma_gguf, "llama-server")


@pytest.mark.engine
def test_engine_flags_after_the_double_dash_reach_llama_server_and_are_recorded(
        native_server, gemma_plan, gemma_gguf, no_engine_left):
    info = api.up(gemma_plan, gemma_gguf, api.ServeOptions(backend="llama-server", port="auto",
                                                          engine_args=("--threads", "1", "--n-predict", "3")))
    try:
        assert cmdline(psutil.Process(info.server.pid))[-4:] == ["--threads", "1", "--n-predict", "3"]
        assert read_state().engine_args == ("--threads", "1", "--n-predict", "3")  # what a restart reuses
        from conftest import run_cli

        assert "flags     --threads 1 --n-predict 3 (after `--`, to llama-server)" in run_cli("status").stdout
        client = OpenAI(base_url=info.server.endpoint, api_key="none", max_retries=0, timeout=120)
        reply = client.chat.completions.create(model=SERVED, messages=[{"role": "user", "content": "Hi"}])
        assert reply.usage.completion_tokens <= 3  # the engine's own default cap, set by the flag
    finally:
        api.down()


def test_native_llama_server_is_the_default_when_it_knows_the_arch(native_server, gemma_plan):
    from localv4.serve.engines.policy import choose_backend

    assert choose_backend(gemma_plan, None) == "llama-server"


# ---------------------------------------------------------------- MLX


@pytest.mark.engine
def test_mlx_serves_a_tiny_model_with_its_context_cap_and_key(tmp_path, recipe_dir, no_engine_left):
    pytest.importorskip("mlx_lm")
    from support.tiny_mlx import make_tiny_mlx

    from localv4.flow import UpOptions, make_plan

    model = tmp_path / "tiny-mlx"
    make_tiny_mlx(model)
    kind = json.loads((model / "config.json").read_text())["model_type"]
    mlx_recipe = TEST_RECIPE.replace(f'id = "{RECIPE_ID}"', 'id = "tiny-mlx-test"').replace(
        'format = "gguf"', 'format = "mlx"\ninclude = ["*"]').replace(
        'mlx = "gemma3_text"', f'mlx = "{kind}"')
    (recipe_dir / "tiny-mlx-test.toml").write_text(mlx_recipe)
    plan = make_plan(UpOptions(model="tiny-mlx-test", variant=VARIANT, ctx=1024))
    assert plan.engine == "mlx"
    info = api.up(plan, model, api.ServeOptions(port="auto", host="0.0.0.0"))
    try:
        assert info.server.backend == "mlx" and info.server.api_key_file
        _round_trip(info.server)
        import httpx

        assert httpx.get(f"{info.server.endpoint}/models", timeout=30).status_code == 401
        client = OpenAI(base_url=info.server.endpoint, api_key=api.read_api_key(), max_retries=0, timeout=60)
        too_long = " ".join(["word"] * 1500)
        from openai import BadRequestError

        with pytest.raises(BadRequestError) as refused:
            client.chat.completions.create(model=SERVED, max_tokens=4,
                                           messages=[{"role": "user", "content": too_long}])
        assert "context is 1024 tokens" in refused.value.response.text
    finally:
        api.down()
    assert api.status().state == "stopped"


# ---------------------------------------------------------------- through the CLI


def _cli(*args: str, hub=None, **kwargs):
    from conftest import run_cli

    return run_cli(*args, env={"HF_ENDPOINT": hub.endpoint} if hub else None, **kwargs)


@pytest.mark.engine
@pytest.mark.parametrize("backend", ["llama-cpp-python", "llama-server"])
def test_cli_up_pulls_serves_reports_and_goes_down(backend, request, recipe_dir, fake_hub, no_engine_left):
    request.getfixturevalue("native_server" if backend == "llama-server" else "llama_cpp_server")
    done = _cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", backend,
                "--port", "auto", hub=fake_hub, timeout=600)
    assert done.returncode == 0, done.stderr
    server = read_state()
    assert server is not None and server.ready_at
    out = done.stdout
    assert "Ready" in out and f"endpoint  {server.endpoint}" in out and f"model     {SERVED}" in out
    assert f"curl {server.endpoint}/chat/completions" in out and "from openai import OpenAI" in out
    pids = tree_pids(server.pid)
    _round_trip(server)

    shown = json.loads(_cli("status", "--json").stdout)
    assert shown["state"] == "running" and shown["endpoint"] == server.endpoint
    assert shown["model_id"] == SERVED and shown["backend"] == backend and shown["rss_bytes"] > 0
    assert len(_cli("logs", "-n", "5").stdout.strip().splitlines()) == 5

    again = _cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", backend, hub=fake_hub)
    assert again.returncode == 0 and "Already up" in again.stdout and read_state() == server

    down = _cli("down")
    assert down.returncode == 0 and f"pid {server.pid}" in down.stdout
    assert alive(pids) == [] and read_state() is None
    assert json.loads(_cli("status", "--json").stdout)["state"] == "stopped"


@pytest.mark.engine
def test_cli_foreground_streams_the_log_and_ctrl_c_stops_the_engine(
        llama_cpp_server, recipe_dir, fake_hub, no_engine_left):
    import subprocess

    first = _cli("pull", f"{RECIPE_ID}:{VARIANT}", hub=fake_hub, timeout=600)
    assert first.returncode == 0, first.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "localv4", "up", "--variant", f"{RECIPE_ID}:{VARIANT}",
         "--backend", "llama-cpp-python", "--port", "auto", "--foreground"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Ready"):  # Ctrl-C while the endpoint is still being announced
                break
        server = read_state()
        assert server is not None and server.foreground, "".join(seen)
        pids = tree_pids(server.pid)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Stopping the engine" in rest
    assert alive(pids) == [] and read_state() is None


def test_cli_bad_backend_for_the_format_is_a_usage_error(recipe_dir):
    from conftest import run_cli

    done = run_cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", "mlx")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "cannot serve GGUF variant" in done.stderr


def test_cli_reasoning_mode_the_model_lacks_is_a_usage_error(recipe_dir):
    from conftest import run_cli

    done = run_cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--reasoning", "max",
                   "--backend", "llama-cpp-python")
    assert done.returncode == 2 and "unknown reasoning mode 'max'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("flags", "said"), [
    (["--", "--port", "9"], "--port after `--` is localv4's to set: use --port instead."),
    (["--", "--api-key=secret"], "--api-key after `--` is localv4's to set"),
    (["--backend", "llama-cpp-python", "--", "--threads", "2"],
     "engine flags after `--` go to llama-server only; llama-cpp-python takes none."),
])
def test_cli_engine_flags_localv4_owns_or_a_backend_cannot_take_are_usage_errors(recipe_dir, flags, said):
    from conftest import run_cli

    done = run_cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", *flags)
    assert done.returncode == 2 and said in done.stderr and "secret" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_ctx_out_of_range_is_a_usage_error(recipe_dir):
    from conftest import run_cli

    done = run_cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--ctx", "64K")
    assert done.returncode == 2 and "out of range" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX process groups and signals")

"""The tiny V4 served by a llama.cpp engine through localv4's own serving stage, and what a test
reads back from it: its /metrics counts, and every host a client tried to reach beyond it.

The engine is the native llama-server unless a test runs on both llama.cpp engines
(`on_both_engines`: the native build and the prebuilt xllamacpp wheel), as issue 21 asks."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.tiny_v4 import RECIPE_ID, SERVED, VARIANT, recipe_text

CONTEXT = 8192  # room for the agents' trimmed prompts; the tiny model decodes a few tokens/s here
NATIVE, PREBUILT = "llama-server", "xllamacpp"


@pytest.fixture()
def llama_engine(request: pytest.FixtureRequest) -> str:
    """The backend serving the tiny V4: the native build, or each engine under `on_both_engines`."""
    return getattr(request, "param", NATIVE)


on_both_engines = pytest.mark.parametrize("llama_engine", [NATIVE, PREBUILT], indirect=True)


def skip_without(backend: str) -> None:
    """Skip, saying how to get it, where this machine lacks the engine (the native build must know deepseek4)."""
    if backend == PREBUILT:
        from localv4.install.prebuilt import find_prebuilt

        if find_prebuilt() is None:
            pytest.skip("needs the prebuilt engine: the test extra's xllamacpp (localv4.pins.XLLAMACPP_REQUIREMENT)")
        return
    from localv4.install.locate import find_llama_server

    binary = find_llama_server()
    if binary is None or not binary.knows_arch("deepseek4"):
        pytest.skip("needs the native llama-server: `localv4 install llama.cpp --cpu --yes`")


def serve_tiny_v4(gguf: Path, context: int = CONTEXT, engine_args: tuple[str, ...] = (), host: str = "127.0.0.1",
                  backend: str = NATIVE):
    """Plan the tiny V4's recipe on this machine and serve it on BACKEND (port auto), with
    llama-server's own `engine_args` after localv4's; a `host` beyond loopback makes `up`'s API key."""
    from localv4.flow import UpOptions, make_plan
    from localv4.paths import user_recipes_dir
    from localv4.serve import api

    skip_without(backend)
    folder = user_recipes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{RECIPE_ID}.toml").write_text(recipe_text(gguf.stat().st_size))
    plan = make_plan(UpOptions(model=RECIPE_ID, variant=VARIANT, ctx=context))
    return api.up(plan, gguf, api.ServeOptions(backend=backend, host=host, port="auto",
                                               engine_args=engine_args)).server


def users_llama_server_dir() -> Path | None:
    """Where `localv4 install llama.cpp` (the setup job, .ci/run) left the native server for this
    user: the tests' own homes are empty."""
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
    found = installed_server(data / "localv4" / "engines" / "llama.cpp")
    return found.parent if found else None


def installed_server(engines: Path) -> Path | None:
    """The newest llama-server installed under ENGINES, the CPU build first: a Vulkan build beside
    it (scripts/vulkan_lavapipe.py) would bring a device the tests' plans do not count."""
    found = sorted(engines.glob("*-cpu/bin/llama-server")) or sorted(engines.glob("*/bin/llama-server"))
    return found[-1] if found else None


def _serving(gguf: Path, monkeypatch: pytest.MonkeyPatch, engine_args: tuple[str, ...] = (),
             host: str = "127.0.0.1", backend: str = NATIVE) -> Iterator:
    """The running engine's ServerState, with the setup job's llama-server on PATH; stopped after."""
    from localv4.serve import api

    folder = users_llama_server_dir()
    if folder is not None:  # found on PATH, as a user's own build would be
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    server = serve_tiny_v4(gguf, engine_args=engine_args, host=host, backend=backend)
    assert server.model_id == SERVED
    yield server
    api.down()


@pytest.fixture()
def tiny_v4_server(tiny_v4_gguf, isolated_home, monkeypatch: pytest.MonkeyPatch, llama_engine: str):
    """The running engine's ServerState; stopped afterwards."""
    yield from _serving(tiny_v4_gguf, monkeypatch, backend=llama_engine)


@pytest.fixture()
def keyed_tiny_v4_server(tiny_v4_gguf, isolated_home, monkeypatch: pytest.MonkeyPatch, llama_engine: str):
    """tiny_v4_server listening beyond loopback (`up --host 0.0.0.0`), so it needs `up`'s API key
    (the file `server.api_key_file` names)."""
    yield from _serving(tiny_v4_gguf, monkeypatch, host="0.0.0.0", backend=llama_engine)


# The random model never ends a reply by itself (measured: the end-of-sentence token sits ~25
# nats below the top), and Claude Code exits 1 on a reply cut at its output cap; the agents'
# server raises that token's logit by this much (llama-server's own `--logit-bias`, through
# `up -- FLAGS`), so every reply ends within a token or two, as a real model's short answer would.
END_REPLY_BIAS = 30


@pytest.fixture()
def agents_tiny_v4_server(tiny_v4_gguf, isolated_home, monkeypatch: pytest.MonkeyPatch):
    """tiny_v4_server whose replies end at once (END_REPLY_BIAS), for the agents' one-line tasks."""
    from support.tiny_v4 import eos_token_id

    bias = f"{eos_token_id(tiny_v4_gguf)}+{END_REPLY_BIAS}"
    yield from _serving(tiny_v4_gguf, monkeypatch, ("--logit-bias", bias))


def metrics(server) -> dict[str, float]:
    """llama-server's /metrics counters (`llamacpp:` prefix dropped)."""
    import httpx

    reply = httpx.get(server.base_url + "/metrics", timeout=60)
    assert reply.status_code == 200 and "llamacpp:" in reply.text, (reply.status_code, reply.text[:300])
    text = reply.text
    values = {}
    for line in text.splitlines():
        if line.startswith("llamacpp:"):
            name, _, value = line.partition(" ")
            values[name.removeprefix("llamacpp:")] = float(value)
    return values


@dataclass
class CallHome:
    """An HTTP(S) proxy on 127.0.0.1 that refuses everything and records which hosts were asked for."""

    port: int = 0
    hosts: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.port}"
        return {"HTTPS_PROXY": url, "HTTP_PROXY": url, "ALL_PROXY": url, "https_proxy": url,
                "http_proxy": url, "all_proxy": url, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost"}


@pytest.fixture()
def call_home() -> Iterator[CallHome]:
    record = CallHome()

    class Refuse(http.server.BaseHTTPRequestHandler):
        def _refuse(self):
            record.hosts.append(self.path if self.command == "CONNECT" else self.headers.get("Host", self.path))
            self.send_response(403)
            self.end_headers()

        do_CONNECT = do_GET = do_POST = do_HEAD = do_PUT = _refuse

        def log_message(self, *_):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    record.port = proxy.server_address[1]
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield record
    proxy.shutdown()
    proxy.server_close()


def agent_home(tmp_path: Path) -> dict[str, str]:
    """A fresh HOME (and XDG folders) for an agent, so the user's own agent config is never read."""
    home = tmp_path / "agent-home"
    home.mkdir()
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local/state"), "PATH": os.environ["PATH"]}

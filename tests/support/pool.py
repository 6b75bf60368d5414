"""Pool test helpers: real `localv4 worker` processes, and a tiny V4 plan split over three devices."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx
import psutil

from localv4.hardware import detect
from localv4.planning.values import Plan
from localv4.process_tree import stop_family
from localv4.planning.memory import RAM_HEADROOM, device_overhead, kv_bytes
from localv4.planning.pool import Member, plan_pool
from localv4.recipes import load_catalog
from localv4.rpc.probe import host_and_workers
from localv4.rpc.worker import INFO_PATH
from support import tiny_v4

CONTEXT = 4096


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port N with N and N+1 free (the worker's RPC port and its info port)."""
    import socket

    for _ in range(50):
        with socket.socket() as a:
            a.bind((host, 0))
            port = a.getsockname()[1]
        if port < 65535:
            with socket.socket() as b:
                try:
                    b.bind((host, port + 1))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no free pair of ports")


@contextmanager
def worker(host: str, port: int, prefix: Sequence[str] = (), env: dict | None = None) -> Iterator[subprocess.Popen]:
    """`localv4 worker --host HOST --port PORT` (optionally inside `ip netns exec NS`), ready to pool.

    Its thread count is the default, the physical cores, as the host's llama-server uses: the
    pinned CPU backend's results depend on the thread count (measured on an AVX-512 Xeon: a
    1-thread worker moved logprobs by up to 0.16 and flipped the greedy token at position 19;
    with equal counts every logprob matched), so greedy identity holds only between equals."""
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "localv4", "worker", "--host", host, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    try:
        wait_info(host, port, prefix, proc)
        yield proc
    finally:
        stop_family([psutil.Process(proc.pid)] if proc.poll() is None else [], 15)
        proc.wait()


@contextmanager
def stand_in_worker(hardware: dict, host: str = "127.0.0.1") -> Iterator[str]:
    """Only a worker's info endpoint (the one `localv4 worker` runs), reporting `hardware` and a
    build: what the host asks before any RPC, with no rpc-server and no build; yields HOST:PORT."""
    import threading

    from localv4.rpc.worker import Worker, _info_server

    port = free_port_pair(host)
    info = {"localv4_worker": 1, "rpc_port": port, "build": "0.5.0-dev (build 1, commit 0c1e570)",
            "commit": "0c1e570", "flavour": "cpu", "hardware": hardware}
    server = _info_server(Worker((), host, port, info), lambda: True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def wait_info(host: str, port: int, prefix: Sequence[str], proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(f"http://{host}:{port + 1}{INFO_PATH}", timeout=1).json().get("alive"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError("the worker's info endpoint never answered")


def install_recipe() -> None:
    from localv4.paths import user_recipes_dir

    gguf = tiny_v4.tiny_v4_gguf_path("preview")
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{tiny_v4.RECIPE_ID}.toml").write_text(tiny_v4.recipe_text(gguf.stat().st_size))


def single_plan() -> Plan:
    from localv4.flow import UpOptions, make_plan

    return make_plan(UpOptions(model=tiny_v4.RECIPE_ID, variant=tiny_v4.VARIANT, ctx=CONTEXT))


def three_way_plan(endpoints: tuple[str, ...], host_layers: int = 3, worker_layers: tuple[int, ...] = (2, 1)) -> Plan:
    """The planner's pool plan with each machine's memory cut to what holds its share of the 6 layers,
    so the host and two workers on one box really split them (equal speeds would keep all here).

    The default keeps the tiny model's 3 hash-routed layers (num_hash_layers) on the host: with one
    of them on a worker, greedy output differs from the single process (see test_pool_serve)."""
    recipe = load_catalog().recipe(tiny_v4.RECIPE_ID)
    model, variant = recipe.model, recipe.variant(tiny_v4.VARIANT)
    per_layer = (variant.size_bytes + kv_bytes(model, CONTEXT)) / model.layers
    host, workers = host_and_workers(endpoints, detect())

    def cut(member: Member, overhead: int, layers: int) -> Member:
        room = int((layers + 0.5) * per_layer)
        hw = dataclasses.replace(member.hardware, ram_available=RAM_HEADROOM + overhead + room)
        return dataclasses.replace(member, hardware=hw, reported=())

    return plan_pool(cut(host, device_overhead(model, CONTEXT, "f16", True), host_layers),
                     [cut(w, device_overhead(model, CONTEXT, "f16", False), n) for w, n in zip(workers, worker_layers)],
                     recipe, variant=variant, ctx=CONTEXT)


def greedy_tokens(endpoint_base: str, n: int = 32) -> list[int]:
    """Token ids of a greedy completion from llama-server's own /completion route."""
    body = {"prompt": "The capital of France is", "n_predict": n, "temperature": 0, "top_k": 1,
            "return_tokens": True, "cache_prompt": False}
    reply = httpx.post(f"{endpoint_base}/completion", json=body, timeout=300)
    reply.raise_for_status()
    tokens = reply.json()["tokens"]
    assert len(tokens) == n
    return tokens

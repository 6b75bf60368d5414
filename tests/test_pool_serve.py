"""The tiny V4 (real deepseek4) served over a pool of real `localv4 worker` processes on loopback.

Two workers plus the host split the 6 layers three ways; greedy output through the pool is
token-for-token the single process's (V4 over RPC has had crash and garbage-output bugs upstream).
A worker killed mid-generation is named by `status` within 2 s; `down` leaves no process. A worker
whose build differs is refused before loading; a wildcard address without the words, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import re
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import run_cli
from localv4.serve import api
from localv4.serve.state import read_state
from support.process_support import alive, tree_pids
from support import pool, tiny_v4
from support.cli_output import one_line_error

pytestmark = pytest.mark.engine  # real llama-server and rpc-server processes

LOOPBACK = "127.0.0.1"


@pytest.fixture()
def two_workers(native_server, no_engine_left, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LLAMA_ARG_LOG_VERBOSITY", "4")  # the loader names each device's buffers at info+1
    pool.install_recipe()
    ports = [pool.free_port_pair(), None]
    with pool.worker(LOOPBACK, ports[0]) as first:
        ports[1] = pool.free_port_pair()
        with pool.worker(LOOPBACK, ports[1]) as second:
            yield [(f"{LOOPBACK}:{p}", proc) for p, proc in zip(ports, (first, second))]
            api.down()


def _serve(plan):
    info = api.up(plan, tiny_v4.tiny_v4_gguf_path("preview"), api.ServeOptions(backend="llama-server", port="auto"))
    return info.server


def _single_tokens() -> list[int]:
    server = _serve(pool.single_plan())
    try:
        return pool.greedy_tokens(server.base_url)
    finally:
        api.down()


def test_greedy_output_through_two_workers_is_the_single_process_output(two_workers):
    endpoints = tuple(e for e, _ in two_workers)
    expected = _single_tokens()
    plan = pool.three_way_plan(endpoints)
    assert [d.layers for d in plan.pool.devices] == [2, 1, 3]  # worker 1, worker 2, this host
    server = _serve(plan)
    log = Path(server.log).read_text(errors="replace")
    assert pool.greedy_tokens(server.base_url) == expected
    for endpoint in endpoints:  # each worker holds weights of its own
        assert re.search(rf"RPC\d+\[{re.escape(endpoint)}\] model buffer size", log), log[-3000:]
    done = run_cli("status")
    assert done.returncode == 0 and done.stdout.count("answering") == 2, done.stdout


def test_a_hash_routed_layer_on_a_worker_is_warned_of(two_workers):
    """llama.cpp 0c1e570: a hash-routed MoE layer of deepseek4 computed on an RPC worker gave other
    greedy tokens than the single process on the first machine this ran on (with 1-thread
    workers); on an AVX-512 Xeon with workers at the host's thread count it matches. Until it
    matches everywhere the planner keeps those layers on the host and warns when it cannot; this
    holds the warning and reports which of the two this machine shows."""
    endpoints = tuple(e for e, _ in two_workers)
    expected = _single_tokens()
    plan = pool.three_way_plan(endpoints, host_layers=2, worker_layers=(2, 2))  # layer 2 (hashed) remote
    assert any("hash-routed layers would run on 127.0.0.1" in a for a in plan.advice)  # the plan warns
    server = _serve(plan)
    got = pool.greedy_tokens(server.base_url)
    assert len(got) == len(expected)
    if got != expected:
        pytest.xfail("diverges here with a hash-routed layer on a worker (llama.cpp 0c1e570)")


def test_a_worker_killed_mid_generation_is_named_by_status_within_2_s(two_workers):
    endpoints = tuple(e for e, _ in two_workers)
    server = _serve(pool.three_way_plan(endpoints))
    engine = tree_pids(server.pid)
    body = {"prompt": "Once upon a time", "n_predict": 4000, "temperature": 0}
    def generate() -> None:
        try:
            httpx.post(f"{server.base_url}/completion", json=body, timeout=60)
        except httpx.HTTPError:
            pass  # the engine goes down under it: that is the point

    generating = threading.Thread(target=generate, daemon=True)
    generating.start()
    time.sleep(1.0)
    victim_endpoint, victim = two_workers[1]
    rpc_pids = tree_pids(victim.pid)
    victim.kill()
    killed = time.monotonic()
    done = run_cli("status")
    took = time.monotonic() - killed
    assert took < 2.0, took
    assert done.returncode == 1
    assert f"worker {victim_endpoint} is gone" in done.stdout, done.stdout
    assert f"worker {two_workers[0][0]} is" not in done.stdout  # the live one is not blamed
    time.sleep(1.5)  # by now the engine has said what it says about it
    assert "Remote RPC server crashed" in run_cli("status").stdout
    for command in ("chat", "bench"):  # refused at once, naming the lost worker, never a hang
        started = time.monotonic()
        refused = run_cli(command, input="Hi\n", timeout=30)
        assert refused.returncode == 1 and time.monotonic() - started < 10
        assert f"worker {victim_endpoint} is gone" in one_line_error(refused)
    assert run_cli("down").returncode == 0
    generating.join(timeout=30)
    assert alive(engine + rpc_pids) == [] and read_state() is None


def test_up_pool_on_the_command_line_serves_and_shows_the_workers(two_workers, tiny_v4_hub_root):
    from support.hubserver import FakeHub

    endpoints = ",".join(e for e, _ in two_workers)
    with FakeHub(tiny_v4_hub_root) as hub:
        done = run_cli("up", "--variant", f"{tiny_v4.RECIPE_ID}:{tiny_v4.VARIANT}", "--ctx", "4096",
                       "--port", "auto", "--pool", endpoints, env={"HF_ENDPOINT": hub.endpoint}, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"this host + {endpoints.replace(',', ', ')}" in done.stdout
    server = read_state()
    assert server.workers == tuple(endpoints.split(",")) and server.placement == "pool"
    assert "--rpc" in " ".join(_cmdline(server.pid))
    status = run_cli("status", "--json")
    assert [w["ok"] for w in json.loads(status.stdout)["workers"]] == [True, True]
    bench = run_cli("bench", "--runs", "1", "--tokens", "8", timeout=300)
    assert bench.returncode == 0 and f"pooled: this host + {endpoints.replace(',', ', ')}" in bench.stdout
    assert run_cli("down").returncode == 0


def _cmdline(pid: int) -> list[str]:
    import psutil

    return psutil.Process(pid).cmdline()


def test_a_worker_with_another_build_is_refused_before_loading(native_server, no_engine_left, tmp_path):  # noqa: F811
    """The other build stands in as a script that reports another version (a second llama.cpp
    build takes 8 minutes here); its rpc-server is the real one."""
    pool.install_recipe()
    other_home = tmp_path / "other"
    install = other_home / "data" / "engines" / "llama.cpp" / "0.3.99-cpu"
    (install / "bin").mkdir(parents=True)
    (install / "build.json").write_text('{"flavour": "cpu"}')
    fake = install / "bin" / "llama-server"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "version: 9999 (deadbee)"\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    os.symlink(native_server.parent / "ggml-rpc-server", install / "bin" / "ggml-rpc-server")
    port = pool.free_port_pair()
    with pool.worker(LOOPBACK, port, env={"LOCALV4_HOME": str(other_home)}):
        done = run_cli("up", "--variant", f"{tiny_v4.RECIPE_ID}:{tiny_v4.VARIANT}", "--port", "auto",
                       "--pool", f"{LOOPBACK}:{port}", timeout=300)
    assert done.returncode == 1
    assert "runs llama.cpp '9999 (deadbee)' but this host runs '0.5.0-dev" in done.stderr, done.stderr
    assert read_state() is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "8.8.8.8"])
def test_a_worker_on_a_wildcard_or_public_address_needs_the_words(host):
    done = run_cli("worker", "--host", host)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no authentication" in done.stderr and "--allow-untrusted-network" in done.stderr


def test_a_worker_runs_rpc_server_with_its_tensor_cache(native_server):  # noqa: F811
    """The real rpc-server's --help lists -c/--cache in a column indented by two spaces; with it on,
    rpc-server makes its cache folder under $LLAMA_CACHE as it starts (tools/rpc/rpc-server.cpp)."""
    from localv4.install.locate import rpc_server_flags
    from localv4.paths import data_dir
    from localv4.rpc.worker import WorkerOptions, prepare

    port = pool.free_port_pair()
    prepared = prepare(WorkerOptions(port=port))
    assert {"-c", "--cache"} <= rpc_server_flags(Path(prepared.argv[0]))
    assert "--cache" in prepared.argv
    cache = data_dir() / "llama.cpp-cache" / "rpc"
    with pool.worker(LOOPBACK, port):
        deadline = time.monotonic() + 10
        while not cache.is_dir() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cache.is_dir()


def test_a_device_the_worker_cannot_serve_is_one_line(native_server):  # noqa: F811
    done = run_cli("worker", "--port", str(pool.free_port_pair()), "--device", "CUDA7")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--device CUDA7 is not a device this worker can serve; it has CPU." in done.stderr


def test_a_worker_says_it_must_stay_on_a_trusted_network(native_server):  # noqa: F811
    port = pool.free_port_pair()
    with pool.worker(LOOPBACK, port) as proc:
        proc.terminate()
        out = proc.communicate(timeout=15)[0]
    assert "keep this worker on a trusted network" in out and f"--pool {LOOPBACK}:{port}" in out
    assert proc.returncode == 0


# ---------------------------------------------------------------- across network namespaces


def test_across_namespace_hosts_the_pool_matches_and_a_dropped_link_is_named(native_server, no_engine_left,  # noqa: F811
                                                                           monkeypatch):
    from support.netns import test_hosts

    pool.install_recipe()
    with test_hosts(2) as hosts:
        expected = _single_tokens()
        with pool.worker(hosts[0].address, 50052, prefix=hosts[0].exec_prefix), \
                pool.worker(hosts[1].address, 50052, prefix=hosts[1].exec_prefix):
            endpoints = tuple(f"{h.address}:50052" for h in hosts)
            plan = pool.three_way_plan(endpoints)
            assert "measured" in plan.pool.network
            server = _serve(plan)
            try:
                assert pool.greedy_tokens(server.base_url) == expected
                engine = tree_pids(server.pid)
                subprocess.run(["ip", "link", "set", hosts[1].link, "down"], check=True)
                cut = time.monotonic()
                done = run_cli("status")
                assert time.monotonic() - cut < 2.0
                assert done.returncode == 1 and f"worker {endpoints[1]} is gone" in done.stdout, done.stdout
            finally:
                assert run_cli("down").returncode == 0
            assert alive(engine) == [] and read_state() is None


def test_plan_pool_asks_the_running_workers(two_workers):
    endpoints = [e for e, _ in two_workers]
    done = run_cli("plan", "--model", tiny_v4.RECIPE_ID, "--pool", ",".join(endpoints), "--ctx", "4096")
    assert done.returncode == 0, done.stderr
    assert "round trips measured" in done.stdout
    assert all(f"{e} RAM" in done.stdout for e in endpoints) and "host RAM" in done.stdout
    as_json = json.loads(run_cli("plan", "--model", tiny_v4.RECIPE_ID, "--pool", ",".join(endpoints),
                                 "--ctx", "4096", "--json").stdout)
    assert as_json["plan"]["pool"]["workers"] == endpoints

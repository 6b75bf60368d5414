"""Plans over pools of recorded machines: the verdict a careful person gives, numbers that add up."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.planning import machine as planner
from localv4.planning.memory import RAM_HEADROOM
from localv4.errors import RuntimeFailure, UsageError
from localv4.install.locate import LlamaServerBinary
from localv4.planning.values import NothingFits, Plan
from localv4.planning.pool import Member, ReportedDevice, parse_pool, plan_pool
from localv4.recipes import load_catalog
from localv4.rpc.worker import served_hardware
from localv4.serve.engines import llama_server
from localv4.serve.engines.base import EngineInputs
from support.machines import machine

GB = 1e9
# A CUDA build's llama-server as the engine module sees it: the flags a pool plan needs.
POOL_BINARY = LlamaServerBinary(path=Path("/opt/llama.cpp/bin/llama-server"),
                                version="0.5.0-dev (build 1, commit 0c1e570)", build=1, commit="0c1e570", flavour="cuda", devices=(),
                                flags=frozenset({"--rpc", "--tensor-split", "--fit", "--jinja", "--alias"}))


def _pool(host: str, *workers: str, **kwargs) -> Plan:
    members = [Member(f"10.0.0.{i + 2}:50052", machine(w)) for i, w in enumerate(workers)]
    return plan_pool(Member("host", machine(host)), members, load_catalog().recipe(None), **kwargs)


def _placement(plan: Plan) -> dict[str, str]:
    """The placement flags of the llama-server command line `up` runs for `plan`."""
    inputs = EngineInputs(plan, Path("/models/v4-00001-of-00003.gguf"), "127.0.0.1", 8484, None, None)
    argv = llama_server.command_for(POOL_BINARY, inputs).argv
    return {flag: argv[argv.index(flag) + 1] for flag in ("--rpc", "-ngl", "--tensor-split", "--fit") if flag in argv}


def _adds_up(plan: Plan) -> None:
    devices = plan.pool.devices
    assert sum(d.layers for d in devices) == plan.model.layers
    assert sum(d.weights for d in devices) == plan.variant.size_bytes == plan.memory.weights
    assert sum(d.kv_cache for d in devices) == plan.memory.kv_cache
    assert sum(d.overhead for d in devices) == plan.memory.overhead
    assert sum(d.used for d in devices) == plan.memory.total <= plan.memory.budget
    assert all(d.used <= d.budget for d in devices)


def test_two_128_gb_macs_hold_the_8_bit_variant_that_neither_holds_alone():
    alone = planner.plan(machine("mac-studio-m4-max-128"), load_catalog().recipe(None))
    pooled = _pool("mac-studio-m4-max-128", "mac-studio-m4-max-128")
    assert alone.variant.size_bytes < 110 * GB  # one Mac: a 2-3 bit variant
    assert pooled.variant.id == "UD-Q8_K_XL" and pooled.placement == "pool"
    _adds_up(pooled)
    assert [d.machine for d in pooled.pool.devices if d.layers] == ["10.0.0.2:50052", "host"]
    assert pooled.pool.workers == ("10.0.0.2:50052",)
    assert "estimate" in pooled.speed.label() and "network" in pooled.speed.basis
    assert "assumed" in pooled.pool.network  # profiles: the round trip is not measured
    assert 5 < pooled.speed.low < pooled.speed.high < 40
    # a Mac host has no RAM slot apart from Metal: the hash-routed layers go to the worker, and it says so
    assert any("3 hash-routed layers would run on 10.0.0.2:50052 Metal" in a for a in pooled.advice)
    assert pooled.draft is None and any("over a pool is not planned yet" in a for a in pooled.advice)


def test_a_4090_box_and_a_64_gb_laptop_fit_a_3_bit_variant_slowly():
    with pytest.raises(NothingFits):
        planner.plan(machine("rtx4090-64gb"), load_catalog().recipe(None))
    pooled = _pool("rtx4090-64gb", "laptop-64gb-handwritten")
    _adds_up(pooled)
    assert 100 * GB < pooled.variant.size_bytes < 130 * GB
    names = {d.name: d for d in pooled.pool.devices}
    assert set(names) == {"host CUDA0", "host RAM", "10.0.0.2:50052 RAM"}
    assert all(d.layers for d in names.values())  # the GPU, the box's RAM and the laptop all hold layers
    assert pooled.speed.high < 5  # most layers are read from DDR5 over RAM bandwidth: slow, and said so
    assert names["host RAM"].layers >= 3 and not any("hash-routed" in a for a in pooled.advice)


def test_a_pool_that_is_still_short_says_by_how_much_and_names_the_commands():
    with pytest.raises(NothingFits) as short:
        _pool("cpu-only-24gb", "cpu-only-24gb")
    assert "nothing fits even pooled" in str(short.value) and short.value.shortfall > 30 * GB
    ways = " ".join(short.value.ways_out)
    assert "`localv4 worker --host ADDR`" in ways and "localv4 up --pool" in ways


def _equal_cpus(n: int, available: int) -> tuple[Member, list[Member]]:
    hw = dataclasses.replace(machine("epyc-9v45-cpu-only"), ram_available=available)
    return Member("host", hw), [Member(f"10.0.0.{i + 2}:50052", hw) for i in range(n - 1)]


def _with_available(member: Member, available: int) -> Member:
    return dataclasses.replace(member, hardware=dataclasses.replace(member.hardware, ram_available=available))


@pytest.mark.parametrize("n, available", [(2, 46_800_000_000), (3, 33_300_000_000)])
def test_a_pool_with_the_bytes_but_not_the_whole_layers_names_the_device_and_real_ways_out(n, available):
    recipe = load_catalog().recipe(None)
    host, workers = _equal_cpus(n, available)
    with pytest.raises(NothingFits) as short:
        plan_pool(host, workers, recipe)
    assert str(short.value) == (
        f"nothing fits even pooled: UD-IQ1_S at 4K context comes in 43 layers of 1.9 GB (weights and KV "
        f"cache), and a layer is never split between devices: the {n} machines' {n} devices have "
        f"{n * (available - RAM_HEADROOM) / GB:.1f} GB but room for 42 whole layers: host RAM needs 0.1 GB "
        f"more to take the 1 left over")
    assert 0 < short.value.shortfall <= 0.1 * GB
    free_more, add_worker, _ = short.value.ways_out
    assert free_more == "free 0.1 GB more on host RAM"
    assert add_worker.startswith("add a worker that can give 3 GB or more: on it run `localv4 worker --host ADDR`")
    # both ways out are real: that much more on the host, or one more worker with that much to give
    _adds_up(plan_pool(_with_available(host, available + int(0.1 * GB)), workers, recipe))
    extra = _with_available(Member("10.0.0.9:50052", host.hardware), RAM_HEADROOM + 3 * int(GB))
    _adds_up(plan_pool(host, [*workers, extra], recipe))


def test_a_host_too_small_for_the_engine_itself_is_named():
    recipe = load_catalog().recipe(None)
    host, workers = _equal_cpus(2, 200 * int(GB))
    with pytest.raises(NothingFits) as short:
        plan_pool(_with_available(host, RAM_HEADROOM), workers, recipe)
    assert str(short.value).startswith("nothing fits even pooled: host RAM must hold the engine's fixed part, ")
    assert "can give 0.0 GB" in str(short.value) and short.value.shortfall > 0
    assert short.value.ways_out[1] == "make the machine with the most free memory the host (`localv4 up --pool` there)"


def test_one_machine_short_points_at_the_real_pool_commands():
    with pytest.raises(NothingFits) as short:
        planner.plan(machine("rtx4090-64gb"), load_catalog().recipe(None))
    ways = " ".join(short.value.ways_out)
    assert "`localv4 worker --host ADDR`" in ways and "`localv4 up --pool ADDR:50052,...`" in ways


def test_a_worker_that_would_hold_nothing_is_named():
    pooled = _pool("mac-studio-m3-ultra-512", "cpu-only-24gb")
    assert pooled.pool.devices[0].layers == 0
    assert any("10.0.0.2:50052 would hold no layers" in a for a in pooled.advice)


def test_the_engine_gets_each_offloaded_device_its_layers_and_the_output_layer_last():
    pooled = _pool("rtx4090-64gb", "laptop-64gb-handwritten")
    layers = {d.name: d.layers for d in pooled.pool.devices}
    assert layers == {"10.0.0.2:50052 RAM": 18, "host CUDA0": 7, "host RAM": 18}
    # RPC devices come first in llama.cpp's order; the host's RAM keeps the first 18 layers
    # (-ngl leaves them), and the output layer rides with the last device that holds layers
    assert _placement(pooled) == {"--rpc": "10.0.0.2:50052", "--fit": "off", "-ngl": "26", "--tensor-split": "18,8"}


def test_a_worker_serving_one_of_its_two_gpus_is_planned_with_that_gpu_alone():
    served = served_hardware(machine("2x-h100-80gb"), "CUDA1", ("cuda", "cpu"))  # `localv4 worker --device CUDA1`
    rpc = (ReportedDevice("RPC0", 85_520_809_984, 84_940_947_456),)
    pooled = plan_pool(Member("host", machine("rtx4090-64gb")), [Member("10.0.0.2:50052", served, reported=rpc)],
                       load_catalog().recipe(None))
    _adds_up(pooled)
    assert [d.name for d in pooled.pool.devices] == ["10.0.0.2:50052 CUDA1", "host CUDA0", "host RAM"]
    assert len(_placement(pooled)["--tensor-split"].split(",")) == 2  # the worker's one GPU and the host's


def test_a_worker_whose_profile_names_more_devices_than_rpc_serves_is_refused():
    rpc = (ReportedDevice("RPC0", 85_520_809_984, 84_940_947_456),)
    with pytest.raises(RuntimeFailure, match="10.0.0.2:50052 serves 1 device.* over RPC but describes 2"):
        plan_pool(Member("host", machine("rtx4090-64gb")),
                  [Member("10.0.0.2:50052", machine("2x-h100-80gb"), reported=rpc)], load_catalog().recipe(None))


@pytest.mark.parametrize("devices, gpus", [(None, [0, 1]), ("CUDA1", [1]), ("CUDA1,CUDA0", [1, 0]), ("CPU", [])])
def test_the_worker_describes_the_devices_its_rpc_server_serves(devices, gpus):
    served = served_hardware(machine("2x-h100-80gb"), devices, ("cuda", "cpu"))
    assert [g.index for g in served.gpus] == gpus and served.kind == ("nvidia" if gpus else "cpu")
    assert served_hardware(machine("2x-h100-80gb"), None, ("cpu",)).kind == "cpu"  # a CPU build serves the CPU


@pytest.mark.parametrize("devices, words", [
    ("CUDA2", "--device CUDA2 is not a device this worker can serve; it has CUDA0, CUDA1, CPU"),
    ("CUDA0,CPU", "mixes the CPU with a GPU"),
])
def test_a_device_the_worker_cannot_serve_is_refused(devices, words):
    with pytest.raises(UsageError, match=words):
        served_hardware(machine("2x-h100-80gb"), devices, ("cuda", "cpu"))


@pytest.mark.parametrize("text, endpoints", [
    ("10.0.0.2:50052,10.0.0.3", ("10.0.0.2:50052", "10.0.0.3:50052")),
    ("[fd00::2]:6000", ("[fd00::2]:6000",)),
])
def test_pool_endpoints_parse(text, endpoints):
    assert parse_pool(text) == endpoints


@pytest.mark.parametrize("text", [":50052", "10.0.0.2:http", "10.0.0.2:1,10.0.0.2:1"])
def test_a_bad_pool_entry_is_one_line(text):
    with pytest.raises(UsageError):
        parse_pool(text)


def test_plan_with_two_saved_profiles_prints_each_device_and_the_totals(tmp_path: Path):
    paths = []
    for name in ("mac-studio-m4-max-128", "mac-studio-m4-max-128"):
        path = tmp_path / f"{len(paths)}.json"
        path.write_text(json.dumps(machine(name).to_dict()))
        paths.append(str(path))
    done = run_cli("plan", "--hardware", paths[0], "--hardware", paths[1])
    assert done.returncode == 0, done.stderr
    assert "pooled over several machines" in done.stdout
    assert "worker1 Metal" in done.stdout and "host Metal" in done.stdout
    assert "│ total " in done.stdout and "│     43 │" in done.stdout
    as_json = json.loads(run_cli("plan", "--hardware", paths[0], "--hardware", paths[1], "--json").stdout)
    devices = as_json["plan"]["pool"]["devices"]
    assert sum(d["layers"] for d in devices) == 43 and as_json["plan"]["variant"] == "UD-Q8_K_XL"


def test_plan_pool_refuses_a_bad_entry_before_asking_anyone():
    done = run_cli("plan", "--pool", "10.0.0.2:notaport")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--pool port" in done.stderr


def test_the_tray_shows_the_pool_and_names_a_lost_worker():
    from localv4.tray.menu import ServerPhase, TrayState, status_line

    running = TrayState(server=ServerPhase.RUNNING, variant="x:UD-Q8_K_XL", context=65536,
                        workers=("10.0.0.2:50052",))
    assert status_line(running) == "Running UD-Q8_K_XL · 64K context · pooled with 1 worker"
    lost = TrayState(server=ServerPhase.CRASHED, workers=("10.0.0.2:50052",),
                     problem="worker 10.0.0.2:50052 is gone (connection refused); the engine said: ...")
    assert status_line(lost).startswith("Worker 10.0.0.2:50052 is gone")

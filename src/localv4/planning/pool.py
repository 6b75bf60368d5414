"""Planning one model over several machines: the host runs llama-server, workers run rpc-server.

Every device of every machine gets a budget by the same rules as one machine (planner.py):
Apple = the GPU wired limit less macOS headroom; NVIDIA = each GPU's free VRAM less a margin;
CPU = available RAM less headroom. The host's RAM also holds the layers no device takes (llama.cpp
keeps the first layers on the CPU when -ngl is below the layer count). A worker's budget is capped
by the free memory its rpc-server reports over RPC, when it has been asked.

Layers are placed on the fastest devices first (decode time is the sum over devices of the bytes
each reads per token divided by its bandwidth), each layer carrying its share of the weights and
of the KV cache; the model's hash-routed layers (the first ones) stay in the host's RAM when it
has a RAM slot, because computed on a worker they changed the output in localv4's test. Every device pays its compute buffer (the recipe's measured one, at least an
extra device's allowance); the host's first also carries the runtime's fixed part.

The network's cost per token is an estimate: one round trip per worker machine (ggml-rpc.cpp sends
set_tensor and graph_compute without waiting and waits on get_tensor) plus the activations to it
and back over the link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from localv4.errors import RuntimeFailure
from localv4.hardware.bandwidth import ram_bandwidth
from localv4.hardware.profile import GB, Hardware
from localv4.planning.choose import Choice, choose, ranked
from localv4.planning.machine import AMX_CRASHES, cpu_extra_buffers
from localv4.planning.memory import (
    apple_budget,
    bytes_per_token,
    device_overhead,
    gpu_budget,
    kv_bytes,
    least_need,
    overhead_bytes,
    ram_budget,
    runtime_bytes,
    within_reported,
)
from localv4.planning.values import MemoryBreakdown, NothingFits, Plan, Pool, PoolDevice, SpeedEstimate
from localv4.recipes import ModelSpec, Recipe, Variant

HOST = "host"
DEFAULT_RPC_PORT = 50052  # rpc-server's own default (tools/rpc/rpc-server.cpp)
# V4-Flash's config: hidden_size 4096 x hc_mult 4 hyper-connection streams, f32 between devices.
ACTIVATION_BYTES = 4096 * 4 * 4
ASSUMED_RTT_S = 0.0005  # assumed for saved profiles: a switched gigabit LAN (not measured)
# Found by tests/test_pool_serve.py (llama.cpp 0c1e570, tiny deepseek4): with a hash-routed layer on
# an RPC worker, greedy tokens differ from the single process; with those layers on the host they match.
HASHED_REMOTE = ("the {n} hash-routed layers would run on {device}: over RPC that gave other greedy tokens "
                 "than one process in localv4's test (llama.cpp 0c1e570); a Linux or NVIDIA host keeps "
                 "them in its own RAM, so make one of those the host if you can.")
ASSUMED_LINK_GBPS = 1.0  # assumed: gigabit Ethernet; USB4 / Thunderbolt links are faster


@dataclass(frozen=True)
class ReportedDevice:
    """A device as a worker's rpc-server reports it over RPC (llama-server --rpc ... --list-devices)."""

    name: str  # "CUDA0", "MTL0", "CPU"
    total: int
    free: int


@dataclass(frozen=True)
class Member:
    """One machine of the pool: the host, or a worker at its RPC endpoint."""

    machine: str  # "host" or "HOST:PORT"
    hardware: Hardware
    build: str | None = None  # the llama.cpp build it runs, as it reports it
    reported: tuple[ReportedDevice, ...] = ()  # empty: planned from the profile alone
    rtt_s: float | None = None  # measured round trip to it; None: ASSUMED_RTT_S


@dataclass(frozen=True)
class _Slot:
    member: Member
    name: str
    kind: str
    budget: int
    bandwidth_gbps: float | None
    first_on_host: bool = False


def parse_pool(text: str) -> tuple[str, ...]:
    """`HOST:PORT,HOST:PORT` (the port defaults to rpc-server's 50052); UsageError on a bad entry."""
    from localv4.errors import UsageError
    from localv4.net import port_number

    endpoints = []
    for item in (part.strip() for part in text.split(",")):
        host, sep, port = item.rpartition(":") if item.count(":") == 1 or item.startswith("[") else (item, "", "")
        host = host.strip("[]")
        if not host:
            raise UsageError(f"--pool entry '{item}' has no host: give HOST:PORT, e.g. 192.168.1.20:50052.")
        number = port_number(port, "--pool port") if sep else DEFAULT_RPC_PORT
        endpoint = f"[{host}]:{number}" if ":" in host else f"{host}:{number}"
        if endpoint in endpoints:
            raise UsageError(f"--pool names {endpoint} twice: give each worker once.")
        endpoints.append(endpoint)
    return tuple(endpoints)


def _slots(member: Member, is_host: bool) -> list[_Slot]:
    hw = member.hardware
    where = HOST if is_host else member.machine
    if hw.kind == "apple":
        slots = [_Slot(member, f"{where} Metal", "unified", apple_budget(hw), hw.apple.bandwidth_gbps)]
    elif hw.kind == "nvidia":
        slots = [_Slot(member, f"{where} CUDA{g.index}", "gpu", gpu_budget(g), g.bandwidth_gbps) for g in hw.gpus]
        if is_host:  # the layers no device takes stay on the host's CPU
            slots.append(_Slot(member, f"{where} RAM", "cpu", ram_budget(hw), ram_bandwidth(hw)[0]))
    else:
        slots = [_Slot(member, f"{where} RAM", "cpu", ram_budget(hw), ram_bandwidth(hw)[0])]
    if not is_host and member.reported and len(member.reported) != len(slots):
        raise RuntimeFailure(
            f"the worker at {member.machine} serves {len(member.reported)} device(s) over RPC but describes "
            f"{len(slots)}: run the same localv4 version there as here, then start `localv4 worker` again.")
    if not is_host and member.reported:  # what rpc-server says it has free
        slots = [_Slot(s.member, s.name, s.kind, within_reported(s.budget, r.free), s.bandwidth_gbps)
                 for s, r in zip(slots, member.reported)]
    if is_host:
        slots[0] = _Slot(**{**slots[0].__dict__, "first_on_host": True})
    return slots


def pool_slots(host: Member, workers: list[Member]) -> list[_Slot]:
    """Every device in llama.cpp's order: the workers' (RPC devices come first), then the host's."""
    return [s for w in workers for s in _slots(w, False)] + _slots(host, True)


def _split(total: int, layers: list[int], n: int) -> list[int]:
    """`total` bytes shared by layer count, in whole bytes that add up exactly."""
    out, done, cum = [], 0, 0
    for count in layers:
        cum += count
        share = total * cum // n
        out.append(share - done)
        done = share
    return out


@dataclass(frozen=True)
class _Room:
    """What each device takes at one variant, context and KV type: layers come whole, never split."""

    per_layer: float  # one layer's weights and KV cache
    overhead: tuple[int, ...]
    capacity: tuple[int, ...]  # whole layers each device holds beside its overhead


def _room(slots: list[_Slot], model: ModelSpec, variant: Variant, context: int, kv_type: str) -> _Room:
    per_layer = (variant.size_bytes + kv_bytes(model, context, kv_type)) / model.layers
    overhead = tuple(device_overhead(model, context, kv_type, first=s.first_on_host) for s in slots)
    capacity = tuple(max(0, int((s.budget - o) // per_layer)) if s.budget >= o else 0
                     for s, o in zip(slots, overhead))
    return _Room(per_layer, overhead, capacity)


def _place(slots: list[_Slot], model: ModelSpec, variant: Variant, context: int,
           kv_type: str) -> list[PoolDevice] | None:
    n = model.layers
    kv = kv_bytes(model, context, kv_type)
    fixed = overhead_bytes(model, context, kv_type)
    room = _room(slots, model, variant, context, kv_type)
    overhead, capacity = room.overhead, list(room.capacity)
    layers = [0] * len(slots)
    remaining = n
    keep = _host_cpu(slots)
    if keep is not None and len(slots) > 1:  # the hash-routed layers stay on this host (see HASHED_REMOTE)
        layers[keep] = min(capacity[keep], model.hash_layers, n)
        capacity[keep] -= layers[keep]
        remaining -= layers[keep]
    order = sorted(range(len(slots)), key=lambda i: (-(slots[i].bandwidth_gbps or 0), not slots[i].first_on_host, i))
    for i in order:
        extra = min(capacity[i], remaining)
        layers[i] += extra
        remaining -= extra
    if remaining or any(s.first_on_host and fixed > s.budget for s in slots):
        return None
    weights, kvs = _split(variant.size_bytes, layers, n), _split(kv, layers, n)
    return [PoolDevice(s.name, s.member.machine, s.kind, s.budget, count, w, k,
                       o if (count or s.first_on_host) else 0, s.bandwidth_gbps)
            for s, count, w, k, o in zip(slots, layers, weights, kvs, overhead)]


def _host_cpu(slots: list[_Slot]) -> int | None:
    """The host's RAM slot, which holds the first layers (those no device takes), if it has one."""
    return next((i for i, s in enumerate(slots) if s.member.machine == HOST and s.kind == "cpu"), None)


def hashed_remote(model: ModelSpec, devices: list[PoolDevice]) -> str | None:
    """The worker device that computes hash-routed layers, if any: llama.cpp keeps the first layers
    on the host's CPU and gives the next ones to the devices in order, workers first."""
    on_host_cpu = sum(d.layers for d in devices if d.machine == HOST and d.kind == "cpu")
    if model.hash_layers <= on_host_cpu:
        return None
    first = next((d for d in devices if d.layers and not (d.machine == HOST and d.kind == "cpu")), None)
    return first.name if first is not None and first.machine != HOST else None


def estimate_pool_speed(model: ModelSpec, variant: Variant, devices: list[PoolDevice],
                        members: list[Member]) -> SpeedEstimate:
    dense, routed = bytes_per_token(model, variant)
    per_layer = (dense + routed) / model.layers
    compute = sum(d.layers * per_layer / (d.bandwidth_gbps * GB) for d in devices if d.layers)
    if any(d.layers and not d.bandwidth_gbps for d in devices):
        return SpeedEstimate(0.0, 0.0, "memory bandwidth unknown on a device of the pool")
    used = {d.machine for d in devices if d.layers and d.machine != HOST}
    hops = [m for m in members if m.machine in used]
    network = sum((m.rtt_s if m.rtt_s is not None else ASSUMED_RTT_S)
                  + 2 * ACTIVATION_BYTES / (ASSUMED_LINK_GBPS * GB / 8) for m in hops)
    main = max(devices, key=lambda d: d.layers)
    low_eff, high_eff = model.decode_efficiency[main.kind]
    bound = 1 / (compute + network)
    rtt = "measured" if all(m.rtt_s is not None for m in hops) else f"assumed {ASSUMED_RTT_S * 1000:g} ms"
    return SpeedEstimate(
        bound * low_eff, bound * high_eff,
        f"{compute * 1000:.1f} ms of memory reads + {network * 1000:.1f} ms of network per token "
        f"({len(hops)} worker machine(s): round trip {rtt}, activations over an assumed "
        f"{ASSUMED_LINK_GBPS:g} Gb/s link), at {low_eff:.0%}-{high_eff:.0%} of that bound as "
        f"reported {main.kind} runs reach",
    )


def _network_note(members: list[Member]) -> str:
    measured = [f"{m.machine} {m.rtt_s * 1000:.2f} ms" for m in members if m.rtt_s is not None]
    return ("round trips measured: " + ", ".join(measured)) if measured else \
        f"round trips assumed {ASSUMED_RTT_S * 1000:g} ms (saved profiles: not measured)"


def plan_pool(host: Member, workers: list[Member], recipe: Recipe, variant: Variant | None = None,
              ctx: int | None = None) -> Plan:
    """One plan over the host and its workers, or NothingFits when even the pool is short.
    `variant` and `ctx` are checked values, as `machine.plan` takes them."""
    model = recipe.model
    slots = pool_slots(host, workers)
    if variant is not None:
        candidates = [variant]
    else:
        candidates = ranked(v for v in recipe.variants if v.format == "gguf" and v.status == "confirmed")
    found = _choose(slots, model, candidates, ctx)
    if found is None:
        raise _pool_short(slots, model, candidates, ctx)
    v, context, placed = found
    devices, kv_type = placed.devices, placed.kv_type
    members = [host, *workers]
    speed = estimate_pool_speed(model, v, devices, members)
    idle = [w.machine for w in workers if not any(d.layers for d in devices if d.machine == w.machine)]
    advice = [f"{', '.join(idle)} would hold no layers: leave it out of --pool."] if idle else []
    remote = hashed_remote(model, devices)
    if remote:
        advice.append(HASHED_REMOTE.format(n=model.hash_layers, device=remote))
    if kv_type != "f16":
        advice.append(f"KV cache {kv_type}: with f16 KV nothing fits over this pool at this context.")
    if not cpu_extra_buffers(host.hardware):
        advice.append(AMX_CRASHES)
    if v.draft is not None:  # its layers would need a place on some device, over RPC: not planned
        advice.append(f"No {v.draft.kind} draft: speculative decoding over a pool is not planned yet.")
    memory = MemoryBreakdown(v.size_bytes, sum(d.kv_cache for d in devices),
                             sum(d.overhead for d in devices), sum(d.budget for d in devices))
    return Plan(
        model=model, variant=v, engine="llama.cpp", context=context, placement="pool", n_cpu_moe=0,
        memory=memory, speed=speed, advice=tuple(advice), kv_type=kv_type,
        pool=Pool(tuple(devices), tuple(w.machine for w in workers), _network_note(members)),
        cpu_extra_buffers=cpu_extra_buffers(host.hardware),
        gpu_vendor=host.hardware.gpu_vendor if any(
            d.machine == HOST and d.kind != "cpu" and d.layers for d in devices) else "",
    )


@dataclass(frozen=True)
class _Placed:
    devices: list[PoolDevice]
    kv_type: str
    placement: str = "pool"


def _choose(slots: list[_Slot], model: ModelSpec, candidates: list[Variant], ctx: int | None) -> Choice | None:
    """The shared search (`choose`), with f16 KV first, then each cheaper KV type."""
    for kv_type in model.kv_types:
        def place(v: Variant, c: int, kv_type: str = kv_type) -> _Placed | None:
            devices = _place(slots, model, v, c, kv_type)
            return None if devices is None else _Placed(devices, kv_type)

        found = choose(model, candidates, ctx, place)
        if found:
            return found
    return None


def _pool_short(slots: list[_Slot], model: ModelSpec, candidates: list[Variant], ctx: int | None) -> NothingFits:
    context = ctx or model.min_context
    smallest = min(candidates, key=lambda v: v.size_bytes)
    need = least_need(model, smallest, context, len(slots))
    budget = sum(s.budget for s in slots)
    short = need - budget
    machines = len({s.member.machine for s in slots})
    if short <= 0:  # enough bytes in all, but not in whole layers (or not where the runtime must go)
        return _whole_layers_short(slots, model, smallest, context, machines)
    ways = (
        f"add a worker with {short / GB + 1:.0f} GB or more to the pool: {_ADD_WORKER}",
        "use DeepSeek's hosted API for V4-Flash instead",
    )
    message = (f"nothing fits even pooled: {smallest.id} needs {need / GB:.1f} GB at {context // 1024}K "
               f"context and the {machines} machines' {len(slots)} devices can give it {budget / GB:.1f} GB "
               f"(short by {short / GB:.1f} GB)")
    return NothingFits(message, short, ways)


_ADD_WORKER = f"on it run `localv4 worker --host ADDR`, then `localv4 up --pool ...,ADDR:{DEFAULT_RPC_PORT}`"


def _whole_layers_short(slots: list[_Slot], model: ModelSpec, variant: Variant, context: int,
                        machines: int) -> NothingFits:
    """The verdict when the totals would do: which device falls short of a whole layer, by how much.

    Planned at the cheapest KV type, the best case. With room for every layer the one thing short
    is the host's first device, which must hold the runtime's fixed part."""
    kv_type = min(model.kv_types, key=lambda t: runtime_bytes(model, context, t))
    room = _room(slots, model, variant, context, kv_type)
    missing = max(0, model.layers - sum(room.capacity))
    more = [missing * room.per_layer - (s.budget - o - c * room.per_layer)
            for s, o, c in zip(slots, room.overhead, room.capacity)]
    candidates = range(len(slots)) if missing else [i for i, s in enumerate(slots) if s.first_on_host]
    best = min(candidates, key=lambda i: more[i])
    slot, gap = slots[best], math.ceil(more[best] / GB * 10) / 10  # rounded up: never "0.0 GB more"
    at = f"at {context // 1024}K context"
    if missing:
        message = (f"nothing fits even pooled: {variant.id} {at} comes in {model.layers} layers of "
                   f"{room.per_layer / GB:.1f} GB (weights and KV cache), and a layer is never split "
                   f"between devices: the {machines} machines' {len(slots)} devices have "
                   f"{sum(s.budget for s in slots) / GB:.1f} GB but room for {model.layers - missing} whole "
                   f"layers: {slot.name} needs {gap:.1f} GB more to take the {missing} left over")
    else:
        message = (f"nothing fits even pooled: {slot.name} must hold the engine's fixed part, "
                   f"{room.overhead[best] / GB:.1f} GB {at}, and can give {slot.budget / GB:.1f} GB")
    restart = "" if slot.member.machine == HOST else ", then restart `localv4 worker` there so it reports it"
    new_worker = missing * room.per_layer + device_overhead(model, context, kv_type, first=False)
    ways = (
        f"free {gap:.1f} GB more on {slot.name}{restart}",
        f"add a worker that can give {math.ceil(new_worker / GB)} GB or more: {_ADD_WORKER}" if missing
        else "make the machine with the most free memory the host (`localv4 up --pool` there)",
        "use DeepSeek's hosted API for V4-Flash instead",
    )
    return NothingFits(message, int(more[best]), ways)

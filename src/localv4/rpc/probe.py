"""The host's side of a pool: ask each worker what it is, check builds, tell which one is gone.

A worker's build and profile come from its info endpoint (`localv4 worker`, RPC port + 1); its
devices' free memory comes from RPC itself, read by this host's own llama-server
(`--rpc ... --list-devices`), so the planner sees what the engine will see. rpc-server serves one
client at a time: every question here is short and closes its connection.
"""

from __future__ import annotations

import re
import socket
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from localv4.errors import RuntimeFailure
from localv4.hardware.profile import Hardware
from localv4.planning.pool import Member, ReportedDevice
from localv4.rpc.worker import INFO_PATH

# Said where a pool is planned without a llama-server with RPC on this host.
NEEDS_BUILD = "serving a pool needs a llama-server with RPC on this host: `localv4 install llama.cpp` builds it"
ASK_TIMEOUT_S = 5.0
HEALTH_TIMEOUT_S = 0.7  # `status` answers within 2 s even when a worker's network is gone
_MIB = 1024 * 1024
# "  RPC0: 127.0.0.1:50052 (24105 MiB, 24105 MiB free)"
_DEVICE_LINE = re.compile(r"^\s*(?P<name>RPC\d+): (?P<desc>.+?) \((?P<total>\d+) MiB, (?P<free>\d+) MiB free\)")


@dataclass(frozen=True)
class WorkerHealth:
    endpoint: str
    ok: bool
    detail: str  # "answering", or what went wrong ("connection refused", "no answer in 0.7 s")

    def to_dict(self) -> dict:
        return {"endpoint": self.endpoint, "ok": self.ok, "detail": self.detail}


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def _info(endpoint: str, timeout: float) -> dict:
    import httpx

    host, port = split_endpoint(endpoint)
    url_host = f"[{host}]" if ":" in host else host
    reply = httpx.get(f"http://{url_host}:{port + 1}{INFO_PATH}", timeout=timeout)
    data = reply.json()
    if not isinstance(data, dict) or data.get("localv4_worker") != 1:
        raise ValueError("not a localv4 worker")
    return data


def _round_trip(endpoint: str) -> float:
    """Median TCP connect time to the worker's info port: one network round trip."""
    host, port = split_endpoint(endpoint)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        with socket.create_connection((host, port + 1), timeout=ASK_TIMEOUT_S):
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def ask(endpoint: str) -> Member:
    """The worker at `endpoint` as a pool member (build, profile, round trip); RuntimeFailure with
    the fix when no localv4 worker answers there."""
    host, port = split_endpoint(endpoint)
    try:
        data = _info(endpoint, ASK_TIMEOUT_S)
        hardware = Hardware.from_dict(data["hardware"])
        rtt = _round_trip(endpoint)
    except Exception as err:  # noqa: BLE001  (any failure to talk to it means the same to the user)
        raise RuntimeFailure(
            f"no localv4 worker answers at {endpoint} (info port {port + 1}: {_reason(err)}): run "
            f"`localv4 worker --host {host} --port {port}` on that machine, on a trusted network."
        ) from None
    if not data.get("alive"):
        raise RuntimeFailure(f"the worker at {endpoint} answers but its rpc-server is not running: restart "
                             "`localv4 worker` there.")
    return Member(endpoint, hardware, build=data.get("build"), rtt_s=rtt)


def _reason(err: Exception) -> str:
    text = str(err).strip() or type(err).__name__
    if "refused" in text.lower():
        return "connection refused"
    if "timed out" in text.lower() or "timeout" in type(err).__name__.lower():
        return "no answer"
    return text.splitlines()[0][:120]


def reported_devices(server_path: str, endpoints: tuple[str, ...]) -> dict[str, tuple[ReportedDevice, ...]]:
    """Each worker's devices and free memory as RPC reports them to this host's llama-server."""
    try:
        done = subprocess.run([server_path, "--rpc", ",".join(endpoints), "--list-devices"],
                              capture_output=True, text=True, errors="replace", timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RuntimeFailure(f"could not ask the workers for their devices: {err}") from None
    found: dict[str, list[ReportedDevice]] = {e: [] for e in endpoints}
    for line in (done.stdout + done.stderr).splitlines():
        match = _DEVICE_LINE.match(line)
        if not match:
            continue
        owner = next((e for e in endpoints if match["desc"].startswith(e)), None)
        if owner is not None:
            found[owner].append(ReportedDevice(match["name"], int(match["total"]) * _MIB, int(match["free"]) * _MIB))
    missing = [e for e, devices in found.items() if not devices]
    if missing:
        raise RuntimeFailure(f"llama-server got no devices from the worker at {missing[0]} over RPC: check "
                             "that `localv4 worker` runs there with the same build as this host.")
    return {e: tuple(d) for e, d in found.items()}


def check_builds(host_build: str, workers: list[Member]) -> None:
    """Refuse a pool whose workers run another llama.cpp build than the host (RPC needs the same)."""
    for w in workers:
        if w.build != host_build:
            raise RuntimeFailure(
                f"the worker at {w.machine} runs llama.cpp '{w.build}' but this host runs '{host_build}': "
                "RPC needs the same build on every machine; run `localv4 install llama.cpp` on both "
                "(the same localv4 version), then start `localv4 worker` again."
            )


def _ask_all(endpoints: tuple[str, ...]) -> list[Member]:
    with ThreadPoolExecutor(max_workers=min(8, len(endpoints))) as pool:
        return list(pool.map(ask, endpoints))


def members(endpoints: tuple[str, ...], server_path: str, host_build: str) -> list[Member]:
    """Every worker asked, their builds checked against the host's, their RPC devices read."""
    workers = _ask_all(endpoints)
    check_builds(host_build, workers)
    devices = reported_devices(server_path, endpoints)
    return [Member(w.machine, w.hardware, w.build, devices[w.machine], w.rtt_s) for w in workers]


def _health(endpoint: str) -> WorkerHealth:
    try:
        data = _info(endpoint, HEALTH_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001
        reason = _reason(err)
        detail = f"no answer in {HEALTH_TIMEOUT_S:g} s" if reason == "no answer" else reason
        return WorkerHealth(endpoint, False, detail)
    if not data.get("alive"):
        return WorkerHealth(endpoint, False, "its rpc-server has stopped")
    return WorkerHealth(endpoint, True, "answering")


def health(endpoints: tuple[str, ...]) -> tuple[WorkerHealth, ...]:
    """Every worker asked at once, each within HEALTH_TIMEOUT_S."""
    if not endpoints:
        return ()
    with ThreadPoolExecutor(max_workers=min(16, len(endpoints))) as pool:
        return tuple(pool.map(_health, endpoints))


def host_and_workers(endpoints: tuple[str, ...], host_hardware: Hardware,
                     need_build: bool = True) -> tuple[Member, list[Member]]:
    """This host and its workers as pool members, builds checked: what `plan --pool` and `up --pool` plan.

    Without a llama-server with RPC here, `need_build` False plans from the workers' own reports
    (their info endpoint) and this machine, the host's build None: `plan --pool` can show the split
    before anything is built, where `up --pool` needs the build to serve it."""
    from localv4.install.locate import find_llama_server

    binary = find_llama_server()
    if binary is None or not binary.supports("--rpc"):
        if not need_build:
            return Member("host", host_hardware), _ask_all(endpoints)
        raise RuntimeFailure(f"{NEEDS_BUILD}.")
    workers = members(endpoints, str(binary.path), binary.version)
    return Member("host", host_hardware, build=binary.version), workers
